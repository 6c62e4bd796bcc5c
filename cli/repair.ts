/**
 * `fanlog repair --rebuild-store`: rebuilds a damaged MetaStore from the
 * journal, with the engine's lock held (EBUSY while an application has the
 * engine open).
 *
 * The filesystem is rebuilt from the old store's checkpoint when it and
 * every inode are sound and the journal holds what it needs, else from
 * empty when the journal still holds every record from seq 1; otherwise
 * nothing can rebuild it, and the command fails with ECORRUPT, changing
 * nothing. Groups and consumers are not in the journal: those whose values
 * are sound are kept as they were, the others are lost and named in the
 * report (register them again; a consumer that is lost no longer holds the
 * journal back).
 *
 * The new store is written beside the old (`meta-<kind>-rebuild`), with a
 * checkpoint at the journal's head that needs the journal from its oldest
 * unfinished permission request, so that recovery still resumes those
 * operations. Only once it is durable are the directories swapped: the old
 * store is kept as `meta-<kind>.damaged-<time>`, for inspection, and the
 * marker is rewritten. A crash part-way leaves the old store in place.
 *
 * A store that is there and sound (its check, store-check.ts, finds no
 * damage) is left as it is: nothing is rebuilt, renamed or written, and the
 * command says so.
 *
 * Reading a damaged store can crash the reader (LMDB asserts on some damage
 * to its B-tree pages, and aborts the process), so the rebuild that salvages
 * from the old store runs in a child process (`repair-worker`); if that
 * child dies, the store is rebuilt here from the journal alone, without
 * touching the old store, and the report says that nothing was salvaged.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { captureCheckpoint, checkpointBound, emptyLayout, type LoadedCheckpoint, loadCheckpoint } from '../engine/checkpoint.js';
import { holdsEngine, readMarker, writeMarker } from '../engine/engine-dir.js';
import { highWaterOp } from '../engine/fail-stop-store.js';
import { FsState } from '../engine/model/fs-state.js';
import { CHANGELOG_MASK_KEY, CONSUMER_CATALOG_KEY, CONSUMER_PREFIX, GROUP_CATALOG_KEY, GROUP_PREFIX } from '../store/keys.js';
import { oldestUnfinishedRequest, replayJournal } from '../engine/replay.js';
import { FanlogError, type FanlogErrorCode, reason } from '../errors.js';
import { Journal } from '../journal/journal.js';
import { NodeIo } from '../journal/node-io.js';
import { catalogOp } from '../store/catalog.js';
import { checkLmdbStore } from '../store/lmdb-check.js';
import { type MetaOp, metaStoreDir, openBackend, openMetaStore, SealedStore, STORE_KINDS, type StoreKind } from '../store/meta-store.js';
import { toJson, whileBusy } from './commands.js';
import { checkStore, type StoreCheck } from './store-check.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export interface RepairReport {
  store: StoreKind;
  /** Where the filesystem was rebuilt from. */
  rebuiltFrom: 'checkpoint' | 'empty';
  checkpointSeq: bigint;
  headSeq: bigint;
  replayedRecords: number;
  groupsKept: string[];
  consumersKept: string[];
  /** Keys of the old store that were damaged or could not be kept, with why. */
  lost: { key: string; what: string }[];
  /** Where the old store was moved; null when there was none (it was missing). */
  oldStore: string | null;
}

/** What a repair of a sound store reports: nothing was changed. */
export interface SoundStoreReport {
  store: StoreKind;
  sound: true;
  keys: number;
}

export async function repair(options: { dir: string; rebuildStore?: boolean; store?: StoreKind; json?: boolean; wait?: number }): Promise<void> {
  if (options.rebuildStore !== true) throw new FanlogError('EINVAL', 'say what to repair: --rebuild-store');
  const io = new NodeIo();
  const { dir } = options;
  if (!(await holdsEngine(io, dir))) throw new FanlogError('ENOENT', `no fanlog engine in ${dir}`, { file: dir });
  const lock = await whileBusy(options, () =>
    io.lock(dir).catch((error: unknown) => {
      if ((error as { code?: string }).code === 'EBUSY')
        throw new FanlogError('EBUSY', `engine ${dir} is open elsewhere (${reason(error)}): repair needs it closed`);
      throw error;
    }),
  );
  try {
    let kind = options.store;
    try {
      const marked = await readMarker(io, dir);
      if (marked !== null && kind !== undefined && marked !== kind) throw new FanlogError('EINVAL', `${dir} records a '${marked}' store, not '${kind}'`);
      kind ??= marked ?? STORE_KINDS.find((candidate) => existsSync(metaStoreDir(dir, candidate)));
    } catch (error) {
      if (kind === undefined)
        throw new FanlogError('ECORRUPT', `the marker of ${dir} is damaged (${(error as Error).message}); say which store the engine uses with --store`, {
          cause: error,
        });
    }
    if (kind === undefined) throw new FanlogError('ENOENT', `${dir} holds no store to rebuild; pass --store`);
    const built = await rebuildInChild(dir, kind);
    if (built !== null && 'sound' in built) {
      if (options.json === true) return out(toJson(built));
      return out(`the ${kind} store of ${dir} is sound (${built.keys} keys): nothing to rebuild, nothing changed`);
    }
    const rebuilt = built ?? (await rebuild(io, dir, kind, { salvage: false }));
    if ('sound' in rebuilt) assert.fail('a rebuild without salvage never reads the old store');
    const report: RepairReport = { ...rebuilt, oldStore: await swapIn(io, dir, kind) };
    if (built === null) report.lost.unshift({ key: metaStoreDir(dir, kind), what: 'reading the old store crashed its reader: nothing was salvaged from it' });
    await writeMarker(io, dir, kind);
    if (options.json === true) return out(toJson(report));
    out(
      `rebuilt the ${kind} store of ${dir} from ${report.rebuiltFrom === 'checkpoint' ? `its checkpoint at seq ${report.checkpointSeq}` : 'an empty filesystem'} and ${report.replayedRecords} journal records, through seq ${report.headSeq}`,
    );
    out(
      `kept ${report.groupsKept.length} groups (${report.groupsKept.join(', ') || 'none'}) and ${report.consumersKept.length} consumers (${report.consumersKept.join(', ') || 'none'})`,
    );
    for (const { key, what } of report.lost) out(`lost: ${key}: ${what}`);
    out(report.oldStore === null ? 'there was no old store to keep' : `the old store is kept in ${report.oldStore}`);
  } finally {
    await lock.release();
  }
}

/** Runs the salvaging rebuild in a child process; its report, or null when the child died (by a signal). */
async function rebuildInChild(dir: string, kind: StoreKind): Promise<Omit<RepairReport, 'oldStore'> | SoundStoreReport | null> {
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const child = spawnSync(process.execPath, [cli, 'repair-worker', '--dir', dir, '--store', kind], { encoding: 'utf8', timeout: 600_000 });
  if (child.signal !== null) return null;
  if (child.status !== 0) {
    const line = child.stderr.trim().split('\n').pop() ?? '';
    const match = /^fanlog: ([A-Z0-9]+): (.*)$/.exec(line);
    throw new FanlogError((match?.[1] ?? 'EIO') as FanlogErrorCode, match?.[2] ?? `the repair worker failed: ${child.stderr.trim()}`);
  }
  const report = JSON.parse(child.stdout) as (Omit<RepairReport, 'oldStore'> & { checkpointSeq: string; headSeq: string }) | SoundStoreReport;
  if ('sound' in report) return report;
  return { ...report, checkpointSeq: BigInt(report.checkpointSeq), headSeq: BigInt(report.headSeq) };
}

/** `fanlog repair-worker`: the salvaging rebuild, in the child; prints its report as JSON. */
export async function repairWorker(options: { dir: string; store: StoreKind }): Promise<void> {
  out(toJson(await rebuild(new NodeIo(), options.dir, options.store, { salvage: true })));
}

/** Swaps the rebuilt store in, durably; resolves with where the old one was kept (null: there was none). */
async function swapIn(io: NodeIo, dir: string, kind: StoreKind): Promise<string | null> {
  const storeDir = metaStoreDir(dir, kind);
  const kept = existsSync(storeDir) ? `${storeDir}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}` : null;
  if (kept !== null) renameSync(storeDir, kept);
  renameSync(`${storeDir}-rebuild`, storeDir);
  await io.syncDir(dir);
  return kept;
}

/** Rebuilds the store into `meta-<kind>-rebuild` (see the header); with `salvage`, from what the old store holds soundly. */
async function rebuild(
  io: NodeIo,
  dir: string,
  kind: StoreKind,
  { salvage }: { salvage: boolean },
): Promise<Omit<RepairReport, 'oldStore'> | SoundStoreReport> {
  const journal = await Journal.open(path.join(dir, 'journal'), { io });
  try {
    const storeDir = metaStoreDir(dir, kind);
    const salvaged = await openForSalvage(io, dir, kind, journal, salvage);
    let old = salvaged.old;
    const { check, lost } = salvaged;
    try {
      // A sound store is left as it is (see the header).
      if (check !== null && lost.length === 0) return { store: kind, sound: true, keys: check.keys };
      const { checkpoint, rebuiltFrom } = await startingCheckpoint(old, check, journal, storeDir);
      const checkpointSeq = checkpoint.seq;
      const replayed = await replayJournal(journal, checkpoint);
      const { ops, groups, consumers } = rebuiltOps(journal, checkpoint.state, oldestUnfinishedRequest(replayed), check);
      await writeStore(io, kind, `${storeDir}-rebuild`, ops);
      await old?.close();
      old = null;
      return {
        store: kind,
        rebuiltFrom,
        checkpointSeq,
        headSeq: journal.headSeq,
        replayedRecords: replayed.replayedRecords,
        groupsKept: groups,
        consumersKept: consumers,
        lost,
      };
    } finally {
      await old?.close();
    }
  } finally {
    await journal.close();
  }
}

/**
 * With `salvage`, opens the old store and checks it: what is damaged is
 * lost, and a store that cannot be opened or checked is lost whole. The
 * store is returned open even when its check failed: the caller closes it.
 */
async function openForSalvage(
  io: NodeIo,
  dir: string,
  kind: StoreKind,
  journal: Journal,
  salvage: boolean,
): Promise<{ old: SealedStore | null; check: StoreCheck | null; lost: { key: string; what: string }[] }> {
  const storeDir = metaStoreDir(dir, kind);
  let old: SealedStore | null = null;
  let check: StoreCheck | null = null;
  const lost: { key: string; what: string }[] = [];
  try {
    if (salvage && existsSync(storeDir)) {
      old = await openMetaStore(kind, dir, io, { readOnly: kind !== 'level' });
      check = await checkStore(old, { dir: journal.dir, journalId: journal.journalId, firstSeq: journal.firstSeq, headSeq: journal.headSeq });
      for (const found of check.damage) lost.push({ key: found.key ?? storeDir, what: found.what });
      // Read here from its file; the engine's open also checks every page LMDB may reach, which a sound store passes too.
      if (kind === 'lmdb') checkLmdbStore(path.join(storeDir, 'data.mdb'));
    }
  } catch (error) {
    lost.push({ key: storeDir, what: `the store cannot be opened: ${(error as Error).message}` });
  }
  return { old, check, lost };
}

/** The old store's checkpoint when it is sound, else the empty filesystem, which needs the journal from seq 1 (ECORRUPT otherwise). */
async function startingCheckpoint(
  old: SealedStore | null,
  check: StoreCheck | null,
  journal: Journal,
  storeDir: string,
): Promise<{ checkpoint: LoadedCheckpoint; rebuiltFrom: RepairReport['rebuiltFrom'] }> {
  let checkpoint: LoadedCheckpoint | null = null;
  if (old !== null && check?.checkpointSound === true) checkpoint = await loadCheckpoint(old, journal, 0n).catch(() => null);
  if (checkpoint !== null) return { checkpoint, rebuiltFrom: 'checkpoint' };
  if (journal.firstSeq > 1n) {
    throw new FanlogError(
      'ECORRUPT',
      `cannot rebuild ${storeDir}: its checkpoint is not sound and the journal starts at ${journal.firstSeq}, not 1, so the filesystem cannot be replayed from empty`,
      { file: storeDir },
    );
  }
  return { checkpoint: { state: new FsState(0n), layout: emptyLayout(), ...checkpointBound(0n, undefined) }, rebuiltFrom: 'empty' };
}

/** The new store's writes: a checkpoint of `state` at the journal's head, and the groups and consumers whose values are sound. */
function rebuiltOps(
  journal: Journal,
  state: FsState,
  pendingFromSeq: bigint | undefined,
  check: StoreCheck | null,
): { ops: MetaOp[]; groups: string[]; consumers: string[] } {
  for (const ino of state.inodes.keys()) state.dirty.add(ino);
  const ops: MetaOp[] = captureCheckpoint(state, journal.headSeq, journal.journalId, pendingFromSeq, emptyLayout());
  const groups = [...(check?.groups ?? new Map<string, Uint8Array>())];
  const consumers = [...(check?.consumers ?? new Map<string, { payload: Uint8Array }>())];
  for (const [name, payload] of groups) ops.push({ type: 'put', key: GROUP_PREFIX + name, value: payload });
  for (const [name, { payload }] of consumers) ops.push({ type: 'put', key: CONSUMER_PREFIX + name, value: payload });
  const groupNames = groups.map(([name]) => name);
  const consumerNames = consumers.map(([name]) => name);
  ops.push(catalogOp(GROUP_CATALOG_KEY, groupNames), catalogOp(CONSUMER_CATALOG_KEY, consumerNames), highWaterOp(journal));
  // The changelog mask is configuration, not in the journal: kept when its value is sound.
  if (check?.changelogMask !== null && check?.changelogMask !== undefined) ops.push({ type: 'put', key: CHANGELOG_MASK_KEY, value: check.changelogMask });
  return { ops, groups: groupNames, consumers: consumerNames };
}

/** Writes `ops` into a new store at `rebuilt`, replacing what an earlier attempt left there. */
async function writeStore(io: NodeIo, kind: StoreKind, rebuilt: string, ops: MetaOp[]): Promise<void> {
  rmSync(rebuilt, { recursive: true, force: true });
  const fresh = new SealedStore(await openBackend(kind, rebuilt, io), `${kind} store ${rebuilt}`);
  try {
    await fresh.commit(ops);
  } finally {
    await fresh.close();
  }
}
