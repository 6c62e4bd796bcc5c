/**
 * The journal: a crash-safe, append-only log of opaque records, in a
 * directory of segment files (segment.ts) holding CRC-framed entries
 * (frame.ts), recovered on open (recovery.ts).
 *
 * Write path. `appendRecords` assigns sequence numbers at once, in call
 * order, and encodes the entry's frame straight into the batch buffer being
 * gathered, each record encoded in place by the caller (`appendEntry` copies
 * given payloads in). All disk work (writes, syncs, segment rolls, purges,
 * close) runs one step at a time on a single chain, so
 * while one batch is being written and synced the next callers queue up,
 * and the next step writes all of them with one write and one fdatasync:
 * group commit, with no timer and no tuning. The batch is written from
 * the buffer it was gathered in (batch.ts): no copy per entry.
 *
 * Durability by sync policy (one sentence each, as the README states them):
 *   'always'   append resolves after the entry and everything before it is
 *              on disk (segment fdatasync, plus a directory fsync whenever a
 *              segment file was created or deleted);
 *   'interval' append resolves once the entry is written to the OS, and it
 *              reaches the disk within `syncIntervalMs`;
 *   'never'    append resolves once written to the OS, which decides when it
 *              reaches the disk (close still syncs).
 * `durableSeq` is the last record known to be on disk ('never': handed to
 * the OS); readers never see beyond it.
 *
 * The segment files (writes, rolls, syncs, purges) are segment-writer.ts;
 * the journal runs its steps, assigns seqs, and owns the failure.
 *
 * Failure: a failed write or sync rejects the entries it was writing with
 * its EIO or ENOSPC, and every later call with EFAILED until the journal is
 * reopened. A sync is never retried: after a failed fsync the kernel may
 * already have dropped the dirty pages, so success on retry proves nothing.
 */
import assert from 'node:assert/strict';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import { BatchGatherer, type PendingAppend } from './batch.js';
import type { ByteWriter } from './byte-writer.js';
import { FRAME_HEADER_BYTES, frameSalt, RECORD_HEADER_BYTES } from './frame.js';
import { JournalReader } from './reader.js';
import type { Io, IoLock } from './io.js';
import { type OpenDirectory, openDirectory } from './open.js';
import type { RecoveryReport } from './recovery.js';
import { SegmentWriter } from './segment-writer.js';
import { Serial } from './serial.js';
import { SlidingWindow } from './window.js';
import { checkPayloads, type JournalOptions, type ReadRange, resolveReadRange, type SyncPolicy, validateSeq } from './options.js';
export { SEGMENT_BYTES_MAX_LIMIT, SEGMENT_BYTES_MIN, type JournalOptions, type ReadRange, type SyncPolicy } from './options.js';
import { SEQ_MAX, type JournalId, type Seq } from './types.js';

export class Journal {
  readonly journalId: JournalId;
  /** What open() found and repaired (read only: what it would repair). */
  readonly recovery: RecoveryReport;
  /** Opened read only: see JournalOptions.readOnly. */
  readonly readOnly: boolean = false;
  /** @internal For metrics: fdatasync latencies (ms) over the last minute. */
  readonly syncLatencies = new SlidingWindow();
  /** @internal For metrics: entries written over the last minute. */
  readonly entriesWritten = new SlidingWindow(60, undefined, false);
  readonly #io: Io;
  readonly #lock: IoLock | null;
  readonly #policy: SyncPolicy;
  /** The segment files, and how far records are written and synced. */
  readonly #writer: SegmentWriter;
  /** The entries appended since the last disk step, encoded in place (batch.ts). */
  readonly #batch: BatchGatherer;
  /** The checksum seed of this journal's frames (frame.ts `frameSalt`). */
  readonly #salt: number;
  #drainScheduled = false;
  /** Disk work (writes, syncs, rolls, purges, close), one step at a time. */
  readonly #disk = new Serial();
  /** The last seq assigned: never behind the written one. */
  #assignedSeq: Seq;
  #failure: FanlogError | null = null;
  #closed = false;
  readonly #syncTimer: NodeJS.Timeout | null;

  private constructor(
    readonly dir: string,
    opened: OpenDirectory,
  ) {
    this.journalId = opened.journalId;
    this.#salt = frameSalt(opened.journalId);
    this.#batch = new BatchGatherer(this.#salt);
    this.recovery = opened.recovery;
    this.readOnly = opened.readOnly;
    this.#io = opened.io;
    this.#lock = opened.heldLock;
    this.#policy = opened.policy;
    this.#writer = new SegmentWriter(
      {
        io: opened.io,
        dir,
        journalId: opened.journalId,
        segmentBytesMax: opened.segmentBytesMax,
        zeroAhead: opened.policy === 'always',
        salt: this.#salt,
        syncLatencies: this.syncLatencies,
        halted: () => this.#failure,
        fail: (error) => this.#fail(error, []),
      },
      opened.segments,
      opened.activeFile,
      opened.activeFileBytes,
    );
    this.#assignedSeq = this.#writer.writtenSeq;
    this.#syncTimer =
      this.#policy === 'interval' ? setInterval(() => void this.#step(() => this.#writer.sync()).catch(() => undefined), opened.syncIntervalMs) : null;
    this.#syncTimer?.unref();
  }

  /**
   * Opens the journal in `dir`, creating it if empty, after recovering what a
   * crash left (see recovery.ts). Rejects with EBUSY while another open
   * journal holds the directory, ECORRUPT (with `file` and `offset`) on
   * damage recovery must not repair, EINVAL on bad options.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    return new Journal(dir, await openDirectory(dir, options));
  }

  /** The oldest retained record's seq; headSeq + 1 when none is retained. */
  get firstSeq(): Seq {
    return this.#writer.segments[0]!.firstSeq;
  }

  /** The last appended record's seq (0n when nothing was ever appended). */
  get headSeq(): Seq {
    return this.#assignedSeq;
  }

  /** The last record known to be on disk ('never': handed to the OS). Readers see up to here. */
  get durableSeq(): Seq {
    return this.#policy === 'never' ? this.#writer.writtenSeq : this.#writer.syncedSeq;
  }

  /** Bytes of the retained segment files. */
  get bytes(): number {
    return this.#writer.segments.reduce((total, segment) => total + segment.bytes, 0);
  }

  /** The last record known to be fsynced, whatever the policy: what a crash of the machine cannot take away. */
  get syncedSeq(): Seq {
    return this.#writer.syncedSeq;
  }

  /** True after an I/O failure: every call rejects with EFAILED until the journal is reopened. */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /** ECLOSED, EFAILED, or (to write) EROFS when the journal cannot be used so. */
  #checkUsable(write = true): void {
    if (this.#closed) throw new FanlogError('ECLOSED', `journal ${this.dir} is closed`);
    if (write && this.readOnly) throw new FanlogError('EROFS', `journal ${this.dir} was opened read-only`);
    if (this.#failure !== null) throw this.#failedError();
  }

  /** Appends one record; resolves with its seq when durable per the sync policy. */
  append(payload: Uint8Array): Promise<Seq> {
    return this.appendEntry([payload]);
  }

  /**
   * Appends records as one atomic entry (after any crash, all or none of
   * them are there); resolves with the seq of the last when durable per the
   * sync policy. Sequence numbers are assigned in call order.
   */
  async appendEntry(payloads: readonly Uint8Array[]): Promise<Seq> {
    this.#checkUsable();
    checkPayloads(payloads);
    return this.appendRecords(payloads.length, (out, i) => out.raw(payloads[i]!));
  }

  /**
   * Appends `count` records as one atomic entry, as appendEntry does, each
   * encoded by `encode(out, i)` straight into the batch buffer: the bytes it
   * appends to `out` are record i. Seqs are assigned before this returns
   * (`headSeq` is then the entry's last). If `encode` throws, nothing is
   * appended and the error goes on.
   */
  async appendRecords(count: number, encode: (out: ByteWriter, index: number) => void): Promise<Seq> {
    this.#checkUsable();
    if (!(Number.isSafeInteger(count) && count >= 1)) throw invalid('an entry needs at least one record');
    if (typeof encode !== 'function') throw invalid('encode must be a function');
    if (this.#assignedSeq + BigInt(count) > SEQ_MAX) throw new FanlogError('ENOSPC', 'sequence numbers are exhausted');
    const firstSeq = this.#assignedSeq + 1n;
    const { start, end, startsWrite } = this.#batch.encode(firstSeq, count, encode);
    if (end - start < FRAME_HEADER_BYTES + RECORD_HEADER_BYTES * count) assert.fail('an entry was framed smaller than its records');
    this.#assignedSeq += BigInt(count);
    const lastSeq = this.#assignedSeq;
    if (lastSeq <= this.#writer.writtenSeq) assert.fail('seqs are assigned past every written one');
    return new Promise<Seq>((resolve, reject) => {
      this.#batch.add({ start, end, firstSeq, lastSeq, startsWrite, resolve, reject });
      this.#scheduleDrain();
    });
  }

  /** Runs disk work one step at a time, in call order. */
  #step<T>(work: () => Promise<T>): Promise<T> {
    return this.#disk.run(work);
  }

  /** Group commit: the entries appended while the disk was busy are written by the next step, together. */
  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    void this.#step(async () => {
      this.#drainScheduled = false;
      const { entries, bytes, release } = this.#batch.take();
      if (this.#failure !== null) {
        for (const pending of entries) pending.reject(this.#failedError());
        return;
      }
      // Only an append schedules a drain, and only a failure clears a batch before its drain.
      if (entries.length === 0) assert.fail('a drain found no entry to write');
      if (entries[entries.length - 1]!.end > bytes.length) assert.fail('a batch taken without the frames of its entries');
      try {
        await this.#writeBatch(entries, bytes);
      } catch (error) {
        this.#fail(error, entries);
        // A failed assertion is a bug: the journal stops, and the process hears of it (an unhandled rejection).
        if (error instanceof assert.AssertionError) throw error;
      } finally {
        // Written (or failed): the buffer serves the batch after next.
        release();
      }
    });
  }

  #failedError(): FanlogError {
    return new FanlogError('EFAILED', `journal ${this.dir} failed earlier (${this.#failure?.message}); reopen it`, { cause: this.#failure });
  }

  /** Writes a batch of queued entries (their frames in `bytes`), then syncs per policy and resolves them. */
  async #writeBatch(batch: PendingAppend[], bytes: Uint8Array): Promise<void> {
    await this.#writer.write(batch, bytes);
    this.entriesWritten.tally(batch.length);
    if (this.#policy === 'always') await this.#writer.sync();
    // Halted meanwhile (halt()): these entries are not known durable; they fail with the journal.
    if (this.#failure !== null) throw this.#failure;
    for (const pending of batch) pending.resolve(pending.lastSeq);
  }

  /** Fails the journal from outside (nothing more is written, queued appends reject, then EFAILED): an engine's MetaStore failed. */
  halt(cause: unknown): void {
    this.#fail(cause, []);
  }

  /** Fails the journal (the first failure stays), rejects `batch` and every queued append; returns the journal's failure. */
  #fail(error: unknown, batch: PendingAppend[]): FanlogError {
    const failure = fromIoError(error, this.#writer.active.path);
    this.#failure ??= failure;
    for (const pending of batch) pending.reject(failure);
    for (const pending of this.#batch.clear()) pending.reject(this.#failedError());
    return this.#failure;
  }

  /** Makes everything appended so far durable, whatever the policy; resolves with the durable seq (at least the headSeq of the call). */
  async sync(): Promise<Seq> {
    this.#checkUsable();
    const head = this.#assignedSeq;
    await this.#step(async () => {
      if (this.#failure !== null) throw this.#failedError();
      await this.#writer.sync();
    });
    // Every append before this call was drained by a step before this one.
    if (this.#writer.syncedSeq < head) assert.fail(`sync() resolved at ${this.#writer.syncedSeq}, before the head ${head} of its call`);
    return this.durableSeq;
  }

  /**
   * Streams records `from`..`to` in seq order, only ever durable ones, with
   * memory bounded by one read chunk whatever the journal size. Throws
   * EPURGED when `from` is older than `firstSeq`; the iterator rejects with
   * ECORRUPT if a frame fails its check on the way.
   */
  read(range: ReadRange = {}): JournalReader {
    this.#checkUsable(false);
    const { from, last } = resolveReadRange(range, this.firstSeq, this.durableSeq);
    if (last > this.durableSeq) assert.fail(`a read through ${last}, past the durable seq ${this.durableSeq}`);
    const segments = this.#writer.segments
      .filter((segment) => segment.lastSeq >= from && segment.firstSeq <= last)
      .map(({ name, path, bytes, index }) => ({ name, path, bytes, index }));
    return new JournalReader(this.#io, segments, from, last, { salt: this.#salt, saltedOnly: false });
  }

  /**
   * Deletes every whole segment whose records are all <= `throughSeq`,
   * except the newest; resolves with the number deleted, once the deletion
   * is durable. A purge mark is made durable first, so a crash part-way is
   * finished by recovery and a purged segment never comes back.
   */
  async purge(throughSeq: Seq): Promise<number> {
    this.#checkUsable();
    validateSeq('throughSeq', throughSeq);
    if (throughSeq > this.#assignedSeq) throw invalid(`cannot purge through ${throughSeq}: the head is ${this.#assignedSeq}`);
    return this.#step(async () => {
      if (this.#failure !== null) throw this.#failedError();
      return this.#writer.purge(throughSeq);
    });
  }

  /** Waits for queued appends, makes everything written durable (every policy), releases the directory; safe twice and after a failure. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#syncTimer !== null) clearInterval(this.#syncTimer);
    try {
      await this.#step(async () => {
        if (this.#failure === null) await this.#writer.sync();
      });
    } finally {
      await this.#writer.close();
      await this.#lock?.release().catch(() => undefined);
    }
  }
}
