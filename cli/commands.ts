/**
 * The daily commands: stat, tail and consumers (verify and repair have
 * files of their own). Each opens the engine directory (exclusively: EBUSY
 * while an application has it open). The store kind is the one the directory
 * records; `--store` only asserts it. Inspection (stat, tail, consumers
 * list) opens the engine read-only: it creates, repairs, checkpoints and
 * purges nothing, and a directory that holds no engine is ENOENT.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeRecord } from '../engine/record/codec.js';
import { Engine } from '../fanlog.js';
import { MARKER_NAME } from '../engine/engine-dir.js';
import { maskNames } from '../engine/notify/masks.js';
import type { StoreKind } from '../store/meta-store.js';
import type { Fid, RecordView } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import { JournalFollower } from '../journal/follower.js';
import { NodeIo } from '../journal/node-io.js';

export interface CommonOptions {
  dir: string;
  store?: StoreKind;
  json?: boolean;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** JSON with bigints as decimal strings and bytes as hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

async function withEngine<T>(options: CommonOptions, mode: 'read' | 'write', use: (engine: Engine) => Promise<T>): Promise<T> {
  const store = options.store === undefined ? {} : { store: options.store };
  // The commands work on an engine; they never create one by mistake (a read-only open refuses to by itself).
  if (mode === 'write' && !isEngineDirectory(options.dir)) throw new FanlogError('ENOENT', `no fanlog engine in ${options.dir}`);
  const engine = await Engine.open(options.dir, { ...store, readOnly: mode === 'read' });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

/** An engine's marker, or (an engine made before markers) a journal segment. */
function isEngineDirectory(dir: string): boolean {
  if (existsSync(path.join(dir, MARKER_NAME))) return true;
  const journalDir = path.join(dir, 'journal');
  return existsSync(journalDir) && readdirSync(journalDir).some((name) => name.endsWith('.seg'));
}

export async function stat(options: CommonOptions): Promise<void> {
  await withEngine(options, 'read', async (engine) => {
    const journalDir = path.join(options.dir, 'journal');
    const segments = readdirSync(journalDir).filter((name) => name.endsWith('.seg'));
    const bytes = segments.reduce((total, name) => total + statSync(path.join(journalDir, name)).size, 0);
    const report = {
      journalId: engine.journal.journalId,
      firstSeq: engine.journal.firstSeq,
      headSeq: engine.journal.headSeq,
      durableSeq: engine.journal.durableSeq,
      segments: segments.length,
      bytes,
      checkpointSeq: engine.recovery.checkpointSeq,
      consumers: engine.consumers.list().map(({ name, cursor, lagRecords, filter, evicted }) => ({ name, cursor, lagRecords, filter, evicted })),
      groups: engine.groups.list().map(({ name, class: groupClass, marks, pendingPermissions }) => ({ name, class: groupClass, marks: marks.length, pendingPermissions })),
    };
    if (options.json === true) return out(toJson(report));
    out(`journal      ${report.journalId.toString(16)} in ${journalDir}`);
    out(`records      first ${report.firstSeq}, head ${report.headSeq}, durable ${report.durableSeq}`);
    out(`segments     ${report.segments}, ${bytes.toLocaleString('en-US')} bytes`);
    out(`checkpoint   seq ${report.checkpointSeq}`);
    for (const c of report.consumers) out(`consumer     ${c.name}: cursor ${c.cursor}, lag ${c.lagRecords}${c.evicted === null ? '' : ', EVICTED'}${c.filter === null ? '' : `, filter ${c.filter.name} ${c.filter.argument}`}`);
    for (const g of report.groups) out(`group        ${g.name} (${g.class}): ${g.marks} marks, ${g.pendingPermissions} permission events pending`);
  });
}

const TYPE_NAMES: Record<string, string> = { event: 'EVENT', request: 'PERMREQ', decision: 'DECISION', evicted: 'EVICTED', config: 'CONFIG' };
const fid = (value: Fid | undefined): string => (value === undefined ? '' : `[0x${value.ino.toString(16)}:0x${value.gen.toString(16)}]`);

/** One line in the style of `lfs changelog`: seq, type, time, date, mask, target, parent, name, and what else applies. */
export function changelogLine(seq: bigint, record: RecordView): string {
  const date = new Date(Number(record.time / 1_000_000n));
  const nanos = (record.time % 1_000_000_000n).toString().padStart(9, '0');
  const clock = `${date.toISOString().slice(11, 19)}.${nanos}`;
  const day = date.toISOString().slice(0, 10).replaceAll('-', '.');
  const type = record.kind === 'event' ? maskNames(record.mask ?? 0n).join('|') : TYPE_NAMES[record.kind] ?? record.kind;
  const parts = [String(seq), type, clock, day, `0x${(record.mask ?? 0n).toString(16)}`];
  if (record.fid !== undefined) parts.push(`t=${fid(record.fid)}`);
  if (record.parentFid !== undefined) parts.push(`p=${fid(record.parentFid)}`);
  if (record.name !== undefined) parts.push(record.name);
  if (record.oldPath !== undefined) parts.push(`s=${record.oldPath}`);
  if (record.path !== undefined && record.kind !== 'event') parts.push(record.path);
  if (record.range !== undefined) parts.push(`r=${record.range.offset}+${record.range.count}`);
  if (record.group !== undefined) parts.push(`group=${record.group}`);
  const requestSeq = record.requestSeq ?? record.operationSeq;
  if (requestSeq !== undefined) parts.push(`req=${requestSeq}`);
  if (record.response !== undefined) parts.push(`response=0x${record.response.toString(16)}${record.timeout === true ? ' (timeout)' : ''}`);
  if (record.consumer !== undefined) parts.push(`consumer=${record.consumer} lost=${record.fromSeq}..${record.toSeq}`);
  return parts.join(' ');
}

export async function tail(options: CommonOptions & { from?: bigint; consumer?: string; ack?: boolean }): Promise<void> {
  await withEngine(options, options.ack === true ? 'write' : 'read', async (engine) => {
    const print = (seq: bigint, record: RecordView): void => out(options.json === true ? toJson({ seq, ...record }) : changelogLine(seq, record));
    if (options.consumer !== undefined) {
      const consumer = engine.consumers.get(options.consumer);
      for (let batch = await consumer.read({ max: 1000 }); batch.length > 0; batch = await consumer.read({ max: 1000 })) {
        for (const record of batch) print(record.seq, record);
        if (options.ack === true) await consumer.ack(batch[batch.length - 1]!.seq);
      }
      return;
    }
    for await (const { seq, payload } of engine.journal.read({ from: options.from ?? engine.journal.firstSeq })) {
      const record = decodeRecord(payload);
      if (record.kind !== 'op') print(seq, record);
    }
  });
}

/** How often `tail --follow` looks for new records. */
const FOLLOW_POLL_MS = 200;

/**
 * `tail --follow`: prints the changelog and then new records as they are
 * written, until SIGINT or SIGTERM. It reads the segment files without the
 * engine's lock (JournalFollower), so it works while an application has the
 * engine open; it shows what was written, which a crash may still cut.
 */
export async function follow(options: { dir: string; from?: bigint; json?: boolean }): Promise<void> {
  const journalDir = path.join(options.dir, 'journal');
  if (!existsSync(journalDir)) throw new FanlogError('ENOENT', `no fanlog engine in ${options.dir}`);
  const follower = new JournalFollower(new NodeIo(), journalDir, options.from);
  let stopping = false;
  let wake: () => void = () => undefined;
  const stop = (): void => {
    stopping = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopping) {
    for (const { seq, payload } of await follower.poll()) {
      const record = decodeRecord(payload);
      if (record.kind !== 'op') out(options.json === true ? toJson({ seq, ...record }) : changelogLine(seq, record));
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FOLLOW_POLL_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export async function consumersCommand(options: CommonOptions & { action: string; name?: string; seq?: bigint; from?: 'oldest' | 'next' }): Promise<void> {
  await withEngine(options, options.action === 'list' ? 'read' : 'write', async (engine) => {
    switch (options.action) {
      case 'list': {
        const list = engine.consumers.list();
        if (options.json === true) return out(toJson(list));
        for (const c of list) out(`${c.name}\tcursor ${c.cursor}\tlag ${c.lagRecords}${c.evicted === null ? '' : `\tEVICTED (lost ${c.evicted.fromSeq}..${c.evicted.toSeq})`}`);
        return;
      }
      case 'register':
        await engine.consumers.register(options.name!, { from: options.from ?? 'oldest' });
        return out(`registered ${options.name} at cursor ${engine.consumers.get(options.name!).cursor}`);
      case 'deregister':
        await engine.consumers.deregister(options.name!);
        return out(`deregistered ${options.name}`);
      case 'ack':
        await engine.consumers.get(options.name!).ack(options.seq!);
        return out(`${options.name} acknowledged through ${options.seq}`);
      default:
        throw new FanlogError('EINVAL', `unknown consumers action '${options.action}'`);
    }
  });
}
