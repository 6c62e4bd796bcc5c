/**
 * The daily commands: init, stat, tail and consumers (verify and repair have
 * files of their own).
 *
 * Two kinds, by what they need:
 *   lock-free  `stat`, `consumers list` and `tail` without `--consumer` read
 *              the engine directory beside a running application, taking
 *              no lock and writing nothing (cli/inspect.ts).
 *   locked     `init`, `tail --consumer` and the other `consumers` actions
 *              open the engine (cli/open-engine.ts), which takes its lock.
 *              While an application holds it, the consumer commands go
 *              through its socket (cli/engine-access.ts); where it
 *              serves none, they are EBUSY, naming the holder's pid and
 *              what to do instead, or with `--wait[=MS]` they wait. A
 *              directory that holds no engine is ENOENT for all but
 *              `init`, and is left as it was.
 * The store kind is the one the directory records; `--store` only asserts it.
 */
import { holdsEngine } from '../engine/engine-dir.js';
import { NodeIo } from '../journal/node-io.js';
import { maskNames } from '../engine/notify/masks.js';
import { responseName } from '../engine/permission/rules.js';
import type { StoreKind } from '../store/meta-store.js';
import { type Fid, handleText, type RecordView } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import type { EngineMetrics } from '../metrics.js';
import { prometheusText } from '../metrics.js';
import { type Inspection, inspect, unfinishedNote } from './inspect.js';
import { lfsLine } from '../interop/lfs.js';
import { withEngineAccess } from './engine-access.js';
import { withEngine } from './open-engine.js';

export interface CommonOptions {
  dir: string;
  store?: StoreKind;
  json?: boolean;
  /** For commands that take the lock: wait for it this long (ms; Infinity: until free) instead of EBUSY. */
  wait?: number;
  /** For commands that open an engine and have `--init`: make one where there is none (cli/open-engine.ts). */
  init?: boolean;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** JSON with bigints as decimal strings and bytes as hex; objects (record views too, through toJSON) nest as objects. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

export { whileBusy } from './open-engine.js';

/**
 * `fanlog init`: an engine directory, with the store asked for (lmdb by
 * default) and, with `changelogMask`, the events its changelog keeps
 * (durable: engine/changelog-mask.ts). On an engine that exists, only
 * `--changelog-mask` changes anything: the mask.
 */
export async function init(options: CommonOptions & { changelogMask?: bigint }): Promise<void> {
  const mask = options.changelogMask === undefined ? '' : `, changelog mask ${maskNames(options.changelogMask).join('|')}`;
  if (await holdsEngine(new NodeIo(), options.dir)) {
    if (options.changelogMask === undefined) {
      const view = await inspect(options.dir, options.store);
      return out(`${options.dir} already holds an engine (journal ${view.journal.journalId}, ${view.store} store): nothing done`);
    }
    return withEngine(options, async () => out(`${options.dir} already holds an engine: its changelog mask is now ${mask.slice(', changelog mask '.length)}`), {
      changelogMask: options.changelogMask,
    });
  }
  const engineOptions = options.changelogMask === undefined ? {} : { changelogMask: options.changelogMask };
  await withEngine(
    { ...options, init: true },
    async (engine) => out(`created an engine in ${options.dir}: journal ${engine.journal.journalId}, ${options.store ?? 'lmdb'} store${mask}`),
    engineOptions,
  );
}

/** The metrics a lock-free view can tell: what only the holding process knows is null. */
export function inspectionMetrics(view: Inspection): EngineMetrics {
  const { journal, stored } = view;
  return {
    seqs: { head: journal.headSeq, durable: view.durable.seq, checkpoint: stored?.checkpointSeq ?? null, oldestRetained: journal.firstSeq },
    journalBytes: journal.bytes,
    entriesPerSecond: null,
    fdatasyncMs: null,
    consumers: (stored?.consumers ?? []).map(({ name, cursor, lagRecords, lagSeconds, evicted }) => ({
      name,
      cursor,
      lagRecords,
      lagSeconds,
      idleMs: null,
      evicted: evicted !== null,
    })),
    groups: (stored?.groups ?? []).map(({ name, class: groupClass, evicted }) => ({
      name,
      class: groupClass,
      queued: null,
      pendingPermissions: null,
      timeouts: null,
      evicted,
    })),
  };
}

/** The durable seq in words: the seq, or unknown with what is known for sure (never 0 for unknown). */
function durableText(view: Inspection): string {
  const { durable, journal } = view;
  if (durable.seq !== null) return String(durable.seq);
  if (journal.damage !== null) return `${durable.atLeast} by the store, but the records after ${journal.headSeq} cannot be read (DAMAGED, below)`;
  const known = durable.atLeast > 0n ? `, at least ${durable.atLeast}` : '';
  return `unknown${known} (what the holder synced since its last store commit, only its engine.metrics() tells)`;
}

/**
 * Damage the view met: exit status 1, and the error on stderr where the
 * output is for a machine (--json, --prometheus).
 */
function reportDamage(view: Inspection, toStderr: boolean): void {
  const { damage } = view.journal;
  if (damage === null) return;
  process.exitCode = 1;
  if (toStderr) process.stderr.write(`fanlog: ${damage.message}\n`);
}

export async function stat(options: CommonOptions & { prometheus?: boolean }): Promise<void> {
  const view = await inspect(options.dir, options.store);
  const metrics = inspectionMetrics(view);
  reportDamage(view, options.prometheus === true || options.json === true);
  if (options.prometheus === true) return void process.stdout.write(prometheusText(metrics, options.dir));
  const { journal, stored } = view;
  if (options.json === true) {
    const { dir, store, lastHolderPid, note } = view;
    const damage = journal.damage;
    return out(
      toJson({
        dir,
        store,
        lockFree: true,
        lastHolderPid,
        note,
        journalId: journal.journalId,
        segments: journal.segments,
        metrics,
        durableAtLeast: view.durable.atLeast,
        damage,
        unfinished: journal.unfinished,
        filters: stored?.consumers.map(({ name, filter }) => ({ name, filter })) ?? null,
        changelogMask: stored === null ? null : stored.changelogMask === 'all' ? 'all' : maskNames(stored.changelogMask).join('|'),
      }),
    );
  }
  const unknown = (value: bigint | null): string => (value === null ? 'unknown (see below)' : String(value));
  out(`journal      ${journal.journalId} in ${journal.dir}`);
  out(`records      oldest retained ${journal.firstSeq}, head ${journal.headSeq} (written), durable ${durableText(view)}`);
  out(`segments     ${journal.segments}, ${journal.bytes.toLocaleString('en-US')} bytes on disk`);
  out(
    `checkpoint   ${stored === null ? unknown(null) : stored.checkpointSeq === 0n ? 'none yet (an open replays the journal from its oldest record)' : `seq ${stored.checkpointSeq}`}`,
  );
  out(
    `changelog    ${stored === null ? unknown(null) : stored.changelogMask === 'all' ? 'every event' : `only ${maskNames(stored.changelogMask).join('|') || 'no event'}`}`,
  );
  for (const c of stored?.consumers ?? []) {
    const evicted = c.evicted === null ? '' : `, EVICTED (lost ${c.evicted.fromSeq}..${c.evicted.toSeq})`;
    const filter = c.filter === null ? '' : `, filter ${c.filter.name} ${c.filter.argument}`;
    const behind = c.lagSeconds === null ? 'unknown' : c.lagSeconds.toFixed(1);
    out(`consumer     ${c.name}: cursor ${c.cursor}, lag ${c.lagRecords} records (${behind} s)${evicted}${filter}`);
  }
  for (const g of stored?.groups ?? []) out(`group        ${g.name} (${g.class}): ${g.marks} marks${g.evicted ? ', EVICTED' : ''}`);
  out(
    `view         lock-free, beside any application that holds the engine${view.lastHolderPid === null ? '' : ` (last holder: process ${view.lastHolderPid})`}; queues, pending permission events, rates and fdatasync latency are in that process's engine.metrics()`,
  );
  if (view.note !== null) out(`note         ${view.note}`);
  if (journal.unfinished !== null) out(`note         ${unfinishedNote(journal.unfinished)}`);
  if (journal.damage !== null) out(`DAMAGED      ${journal.damage.message.replace(/^ECORRUPT: /, '')}; fanlog verify checks every segment`);
}

const TYPE_NAMES: Record<string, string> = {
  event: 'EVENT',
  request: 'PERMREQ',
  decision: 'DECISION',
  evicted: 'EVICTED',
  config: 'CONFIG',
  note: 'NOTE',
  outcome: 'OUTCOME',
};
const fid = (value: Fid | undefined): string => (value === undefined ? '' : `[0x${value.ino.toString(16)}:0x${value.gen.toString(16)}]`);

/**
 * `text` with each control character (C0 and DEL) as `\xNN` and each
 * backslash doubled: a file name may hold a newline, and must not make a
 * line of its own (or forge one) in a changelog read line by line.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** One line in the style of `lfs changelog`: seq, type, time, date, mask, target, parent, name, path, and what else applies. */
export function changelogLine(seq: bigint, record: RecordView): string {
  const date = new Date(Number(record.time / 1_000_000n));
  const nanos = (record.time % 1_000_000_000n).toString().padStart(9, '0');
  const clock = `${date.toISOString().slice(11, 19)}.${nanos}`;
  const day = date.toISOString().slice(0, 10).replaceAll('-', '.');
  const kindName = TYPE_NAMES[record.kind] ?? record.kind;
  const type =
    record.kind === 'event'
      ? maskNames(record.mask ?? 0n).join('|')
      : record.kind === 'note' || record.kind === 'outcome'
        ? `${kindName}:${record.op}`
        : kindName;
  const parts = [String(seq), type, clock, day, `0x${(record.mask ?? 0n).toString(16)}`];
  // The filesystem's own handle where there is one: a kernel request's fid beside it is its inode alone.
  if (record.handle !== undefined) parts.push(`t=[${handleText(record.handle)}]`);
  else if (record.fid !== undefined) parts.push(`t=${fid(record.fid)}`);
  if (record.parentHandle !== undefined) parts.push(`p=[${handleText(record.parentHandle)}]`);
  else if (record.parentFid !== undefined) parts.push(`p=${fid(record.parentFid)}`);
  if (record.name !== undefined) parts.push(printable(record.name));
  if (record.oldPath !== undefined) parts.push(`s=${printable(record.oldPath)}`);
  if (record.path !== undefined) parts.push(printable(record.path));
  if (record.range !== undefined) parts.push(`r=${record.range.offset}+${record.range.count}`);
  if (record.group !== undefined) parts.push(`group=${record.group}`);
  const requestSeq = record.requestSeq ?? record.operationSeq;
  if (requestSeq !== undefined) parts.push(`req=${requestSeq}`);
  if (record.response !== undefined) parts.push(`response=${responseName(record.response)}${record.timeout === true ? ' (timeout)' : ''}`);
  if (record.consumer !== undefined) parts.push(`consumer=${record.consumer} lost=${record.fromSeq}..${record.toSeq}`);
  if (record.reason !== undefined) parts.push(`reason=${printable(record.reason)}`);
  if (record.source !== undefined) parts.push(`source=${record.source}`);
  return parts.join(' ');
}

/** How tail prints a record: fanlog's line, JSON, or `lfs changelog`'s line (a record Lustre has no type for prints nothing). */
export type TailFormat = 'text' | 'json' | 'lfs';

export const formatOf = (options: { json?: boolean; format?: TailFormat }): TailFormat => (options.json === true ? 'json' : (options.format ?? 'text'));

export function printer(format: TailFormat): (seq: bigint, record: RecordView) => void {
  if (format === 'json') return (seq, record) => out(toJson('toJSON' in record ? record : { seq, ...record }));
  if (format === 'lfs') {
    return (seq, record) => {
      const line = lfsLine(seq, record);
      if (line !== null) out(line);
    };
  }
  return (seq, record) => out(changelogLine(seq, record));
}

export interface ConsumersCommand extends CommonOptions {
  action: string;
  name?: string;
  seq?: bigint;
  from?: 'oldest' | 'next';
  mask?: bigint;
  lagRecordsMax?: number;
  idleMsMax?: number;
  filter?: { name: string; argument: string };
  /** For ack: acknowledge through the durable head. */
  head?: boolean;
}

export async function consumersCommand(options: ConsumersCommand): Promise<void> {
  if (options.action === 'list') return listConsumers(options);
  await withEngineAccess(options, async (access) => {
    const name = options.name!;
    switch (options.action) {
      case 'register': {
        const { mask, lagRecordsMax, idleMsMax } = options;
        const registered = {
          from: options.from ?? 'oldest',
          ...(mask === undefined ? {} : { mask }),
          ...(lagRecordsMax === undefined ? {} : { lagRecordsMax }),
          ...(idleMsMax === undefined ? {} : { idleMsMax }),
        };
        const info = await access.register(name, registered, options.filter);
        const filter = options.filter === undefined ? '' : `, filter ${options.filter.name} ${options.filter.argument}`;
        return out(`registered ${name} at cursor ${info.cursor}${filter}`);
      }
      case 'deregister':
        await access.deregister(name);
        return out(`deregistered ${name}`);
      case 'ack': {
        // --head: everything durable now, as Lustre's `changelog_clear MDT ID 0`.
        const { seq, before } = await access.ack(name, options.head === true ? 'head' : options.seq!);
        if (seq <= before) return out(`${name}'s cursor stays at ${before}: ${seq} is not beyond it (an acknowledgement never moves a cursor back)`);
        return out(`${name} acknowledged through ${seq}${options.head === true ? ' (the durable head)' : ''}`);
      }
      default:
        throw new FanlogError('EINVAL', `unknown consumers action '${options.action}'`);
    }
  });
}

/** `consumers list`, lock-free: from the store where it can be read beside its holder (lmdb). */
async function listConsumers(options: CommonOptions): Promise<void> {
  const view = await inspect(options.dir, options.store);
  const consumers = view.stored?.consumers ?? null;
  // The lags are counted to the head, which damage may have cut short: said, exit 1.
  reportDamage(view, true);
  if (options.json === true) return out(toJson({ consumers, note: view.note }));
  for (const c of consumers ?? []) {
    out(`${c.name}\tcursor ${c.cursor}\tlag ${c.lagRecords}${c.evicted === null ? '' : `\tEVICTED (lost ${c.evicted.fromSeq}..${c.evicted.toSeq})`}`);
  }
  if (view.note !== null) out(`note: ${view.note}`);
}
