/**
 * Engine: the facade over the journal, the simulated filesystem, groups,
 * the MetaStore and checkpoints.
 *
 * Directory layout:
 *   <dir>/journal/        the journal (its LOCK makes the engine exclusive)
 *   <dir>/meta-lmdb/ | meta-level/ | meta-files/   the MetaStore
 *
 * Open: the journal recovers, the latest checkpoint is loaded, the journal
 * after it is replayed through `FsState.apply` (the same code live
 * operations use), then groups are loaded.
 *
 * Commit (one per operation, synchronous until the append): apply the op,
 * build its events, encode the op record and every event the changelog mask
 * keeps, append them as one entry (seqs are assigned then, in the same
 * order the state changed), then wait for durability and deliver the events
 * to groups. An I/O failure on the way puts the engine in the failed state:
 * every later call rejects with EFAILED until it is reopened.
 *
 * Checkpoints run in the background every `checkpointEveryRecords` records
 * and on close; after one is durable the journal is purged up to it.
 */
import path from 'node:path';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import type { Io } from '../journal/io.js';
import { Journal, type SyncPolicy } from '../journal/journal.js';
import { NodeIo } from '../journal/node-io.js';
import { captureCheckpoint, loadCheckpoint } from './checkpoint.js';
import { decodeRecord, encodeRecord } from './codec.js';
import { FanlogFs, type FsHost } from './fs.js';
import type { FsState } from './fs-state.js';
import { Groups } from './group-registry.js';
import { FAN_ALL_EVENTS, type Mask } from './masks.js';
import { type Intent, type Outcome, type PermissionGroup, type PermissionHost, Permissions } from './permissions.js';
import { type MetaStore, openMetaStore, STORE_KINDS, type StoreKind } from './meta-store.js';
import type { EngineRecord } from './record.js';
import { Consumers } from '../consumers/consumer-registry.js';
import { Filters } from '../consumers/filters.js';
export type { Intent };
import { FailStopStore } from './fail-stop-store.js';
import { checkBigint, checkInteger, checkOneOf, checkOptions } from './validate.js';

export interface EngineOptions {
  /** MetaStore backend; default 'lmdb'. */
  store?: StoreKind;
  /** Journal sync policy; default 'always'. */
  sync?: SyncPolicy;
  io?: Io;
  /** Nanosecond clock; default the wall clock, never going backwards. */
  clock?: () => bigint;
  /** Which events the changelog records; default every event. */
  changelogMask?: Mask;
  /** A checkpoint is taken after this many journal records; default 100,000. */
  checkpointEveryRecords?: number;
  /** Passed to the journal; default 64 MiB. */
  segmentBytesMax?: number;
  /** Default `lagRecordsMax` for consumers that set none; default: no limit. */
  consumerLagRecordsMax?: number;
  /** Default `idleMsMax` for consumers that set none; default: no limit. */
  consumerIdleMsMax?: number;
}

export interface EngineRecovery {
  /** The seq the loaded checkpoint covered (0n: none). */
  checkpointSeq: bigint;
  /** Records replayed after it. */
  replayedRecords: number;
  /** Permission requests found without a decision and queued again. */
  resurrectedRequests: number;
  /** The journal's head when recovery ended (operations it resumed append after it). */
  headSeq: bigint;
  ms: number;
  journal: Journal['recovery'];
}

const OPTION_NAMES = [
  'store',
  'sync',
  'io',
  'clock',
  'changelogMask',
  'checkpointEveryRecords',
  'segmentBytesMax',
  'consumerLagRecordsMax',
  'consumerIdleMsMax',
] as const;

function wallClock(): () => bigint {
  let last = 0n;
  return () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    last = now > last ? now : last + 1n;
    return last;
  };
}

export class Engine implements FsHost, PermissionHost {
  readonly fs: FanlogFs;
  readonly groups: Groups;
  readonly permissions: Permissions;
  readonly filters = new Filters();
  readonly consumers: Consumers;
  /** The MetaStore, through a FailStopStore: a failed store write fails the engine. */
  readonly store: MetaStore;
  private failure: FanlogError | null = null;
  private closed = false;
  private recordsSinceCheckpoint = 0;
  private checkpointing: Promise<bigint> | null = null;
  private purging = false;
  private lastCheckpointSeq: bigint;

  private constructor(
    readonly dir: string,
    readonly journal: Journal,
    store: MetaStore,
    readonly state: FsState,
    private readonly clock: () => bigint,
    private readonly changelogMask: Mask,
    private readonly checkpointEveryRecords: number,
    readonly recovery: EngineRecovery,
    consumerDefaults: { lagRecordsMax: number | null; idleMsMax: number | null },
  ) {
    this.store = new FailStopStore(store, () => this.checkUsable(), (error) => this.fail(error));
    this.fs = new FanlogFs(this);
    this.permissions = new Permissions(this);
    this.groups = new Groups(this);
    this.consumers = new Consumers(this, consumerDefaults);
    this.lastCheckpointSeq = recovery.checkpointSeq;
    this.recordsSinceCheckpoint = recovery.replayedRecords;
  }

  static async open(dir: string, options: EngineOptions = {}): Promise<Engine> {
    const started = performance.now();
    if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir must be a non-empty string');
    const opts = checkOptions<EngineOptions>('options', options, OPTION_NAMES);
    const store = checkOneOf('store', opts.store ?? 'lmdb', STORE_KINDS);
    const sync = checkOneOf('sync', opts.sync ?? 'always', ['always', 'interval', 'never'] as const);
    if (opts.clock !== undefined && typeof opts.clock !== 'function') throw invalid('clock must be a function returning bigint nanoseconds');
    const clock = opts.clock ?? wallClock();
    const changelogMask = checkBigint('changelogMask', opts.changelogMask ?? FAN_ALL_EVENTS, 0n, 2n ** 64n - 1n);
    const checkpointEveryRecords = checkInteger('checkpointEveryRecords', opts.checkpointEveryRecords ?? 100_000, 1, 2 ** 40);
    const consumerDefaults = {
      lagRecordsMax: opts.consumerLagRecordsMax === undefined ? null : checkInteger('consumerLagRecordsMax', opts.consumerLagRecordsMax, 1, Number.MAX_SAFE_INTEGER),
      idleMsMax: opts.consumerIdleMsMax === undefined ? null : checkInteger('consumerIdleMsMax', opts.consumerIdleMsMax, 1, 2 ** 31 - 1),
    };
    const io = opts.io ?? new NodeIo();
    const journal = await Journal.open(path.join(dir, 'journal'), {
      sync,
      io,
      ...(opts.segmentBytesMax === undefined ? {} : { segmentBytesMax: opts.segmentBytesMax }),
    });
    let metaStore: MetaStore | null = null;
    try {
      metaStore = await openMetaStore(store, dir, io);
      const { state, seq, pendingFromSeq } = await loadCheckpoint(metaStore, journal, 0n);
      // Permission requests may be older than the checkpoint: read from the
      // oldest one still pending then, applying ops only after the checkpoint.
      const from = pendingFromSeq !== undefined && pendingFromSeq <= seq ? pendingFromSeq : seq + 1n;
      const requests = new Map<bigint, EngineRecord>();
      const decisions = new Map<bigint, number>();
      const completed = new Set<bigint>();
      let replayedRecords = 0;
      for await (const { seq: recordSeq, payload } of journal.read({ from })) {
        const record = decodeRecord(payload);
        if (record.kind === 'request') requests.set(recordSeq, record);
        else if (record.kind === 'decision') decisions.set(record.requestSeq!, record.response!);
        else if (record.requestSeq !== undefined) completed.add(record.requestSeq);
        if (recordSeq <= seq) continue;
        if (record.kind === 'op') state.apply(record);
        replayedRecords++;
      }
      const recovery: EngineRecovery = {
        checkpointSeq: seq,
        replayedRecords,
        resurrectedRequests: 0,
        headSeq: journal.headSeq,
        ms: 0,
        journal: journal.recovery,
      };
      const engine = new Engine(dir, journal, metaStore, state, clock, changelogMask, checkpointEveryRecords, recovery, consumerDefaults);
      await engine.groups.load();
      await engine.consumers.load();
      recovery.resurrectedRequests = engine.permissions.resurrect(requests, decisions, completed, (name) => engine.groups.find(name), (intent) =>
        engine.fs.complete(intent).then(() => undefined),
      );
      recovery.ms = performance.now() - started;
      return engine;
    } catch (error) {
      await metaStore?.close().catch(() => undefined);
      await journal.close().catch(() => undefined);
      throw fromIoError(error, dir);
    }
  }

  permissionGroups(): PermissionGroup[] {
    return this.groups.byPriority();
  }

  /** Journals one record as its own entry; resolves with its seq once durable. */
  /**
   * Appends one record as its own entry; resolves with its seq once it is
   * durable. `onSeq` learns the seq at once, before the record is durable.
   */
  async appendRecord(record: EngineRecord, onSeq?: (seq: bigint) => void): Promise<bigint> {
    this.checkUsable();
    const appended = this.journal.appendEntry([encodeRecord(record)]);
    const seq = this.journal.headSeq;
    onSeq?.(seq);
    try {
      await appended;
    } catch (error) {
      throw this.fail(error);
    }
    this.recordsSinceCheckpoint++;
    this.consumers.recordsDurable();
    return seq;
  }

  /** Guarded operations whose callers died in a crash and that wait for answers (see permissions.ts). */
  pendingOperations(): ReturnType<Permissions['pendingOperations']> {
    return this.permissions.pendingOperations();
  }

  /** The outcome of the guarded operation that request (or operation) `seq` belongs to, once it is settled. */
  settled(seq: bigint): Promise<Outcome> {
    return this.permissions.settled(checkBigint('seq', seq, 1n, 2n ** 64n - 1n));
  }

  get failed(): boolean {
    return this.failure !== null || this.journal.failed;
  }

  now(): bigint {
    return this.clock();
  }

  checkUsable(): void {
    if (this.closed) throw new FanlogError('ECLOSED', `engine ${this.dir} is closed`);
    if (this.failed) {
      throw new FanlogError('EFAILED', `engine ${this.dir} failed (${this.failure?.message ?? 'journal I/O error'}); reopen it`, {
        cause: this.failure,
      });
    }
  }

  private fail(error: unknown): FanlogError {
    const failure = fromIoError(error, this.dir);
    if (this.failure === null) {
      this.failure = failure;
      // Nobody can answer now: waiting operations end; their requests stay in
      // the journal, undecided, and are asked again after the reopen.
      this.permissions.abandonAll(new FanlogError('EFAILED', `engine ${this.dir} failed (${failure.message}); reopen it`, { cause: failure }));
    }
    return failure;
  }

  async commit(op: EngineRecord | null, buildEvents: () => EngineRecord[]): Promise<void> {
    this.checkUsable();
    if (op !== null) this.state.apply(op);
    const events = buildEvents();
    const payloads: Uint8Array[] = op === null ? [] : [encodeRecord(op)];
    // For each event, its index in the entry, or -1 when the changelog mask leaves it out.
    const positions: number[] = [];
    for (const event of events) {
      if (((event.mask ?? 0n) & this.changelogMask & FAN_ALL_EVENTS) === 0n) {
        positions.push(-1);
      } else {
        positions.push(payloads.length);
        payloads.push(encodeRecord(event));
      }
    }
    if (payloads.length === 0) {
      this.groups.deliver(events, []);
      return;
    }
    const appended = this.journal.appendEntry(payloads);
    // Seqs were assigned by the call above, in entry order.
    const firstSeq = this.journal.headSeq - BigInt(payloads.length) + 1n;
    try {
      await appended;
    } catch (error) {
      throw this.fail(error);
    }
    this.consumers.recordsDurable();
    if (this.groups.size > 0) {
      this.groups.deliver(
        events,
        positions.map((position) => (position < 0 ? undefined : firstSeq + BigInt(position))),
      );
    }
    this.recordsSinceCheckpoint += payloads.length;
    if (this.recordsSinceCheckpoint >= this.checkpointEveryRecords && this.checkpointing === null) {
      void this.checkpoint().catch(() => undefined);
    }
  }

  /**
   * Writes a checkpoint of the state as of now and purges the journal up to
   * it; resolves with the seq it covers once it is durable.
   */
  checkpoint(): Promise<bigint> {
    this.checkUsable();
    if (this.checkpointing !== null) return this.checkpointing.then(() => this.checkpoint());
    this.checkpointing = this.writeCheckpoint().finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  private async writeCheckpoint(): Promise<bigint> {
    const seq = this.journal.headSeq;
    const pendingFromSeq = this.permissions.oldestPendingSeq();
    const ops = captureCheckpoint(this.state, seq, this.journal.journalId, pendingFromSeq);
    this.recordsSinceCheckpoint = 0;
    try {
      await this.journal.sync();
      await this.store.commit(ops);
      this.lastCheckpointSeq = seq;
      await this.purge();
    } catch (error) {
      throw this.fail(error);
    }
    return seq;
  }

  /**
   * Purges the journal below every reader that needs it (invariant 8): the
   * latest durable checkpoint, the oldest unfinished guarded operation, and
   * every consumer that was not evicted.
   */
  private async purge(): Promise<void> {
    let through = this.lastCheckpointSeq;
    const pending = this.permissions.oldestPendingSeq();
    if (pending !== undefined && pending - 1n < through) through = pending - 1n;
    const cursor = this.consumers.lowestCursor();
    if (cursor !== undefined && cursor < through) through = cursor;
    if (through > 0n) await this.journal.purge(through);
  }

  consumersMoved(): void {
    if (this.closed || this.failed || this.purging) return;
    this.purging = true;
    void this.purge()
      .catch(() => undefined)
      .finally(() => {
        this.purging = false;
      });
  }

  /** The seq of the latest durable checkpoint (0n: none yet). */
  get checkpointSeq(): bigint {
    return this.lastCheckpointSeq;
  }

  /** Waits for background work, checkpoints (unless failed), and closes everything. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.checkpointing?.catch(() => undefined);
      if (!this.failed && this.state.dirty.size > 0) await this.checkpoint().catch(() => undefined);
    } finally {
      this.closed = true;
      // Waiting operations end here; their requests stay undecided in the
      // journal and are asked again when the engine next opens.
      this.permissions.abandonAll(new FanlogError('ECLOSED', `engine ${this.dir} closed while the operation waited for permission`));
      this.groups.closeAll();
      this.consumers.close();
      await this.store.close().catch(() => undefined);
      await this.journal.close();
    }
  }
}
