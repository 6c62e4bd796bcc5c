/**
 * Opening an engine directory, up to the state the engine is built from:
 * the options checked, the directory locked and its marker read (or
 * written), the journal recovered, the store opened and its high-water
 * mark checked, the latest checkpoint loaded and the journal after it
 * replayed. EngineCore.openCore builds the engine from what this returns
 * (`openEngine`), then loads groups and readers and resurrects permission
 * requests.
 *
 * A read-only open reads the marker before anything else, and for an lmdb
 * store locks nothing: it reads the store whole, from its file, and only
 * then recovers the journal, beside any holder; an attempt the holder
 * overtook (a purge after the store was read) is made again, EAGAIN after
 * a bound. A read-only open of a level or files store takes the lock, and
 * is EBUSY beside a holder, saying why. open-beside.ts says why each.
 */
import path from 'node:path';
import { FanlogError, asFanlogError, invalid, reason } from '../errors.js';
import { checkHostPath, type Io, type IoLock } from '../journal/io.js';
import { Journal, type SyncPolicy } from '../journal/journal.js';
import { NodeIo } from '../journal/node-io.js';
import { HIGH_WATER_KEY } from '../store/keys.js';
import { metaStoreDir, openMetaStore, SealedStore, STORE_KINDS, type StoreKind } from '../store/meta-store.js';
import { type CheckpointBound, type CheckpointLayout, loadCheckpoint } from './checkpoint.js';
import { type EngineDirectory, inspectDirectory, writeMarker } from './engine-dir.js';
import { resolveChangelogMask } from './changelog-mask.js';
import { checkHighWater } from './fail-stop-store.js';
import { busyBeside, type HolderMoved, retryOvertaken } from './open-beside.js';
import type { FsState } from './model/fs-state.js';
import type { Mask } from './notify/masks.js';
import { type Replayed, replayJournal } from './replay.js';
import { checkBigint, checkBoolean, checkInteger, checkOneOf } from '../validate.js';

/** What `openCore` hands the composition's constructor. */
export interface EngineParts {
  dir: string;
  journal: Journal;
  store: SealedStore;
  lock: IoLock | null;
  state: FsState;
  clock: () => bigint;
  changelogMask: Mask;
  checkpointEveryRecords: number;
  recovery: EngineRecovery;
  /** The loaded checkpoint: its bound, and where its inodes are stored. */
  checkpoint: CheckpointBound & { layout: CheckpointLayout };
  readOnly: boolean;
  storeKind: StoreKind;
}

/** The engine's own options (fanlog.ts adds the consumers' defaults). */
export interface EngineCoreOptions {
  /** MetaStore backend; default the one the directory records, or 'lmdb' for a new engine. */
  store?: StoreKind;
  /** Journal sync policy; default 'always'. */
  sync?: SyncPolicy;
  io?: Io;
  /** Nanosecond clock; default the wall clock, never going backwards. */
  clock?: () => bigint;
  /** Which events the changelog records, durably from then on (engine/changelog-mask.ts); default the one stored, or every event. */
  changelogMask?: Mask;
  /** A checkpoint is taken after this many journal records; default 100,000. */
  checkpointEveryRecords?: number;
  /** Passed to the journal; default 64 MiB. */
  segmentBytesMax?: number;
  /** Open an existing engine for inspection only: see the header. Default false. */
  readOnly?: boolean;
}

export interface EngineRecovery {
  /** The seq the loaded checkpoint covered (0n: none). */
  checkpointSeq: bigint;
  /** Records replayed after it. */
  replayedRecords: number;
  /** Permission requests found without a decision and queued again (read only: found, not queued). */
  resurrectedRequests: number;
  /** The journal's head when recovery ended (operations it resumed append after it). */
  headSeq: bigint;
  ms: number;
  journal: Journal['recovery'];
}

/** What openParts opened and recovered: the parts, and what replay found of permission traffic. */
export interface OpenedParts {
  parts: EngineParts;
  replayed: Replayed;
}

export const CORE_OPTION_NAMES = ['store', 'sync', 'io', 'clock', 'changelogMask', 'checkpointEveryRecords', 'segmentBytesMax', 'readOnly'] as const;

function wallClock(): () => bigint {
  let last = 0n;
  return () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    last = now > last ? now : last + 1n;
    return last;
  };
}

/** A user's clock, checked at every call: a throw or a value that is not a u64 of nanoseconds is EINVAL. */
function checkedClock(clock: () => bigint): () => bigint {
  return () => {
    let time: unknown;
    try {
      time = clock();
    } catch (error) {
      throw new FanlogError('EINVAL', `the clock option threw: ${String(error)}`, { cause: error });
    }
    if (typeof time !== 'bigint' || time < 0n || time >= 2n ** 64n) {
      throw invalid(`the clock option must return nanoseconds as a bigint from 0 to 2^64 - 1, got ${typeof time === 'bigint' ? time : typeof time}`);
    }
    return time;
  };
}

/**
 * Opens the engine's store. That of an engine made before (marked) is
 * opened without making one: when it is missing and the journal holds
 * records, the store was lost, and the open is ECORRUPT with nothing made
 * in its place. A marked engine whose journal holds nothing may have
 * stopped between writing its marker and making its store: it makes it now.
 */
async function openStore(io: Io, dir: string, found: EngineDirectory, journal: Journal, readOnly: boolean): Promise<SealedStore> {
  if (readOnly || !found.marked) return openMetaStore(found.store, dir, io, { readOnly });
  try {
    return await openMetaStore(found.store, dir, io, { create: false });
  } catch (error) {
    if (!(error instanceof FanlogError && error.code === 'ENOENT')) throw error;
    if (journal.headSeq > 0n || journal.firstSeq > 1n) {
      const storeDir = metaStoreDir(dir, found.store);
      throw new FanlogError(
        'ECORRUPT',
        `${found.store} store ${storeDir} is missing, but the journal holds records up to ${journal.headSeq}: the store was lost (fanlog repair --rebuild-store rebuilds it from the journal)`,
        {
          file: storeDir,
          key: HIGH_WATER_KEY,
          cause: error,
        },
      );
    }
    return openMetaStore(found.store, dir, io);
  }
}

function noEngine(dir: string): FanlogError {
  return new FanlogError('ENOENT', `no fanlog engine in ${dir}`, { file: dir });
}

/** Takes the engine's lock: EBUSY naming its holder, and for a read-only open of a `readOnlyStore`, why it cannot be made beside one. */
async function lockEngine(io: Io, dir: string, readOnlyStore: StoreKind | null): Promise<IoLock> {
  try {
    return await io.lock(dir);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EBUSY') throw error;
    if (readOnlyStore !== null && readOnlyStore !== 'lmdb') throw busyBeside(dir, readOnlyStore, error);
    throw new FanlogError('EBUSY', `engine ${dir} is open elsewhere: ${reason(error)}`, { file: dir, cause: error });
  }
}

/** The largest write an engine's default NodeIo makes on the loop thread when no commit waits for an fdatasync. */
const INLINE_WRITE_BYTES_MAX = 64 * 1024;

/**
 * The Io of an engine given none: the host's files, with small writes made
 * inline (node-io.ts) unless each commit waits for an fdatasync (sync
 * 'always', the default), where the write was not measured to gain.
 */
function defaultIo(sync: unknown): NodeIo {
  return new NodeIo({ inlineWriteBytesMax: sync === 'never' || sync === 'interval' ? INLINE_WRITE_BYTES_MAX : 0 });
}

/** Checks the options, then opens and recovers everything the engine is built from; see the header. */
async function openParts(dir: string, opts: EngineCoreOptions): Promise<OpenedParts> {
  checkHostPath('dir', dir);
  const requestedStore = opts.store === undefined ? undefined : checkOneOf('store', opts.store, STORE_KINDS);
  const sync = checkOneOf('sync', opts.sync ?? 'always', ['always', 'interval', 'never'] as const);
  if (opts.clock !== undefined && typeof opts.clock !== 'function') throw invalid('clock must be a function returning bigint nanoseconds');
  const clock = opts.clock === undefined ? wallClock() : checkedClock(opts.clock);
  const givenMask = opts.changelogMask === undefined ? undefined : checkBigint('changelogMask', opts.changelogMask, 0n, 2n ** 64n - 1n);
  const checkpointEveryRecords = checkInteger('checkpointEveryRecords', opts.checkpointEveryRecords ?? 100_000, 1, 2 ** 40);
  const readOnly = checkBoolean('readOnly', opts.readOnly ?? false);
  const io = opts.io ?? defaultIo(sync);
  clock(); // a clock that fails, fails the open

  let lock: IoLock | null = null;
  let journal: Journal | null = null;
  let metaStore: SealedStore | null = null;
  try {
    let found: EngineDirectory | null = null;
    if (!readOnly) await io.mkdirp(dir);
    // A read-only open looks before it locks, so that it leaves no lock file where there is no engine.
    else if ((found = await inspectDirectory(io, dir, requestedStore)).fresh) throw noEngine(dir);
    const journalOptions = { sync, io, readOnly, ...(opts.segmentBytesMax === undefined ? {} : { segmentBytesMax: opts.segmentBytesMax }) };
    if (found !== null && found.store === 'lmdb') {
      // Lock-free, beside any holder: the store first, then the journal (open-beside.ts).
      const { StoreSnapshot } = await import('../store/store-snapshot.js');
      const storeDir = metaStoreDir(dir, 'lmdb');
      metaStore = new SealedStore(await StoreSnapshot.ofLmdb(storeDir), `lmdb store ${storeDir}`);
      journal = await Journal.open(path.join(dir, 'journal'), journalOptions);
    } else {
      lock = await lockEngine(io, dir, found === null ? null : found.store);
      found = await inspectDirectory(io, dir, requestedStore);
      if (readOnly && found.fresh) throw noEngine(dir);
      if (!found.marked && !readOnly) await writeMarker(io, dir, found.store);
      journal = await Journal.open(path.join(dir, 'journal'), journalOptions);
      metaStore = await openStore(io, dir, found, journal, readOnly);
    }
    await checkHighWater(metaStore, journal, { expectStore: found.marked, initialize: !readOnly });
    const changelogMask = await resolveChangelogMask(metaStore, journal, givenMask, !readOnly);
    // The root of a new filesystem has time 0, so that a replay from empty gives the same state.
    const checkpoint = await loadCheckpoint(metaStore, journal, 0n);
    const replayed = await replayJournal(journal, checkpoint);
    const recovery: EngineRecovery = {
      checkpointSeq: checkpoint.seq,
      replayedRecords: replayed.replayedRecords,
      resurrectedRequests: 0,
      headSeq: journal.headSeq,
      ms: 0,
      journal: journal.recovery,
    };
    const parts: EngineParts = {
      dir,
      journal,
      store: metaStore,
      lock,
      state: checkpoint.state,
      clock,
      changelogMask,
      checkpointEveryRecords,
      recovery,
      checkpoint,
      readOnly,
      storeKind: found.store,
    };
    return { parts, replayed };
  } catch (error) {
    await metaStore?.close().catch(() => undefined);
    await journal?.close().catch(() => undefined);
    await lock?.release().catch(() => undefined);
    throw asFanlogError(error, dir);
  }
}

/**
 * Opens the parts (openParts) and builds the engine from them with
 * `build`, closing what was opened when it fails. A read-only open is made
 * again while its holder overtakes it (open-beside.ts); `build` learns
 * through `moved` whether the holder moved since the attempt began.
 */
export async function openEngine<E>(dir: string, opts: EngineCoreOptions, build: (opened: OpenedParts, moved: HolderMoved) => Promise<E>): Promise<E> {
  checkHostPath('dir', dir);
  const io = opts.io ?? defaultIo(opts.sync);
  const readOnly = checkBoolean('readOnly', opts.readOnly ?? false);
  return retryOvertaken(io, dir, readOnly, async (moved) => {
    const opened = await openParts(dir, { ...opts, io });
    try {
      return await build(opened, moved);
    } catch (error) {
      const { parts } = opened;
      await parts.store.close().catch(() => undefined);
      await parts.journal.close().catch(() => undefined);
      await parts.lock?.release().catch(() => undefined);
      throw asFanlogError(error, dir);
    }
  });
}
