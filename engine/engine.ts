/**
 * EngineCore: the journal, the simulated filesystem, groups, permissions,
 * the MetaStore and checkpoints. The class users open, `Engine`
 * (fanlog.ts), composes the readers (consumers) onto it; the engine knows
 * them only as `ChangelogReader`s (changelog-source.ts).
 *
 * Directory layout: see engine-dir.ts (the marker `FANLOG`, the engine's
 * `LOCK`, `journal/`, `meta-<store>/`).
 *
 * Open: the directory is locked and its marker read (or written, for a new
 * engine); the journal recovers; the store opens, and its high-water mark
 * is checked against the journal; the latest checkpoint is loaded, the
 * journal after it is replayed through `FsState.apply` (the same code live
 * operations use), groups and then readers are loaded, and permission requests
 * left without an answer are queued again. A record that cannot be replayed
 * is ECORRUPT naming its seq.
 *
 * Commit (one per operation, synchronous until the append): check the op
 * record against the codec, apply it, build its events, encode the op
 * record and every event the changelog mask keeps, append them as one
 * entry (seqs are assigned then, in the same order the state changed), then
 * wait for durability and deliver the events to groups. An I/O failure on
 * the way (or an encoding that fails after the apply: a bug) puts the
 * engine in the failed state: every later call rejects with EFAILED until
 * it is reopened.
 *
 * Checkpoints run in the background every `checkpointEveryRecords` records
 * and on close; after one is durable the journal is purged up to the
 * retention bound (retention.ts).
 *
 * The engine composes its parts rather than inheriting them: the
 * filesystem (`fs`, a facade over parts that share one context, and
 * `mirrored`, the mirror's part of it), the permission broker, the groups,
 * the store and the retention; each gets the engine as the narrow host
 * interface it declares (FsHost, PermissionHost, GroupHost, RetentionHost).
 *
 * Read only (`readOnly: true`, for inspection): nothing is created, written,
 * repaired, checkpointed or purged; every call that would write is EROFS,
 * and operations whose callers died are not resumed. An lmdb engine is
 * opened so without its lock, beside the process that holds it, as it was
 * at one moment (open-beside.ts).
 */
import assert from 'node:assert/strict';
import { FanlogError, fromIoError } from '../errors.js';
import type { IoLock } from '../journal/io.js';
import type { Journal } from '../journal/journal.js';
import type { StoreKind } from '../store/meta-store.js';
import type { ChangelogReader, ChangelogSource } from './changelog-source.js';
import { captureCheckpoint, checkpointBound, type CheckpointLayout } from './checkpoint.js';
import { type EngineCoreOptions, type EngineParts, type EngineRecovery, openEngine } from './engine-open.js';
import { FailStopStore } from './fail-stop-store.js';
import { FanlogFs, type FsHost } from './fs/fs.js';
import type { MirroredFs } from './fs/fs-mirror.js';
import type { FsState } from './model/fs-state.js';
import { Groups } from './notify/group-registry.js';
import { FAN_ALL_EVENTS, type Mask } from './notify/masks.js';
import { PermissionBroker, type PendingOperation, type PermissionHost } from './permission/broker.js';
import type { Outcome } from './permission/operation.js';
import type { ExternalIntent } from './permission/intent.js';
import type { PermissionGroup } from './permission/request.js';
import { encodeRecordInto } from './record/codec.js';
import { opFault, refusal, unencodable } from './record/encodable.js';
import type { EngineRecord } from './record/record.js';
import { checkCovered } from './open-beside.js';
import { Retention } from './retention.js';
import { checkBigint, checkBoolean, checkOptions } from '../validate.js';

export { CORE_OPTION_NAMES, type EngineCoreOptions, type EngineParts, type EngineRecovery } from './engine-open.js';
export type { Intent } from './permission/intent.js';

export class EngineCore {
  readonly fs: FanlogFs;
  readonly groups: Groups;
  /** @internal The operations a mirror of a real directory makes on the same filesystem (fs/fs-mirror.ts). */
  readonly mirrored: MirroredFs;
  /** @internal */
  readonly permissions: PermissionBroker;
  /** @internal The MetaStore, through a FailStopStore: a failed store write fails the engine. */
  readonly store: FailStopStore;
  #failure: FanlogError | null = null;
  #closed = false;
  #recordsSinceCheckpoint = 0;
  #checkpointing: Promise<bigint> | null = null;
  /** Where the store holds the inodes: what the next checkpoint rewrites or deletes. */
  readonly #checkpointLayout: CheckpointLayout;
  /** The durable checkpoint and the purges it allows (retention.ts). */
  readonly #retention: Retention;
  /** Readers composed onto the engine (fanlog.ts): consumers. */
  readonly #readers: ChangelogReader[] = [];
  /** What runs on the engine and stops before it closes (a mirror). */
  readonly #attached = new Set<() => Promise<void>>();

  readonly dir: string;
  readonly journal: Journal;
  /** @internal */
  readonly state: FsState;
  readonly recovery: EngineRecovery;
  /** Opened for inspection only: see the header. */
  readonly readOnly: boolean;
  /** The kind of store the directory records. */
  readonly storeKind: StoreKind;
  readonly #lock: IoLock | null;
  readonly #clock: () => bigint;
  /** @internal The events the changelog keeps (engine/changelog-mask.ts). */ readonly changelogMask: Mask;
  readonly #checkpointEveryRecords: number;

  protected constructor(parts: EngineParts) {
    ({ dir: this.dir, journal: this.journal, state: this.state, recovery: this.recovery, readOnly: this.readOnly, storeKind: this.storeKind } = parts);
    ({ lock: this.#lock, clock: this.#clock, changelogMask: this.changelogMask, checkpointEveryRecords: this.#checkpointEveryRecords } = parts);
    this.store = new FailStopStore(
      parts.store,
      parts.journal,
      () => this.checkWritable(),
      (error) => this.#fail(error),
    );
    // What the layers need of the engine; checked here rather than declared
    // with `implements`, whose members are internal to the published types.
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- a typed name, not an alias: it checks the engine is each layer's host
    const host: FsHost & PermissionHost & ChangelogSource = this;
    this.fs = new FanlogFs(host);
    this.mirrored = this.fs.mirrored;
    this.permissions = new PermissionBroker(host);
    this.groups = new Groups(this);
    this.#retention = new Retention(
      {
        journal: this.journal,
        readers: this.#readers,
        oldestPendingSeq: () => this.permissions.oldestPendingSeq(),
        mayPurge: () => !this.readOnly && !this.#closed && !this.failed,
        fail: (error) => this.#fail(error),
      },
      parts.checkpoint,
    );
    this.#checkpointLayout = parts.checkpoint.layout;
    this.#recordsSinceCheckpoint = parts.recovery.replayedRecords;
  }

  /** @internal Something that runs on the engine (a mirror): `close()` calls its `stop` first. Returns the call that detaches it. */
  attachWork(stop: () => Promise<void>): () => void {
    this.#attached.add(stop);
    return () => void this.#attached.delete(stop);
  }

  /** @internal Composes a reader onto the engine (fanlog.ts does, in its constructor). */
  protected attach(reader: ChangelogReader): void {
    this.#readers.push(reader);
  }

  /**
   * Opens (see the header) and builds the engine with `make`, the
   * composition's constructor; `options` were checked for unknown names by
   * the caller.
   * @internal
   */
  protected static async openCore<E extends EngineCore>(dir: string, opts: EngineCoreOptions, make: (parts: EngineParts) => E): Promise<E> {
    const started = performance.now();
    return openEngine(dir, opts, async ({ parts, replayed }, moved) => {
      const { recovery, readOnly } = parts;
      const engine = make(parts);
      await engine.groups.load();
      for (const reader of engine.#readers) await reader.load();
      // Read-only without the lock (an lmdb store): the journal must still hold what the store read refers to.
      if (readOnly && parts.lock === null) await checkCovered(engine.journal, engine.#retention.bound(), moved);
      // Descriptors died with their processes: what they kept open is released now.
      if (!readOnly) await engine.fs.releaseOrphans();
      recovery.resurrectedRequests = engine.permissions.resurrect(
        replayed,
        (name) => engine.groups.find(name),
        (intent, operationSeq) => engine.fs.perform(intent, operationSeq),
        !readOnly,
      );
      recovery.ms = performance.now() - started;
      return engine;
    });
  }

  /** @internal */
  permissionGroups(): readonly PermissionGroup[] {
    return this.groups.byPriority();
  }

  /**
   * Appends one record as its own entry; resolves with its seq once it is
   * durable. `onSeq` learns the seq at once, before the record is durable.
   * @internal
   */
  async appendRecord(record: EngineRecord, onSeq?: (seq: bigint) => void): Promise<bigint> {
    this.checkWritable();
    const before = this.journal.headSeq;
    const appended = this.journal.appendRecords(1, (out) => encodeRecordInto(out, record));
    // Nothing appended: the encoder refused it (a bug), and nothing was applied.
    if (this.journal.headSeq === before) throw await refusal(appended);
    const seq = this.journal.headSeq;
    onSeq?.(seq);
    try {
      await appended;
    } catch (error) {
      throw this.#fail(error);
    }
    this.#recordsSinceCheckpoint++;
    for (const reader of this.#readers) reader.recordsDurable();
    return seq;
  }

  /** @internal Who writes the answer to each kernel permission event a source holds, by kernel event (kernel/permission.ts). */
  readonly kernelAnswers = new Map<string, (response: number, listenerHolds: boolean) => void>();

  /** @internal The broker's call once a decision on a kernel event is durable. */
  answerKernel(intent: ExternalIntent, response: number, listenerHolds: boolean): void {
    this.kernelAnswers.get(intent.kernelEvent)?.(response, listenerHolds);
  }

  /** Guarded operations that asked and are not settled yet, oldest first: live (`resurrected: false`) or resurrected after a crash. */
  pendingOperations(): PendingOperation[] {
    return this.permissions.pendingOperations();
  }

  /** The outcome of the guarded operation that request (or operation) `seq` belongs to, once it is settled. */
  settled(seq: bigint): Promise<Outcome> {
    return this.permissions.settled(checkBigint('seq', seq, 1n, 2n ** 64n - 1n));
  }

  get failed(): boolean {
    return this.#failure !== null || this.journal.failed;
  }

  /** @internal The engine's clock (a user's clock is checked: EINVAL when it throws or gives no u64). */
  now(): bigint {
    return this.#clock();
  }

  /** @internal Throws ECLOSED or EFAILED when the engine cannot be used at all. */
  checkUsable(): void {
    if (this.#closed) throw new FanlogError('ECLOSED', `engine ${this.dir} is closed`);
    if (this.failed) {
      throw new FanlogError('EFAILED', `engine ${this.dir} failed (${this.#failure?.message ?? 'journal I/O error'}); reopen it`, {
        cause: this.#failure,
      });
    }
  }

  /** @internal As checkUsable, and EROFS when the engine was opened read-only. */
  checkWritable(): void {
    this.checkUsable();
    if (this.readOnly) throw new FanlogError('EROFS', `engine ${this.dir} was opened read-only`);
  }

  #fail(error: unknown): FanlogError {
    const failure = fromIoError(error, this.dir);
    if (this.#failure === null) {
      this.#failure = failure;
      // Whatever failed (the journal or the store), the journal stops too: no write or sync after a failure.
      this.journal.halt(failure);
      // Nobody can answer now: waiting operations end; their requests stay in
      // the journal, undecided, and are asked again after the reopen.
      this.permissions.abandonAll(new FanlogError('EFAILED', `engine ${this.dir} failed (${failure.message}); reopen it`, { cause: failure }));
    }
    return failure;
  }

  /**
   * Applies `op`, builds the events, journals both as one entry (see the
   * header); resolves, once durable, with how many events it journaled.
   * Never the state applied without its entry: entry points refuse what
   * the codec cannot hold (fs/limits.ts), `op` is checked against the codec
   * before it is applied, and the events come from checked values. An
   * encoding that fails after the apply all the same is a bug: the engine
   * fails at once, so that nothing builds on a state its journal lacks.
   * @internal
   */
  async commit(op: EngineRecord | null, buildEvents: () => EngineRecord[]): Promise<number> {
    this.checkWritable();
    if (op !== null) {
      // Messages are built only on failure: this runs for every operation.
      if (op.kind !== 'op') assert.fail(`commit takes an op record, not a ${op.kind}`);
      if (opFault(op) !== null) assert.fail(`an op record the codec cannot hold reached commit (${op.op}: ${unencodable(op)}): its entry point must refuse it`);
      this.state.apply(op);
    }
    const events = buildEvents();
    // The entry: the op, then every event the changelog mask keeps.
    const entry: EngineRecord[] = op === null ? [] : [op];
    // For each event, its index in the entry, or -1 when the changelog mask leaves it out.
    const positions: number[] = [];
    for (const event of events) {
      if (((event.mask ?? 0n) & this.changelogMask & FAN_ALL_EVENTS) === 0n) {
        positions.push(-1);
      } else {
        positions.push(entry.length);
        entry.push(event);
      }
    }
    if (entry.length === 0) {
      this.groups.deliver(events, []);
      return 0;
    }
    const before = this.journal.headSeq;
    // Each record is encoded straight into the journal's batch buffer.
    const appended = this.journal.appendRecords(entry.length, (out, i) => encodeRecordInto(out, entry[i]!));
    if (this.journal.headSeq === before) {
      if (op !== null) this.#fail(new FanlogError('EFAILED', `the entry of a ${op.op} already applied could not be encoded`));
      throw await refusal(appended);
    }
    // Seqs were assigned by the call above, in entry order, with nothing between.
    const firstSeq = before + 1n;
    if (this.journal.headSeq !== before + BigInt(entry.length)) assert.fail('an entry gets contiguous seqs at once');
    try {
      await appended;
    } catch (error) {
      throw this.#fail(error);
    }
    for (const reader of this.#readers) reader.recordsDurable();
    if (this.groups.size > 0) {
      this.groups.deliver(
        events,
        positions.map((position) => (position < 0 ? undefined : firstSeq + BigInt(position))),
      );
    }
    this.#recordsSinceCheckpoint += entry.length;
    if (this.#recordsSinceCheckpoint >= this.#checkpointEveryRecords && this.#checkpointing === null) {
      void this.checkpoint().catch(() => undefined);
    }
    return op === null ? entry.length : entry.length - 1;
  }

  /**
   * Writes a checkpoint of the state as of now and purges the journal up to
   * the retention bound; resolves with the seq it covers once it is durable.
   */
  checkpoint(): Promise<bigint> {
    this.checkWritable();
    if (this.#checkpointing !== null) return this.#checkpointing.then(() => this.checkpoint());
    this.#checkpointing = this.#writeCheckpoint().finally(() => {
      this.#checkpointing = null;
    });
    return this.#checkpointing;
  }

  async #writeCheckpoint(): Promise<bigint> {
    const seq = this.journal.headSeq;
    const pendingFromSeq = this.permissions.oldestPendingSeq();
    const ops = captureCheckpoint(this.state, seq, this.journal.journalId, pendingFromSeq, this.#checkpointLayout);
    this.#recordsSinceCheckpoint = 0;
    try {
      await this.journal.sync();
      await this.store.commit(ops);
    } catch (error) {
      throw this.#fail(error);
    }
    this.#retention.checkpointDurable(checkpointBound(seq, pendingFromSeq));
    await this.#retention.purge();
    return seq;
  }

  /** @internal A reader's cursor moved or a reader left: purge further in the background (retention.ts). */
  retentionMoved(): void {
    void this.#retention.purge().catch(() => undefined);
  }

  /** @internal The oldest record the engine can still promise a new reader (retention.ts). */
  get retainedFromSeq(): bigint {
    return this.#retention.retainedFromSeq;
  }

  /** The seq of the latest durable checkpoint (0n: none yet). */
  get checkpointSeq(): bigint {
    return this.#retention.checkpointSeq;
  }

  /**
   * Waits for background work, takes a final checkpoint (unless failed,
   * read only, or `{ checkpoint: false }`: the next open then replays the
   * journal since the last one, as after a crash), and closes everything.
   * Safe to call twice.
   */
  async close(options?: { checkpoint?: boolean }): Promise<void> {
    const { checkpoint = true } = checkOptions<{ checkpoint: boolean }>('options', options, ['checkpoint']);
    checkBoolean('checkpoint', checkpoint);
    if (this.#closed) return;
    try {
      for (const stop of [...this.#attached]) await stop().catch(() => undefined);
      await this.groups.idle();
      for (const reader of this.#readers) await reader.idle();
      await this.#checkpointing?.catch(() => undefined);
      await this.#retention.idle();
      if (checkpoint && !this.failed && !this.readOnly && this.state.dirty.size > 0) await this.checkpoint().catch(() => undefined);
    } finally {
      this.#closed = true;
      // Waiting operations end here; their requests stay undecided in the
      // journal and are asked again when the engine next opens.
      this.permissions.abandonAll(new FanlogError('ECLOSED', `engine ${this.dir} closed while the operation waited for permission`));
      this.groups.closeAll();
      for (const reader of this.#readers) reader.close();
      await this.store.close().catch(() => undefined);
      await this.journal.close();
      await this.#lock?.release().catch(() => undefined);
    }
  }
}
