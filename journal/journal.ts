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
 * Segment roll: the current segment is fdatasynced, whatever the policy,
 * so that only the newest can hold a torn tail; then `createSegment`, then
 * the recovery point is replaced (recovery-point.ts).
 *
 * Failure: a failed write or sync rejects the entries it was writing with
 * its EIO or ENOSPC, and every later call with EFAILED until the journal is
 * reopened. A sync is never retried: after a failed fsync the kernel may
 * already have dropped the dirty pages, so success on retry proves nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import { BatchGatherer, type PendingAppend } from './batch.js';
import type { ByteWriter } from './byte-writer.js';
import { encodePurgeFrame } from './frame.js';
import { JournalReader } from './reader.js';
import { checkHostPath, type Io, type IoFile, type IoLock } from './io.js';
import { addIndexPoint, recover, type RecoveryReport, type SegmentState } from './recovery.js';
import { createSegment } from './segment.js';
import { writeRecoveryPoint } from './recovery-point.js';
import { Serial } from './serial.js';
import { SlidingWindow } from './window.js';
import { checkPayloads, type JournalOptions, type ReadRange, resolveReadRange, type SyncPolicy, validateOptions, validateSeq } from './options.js';
export { SEGMENT_BYTES_MAX_LIMIT, SEGMENT_BYTES_MIN, type JournalOptions, type ReadRange, type SyncPolicy } from './options.js';
import { SEQ_MAX, type JournalId, type Seq } from './types.js';

export class Journal {
  private segments: SegmentState[];
  /** @internal For metrics: fdatasync latencies (ms) over the last minute. */
  readonly syncLatencies = new SlidingWindow();
  /** @internal For metrics: entries written over the last minute. */
  readonly entriesWritten = new SlidingWindow(60, undefined, false);
  private activeFile: IoFile;
  /** The entries appended since the last disk step, encoded in place (batch.ts). */
  private readonly batch = new BatchGatherer();
  private drainScheduled = false;
  /** Disk work (writes, syncs, rolls, purges, close), one step at a time. */
  private readonly disk = new Serial();
  private assignedSeq: Seq;
  private writtenSeq: Seq;
  private syncedSeqValue: Seq;
  private failure: FanlogError | null = null;
  private closed = false;
  private readonly syncTimer: NodeJS.Timeout | null;

  private constructor(
    readonly dir: string,
    readonly journalId: JournalId,
    private readonly io: Io,
    private readonly lock: IoLock | null,
    private readonly policy: SyncPolicy,
    syncIntervalMs: number,
    private readonly segmentBytesMax: number,
    segments: SegmentState[],
    activeFile: IoFile,
    /** What open() found and repaired (read only: what it would repair). */
    readonly recovery: RecoveryReport,
    /** Opened read only: see JournalOptions.readOnly. */
    readonly readOnly = false,
  ) {
    this.segments = segments;
    this.activeFile = activeFile;
    const head = this.active.lastSeq;
    this.assignedSeq = head;
    this.writtenSeq = head;
    this.syncedSeqValue = head;
    this.syncTimer =
      policy === 'interval' ? setInterval(() => void this.step(() => this.syncActive()).catch(() => undefined), syncIntervalMs) : null;
    this.syncTimer?.unref();
  }

  /**
   * Opens the journal in `dir`, creating it if empty, after recovering what a
   * crash left (see recovery.ts). Rejects with EBUSY while another open
   * journal holds the directory, ECORRUPT (with `file` and `offset`) on
   * damage recovery must not repair, EINVAL on bad options.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    checkHostPath('dir', dir);
    const { sync, syncIntervalMs, segmentBytesMax, io, readOnly } = validateOptions(options);
    let lock: IoLock | null = null;
    try {
      if (!readOnly) {
        await io.mkdirp(dir);
        lock = await io.lock(dir);
      }
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EBUSY') {
        throw new FanlogError('EBUSY', `journal ${dir} is already open: ${(error as Error).message}`, { file: dir, cause: error });
      }
      throw fromIoError(error, dir);
    }
    try {
      const recovered = await recover(io, dir, { repair: !readOnly });
      let journalId = recovered.journalId;
      const segments = recovered.segments;
      if (journalId === null) {
        if (readOnly) throw new FanlogError('ENOENT', `no journal in ${dir}`, { file: dir });
        journalId = randomBytes(8).readBigUInt64LE() || 1n;
        segments.push(await createSegment(io, dir, journalId, recovered.purgedThroughSeq + 1n));
      }
      const active = segments[segments.length - 1]!;
      const activeFile = await io.open(active.path, readOnly ? 'read' : 'readwrite');
      return new Journal(dir, journalId, io, lock, readOnly ? 'never' : sync, syncIntervalMs, segmentBytesMax, segments, activeFile, recovered.report, readOnly);
    } catch (error) {
      await lock?.release().catch(() => undefined);
      throw fromIoError(error, dir);
    }
  }

  /** The oldest retained record's seq; headSeq + 1 when none is retained. */
  get firstSeq(): Seq {
    return this.segments[0]!.firstSeq;
  }

  /** The last appended record's seq (0n when nothing was ever appended). */
  get headSeq(): Seq {
    return this.assignedSeq;
  }

  /** The last record known to be on disk ('never': handed to the OS). Readers see up to here. */
  get durableSeq(): Seq {
    return this.policy === 'never' ? this.writtenSeq : this.syncedSeqValue;
  }

  /** Bytes of the retained segment files. */
  get bytes(): number {
    return this.segments.reduce((total, segment) => total + segment.bytes, 0);
  }

  /** The last record known to be fsynced, whatever the policy: what a crash of the machine cannot take away. */
  get syncedSeq(): Seq {
    return this.syncedSeqValue;
  }

  /** True after an I/O failure: every call rejects with EFAILED until the journal is reopened. */
  get failed(): boolean {
    return this.failure !== null;
  }

  private get active(): SegmentState {
    return this.segments[this.segments.length - 1]!;
  }

  /** ECLOSED, EFAILED, or (to write) EROFS when the journal cannot be used so. */
  private checkUsable(write = true): void {
    if (this.closed) throw new FanlogError('ECLOSED', `journal ${this.dir} is closed`);
    if (write && this.readOnly) throw new FanlogError('EROFS', `journal ${this.dir} was opened read-only`);
    if (this.failure !== null) throw this.failedError();
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
    this.checkUsable();
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
    this.checkUsable();
    if (!(Number.isSafeInteger(count) && count >= 1)) throw invalid('an entry needs at least one record');
    if (typeof encode !== 'function') throw invalid('encode must be a function');
    if (this.assignedSeq + BigInt(count) > SEQ_MAX) throw new FanlogError('ENOSPC', 'sequence numbers are exhausted');
    const firstSeq = this.assignedSeq + 1n;
    const { start, end } = this.batch.encode(firstSeq, count, encode);
    this.assignedSeq += BigInt(count);
    const lastSeq = this.assignedSeq;
    return new Promise<Seq>((resolve, reject) => {
      this.batch.add({ start, end, firstSeq, lastSeq, resolve, reject });
      this.scheduleDrain();
    });
  }

  /** Runs disk work one step at a time, in call order. */
  private step<T>(work: () => Promise<T>): Promise<T> {
    return this.disk.run(work);
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    void this.step(async () => {
      this.drainScheduled = false;
      const { entries, bytes, release } = this.batch.take();
      if (this.failure !== null) {
        for (const pending of entries) pending.reject(this.failedError());
        return;
      }
      try {
        await this.writeBatch(entries, bytes);
      } catch (error) {
        this.fail(error, entries);
      } finally {
        // Written (or failed): the buffer serves the batch after next.
        release();
      }
    });
  }

  private failedError(): FanlogError {
    return new FanlogError('EFAILED', `journal ${this.dir} failed earlier (${this.failure?.message}); reopen it`, { cause: this.failure });
  }

  /** Writes a batch of queued entries (their frames in `bytes`), rolling segments as needed, then syncs per policy and resolves them. */
  private async writeBatch(batch: PendingAppend[], bytes: Uint8Array): Promise<void> {
    let run: PendingAppend[] = [];
    let runBytes = 0;
    for (const pending of batch) {
      const segmentHasRecords = this.active.hasRecords || run.length > 0;
      const frameBytes = pending.end - pending.start;
      if (segmentHasRecords && this.active.bytes + runBytes + frameBytes > this.segmentBytesMax) {
        await this.writeRun(run, bytes);
        run = [];
        runBytes = 0;
        await this.roll(pending.firstSeq);
      }
      run.push(pending);
      runBytes += frameBytes;
    }
    await this.writeRun(run, bytes);
    this.entriesWritten.tally(batch.length);
    if (this.policy === 'always') await this.syncActive();
    // Halted meanwhile (halt()): these entries are not known durable; they fail with the journal.
    if (this.failure !== null) throw this.failure;
    for (const pending of batch) pending.resolve(pending.lastSeq);
  }

  /** Writes consecutive entries into the active segment with one write, straight from the batch buffer. */
  private async writeRun(run: PendingAppend[], bytes: Uint8Array): Promise<void> {
    const last = run[run.length - 1];
    if (last === undefined) return;
    // Halted between two steps of a batch: write nothing more.
    if (this.failure !== null) throw this.failure;
    const segment = this.active;
    assert.equal(run[0]!.firstSeq, this.writtenSeq + 1n, 'entries are written in seq order without gaps');
    await this.activeFile.write(bytes.subarray(run[0]!.start, last.end), segment.bytes);
    for (const pending of run) {
      addIndexPoint(segment, pending.firstSeq, segment.bytes);
      segment.bytes += pending.end - pending.start;
    }
    segment.lastSeq = last.lastSeq;
    segment.hasRecords = true;
    this.writtenSeq = last.lastSeq;
  }

  private async syncActive(): Promise<void> {
    if (this.failure !== null || this.writtenSeq === this.syncedSeqValue) return;
    const target = this.writtenSeq;
    const started = performance.now();
    try {
      await this.activeFile.datasync();
      this.syncLatencies.record(performance.now() - started);
    } catch (error) {
      this.fail(error, []);
      throw this.failure;
    }
    this.syncedSeqValue = target;
  }

  /** Closes the full segment (durably) and starts the next. */
  private async roll(firstSeq: Seq): Promise<void> {
    await this.syncActive();
    if (this.failure !== null) throw this.failure;
    await this.activeFile.close();
    const segment = await createSegment(this.io, this.dir, this.journalId, firstSeq, () => this.failure);
    this.activeFile = await this.io.open(segment.path, 'readwrite');
    this.segments.push(segment);
    await writeRecoveryPoint(this.io, this.dir, this.journalId, this.segments.slice(0, -1));
  }

  /** Fails the journal from outside (nothing more is written, queued appends reject, then EFAILED): an engine's MetaStore failed. */
  halt(cause: unknown): void {
    this.fail(cause, []);
  }

  private fail(error: unknown, batch: PendingAppend[]): void {
    const failure = fromIoError(error, this.active.path);
    this.failure ??= failure;
    for (const pending of batch) pending.reject(failure);
    for (const pending of this.batch.clear()) pending.reject(this.failedError());
  }

  /** Makes everything appended so far durable, whatever the policy; resolves with the durable seq (at least the headSeq of the call). */
  async sync(): Promise<Seq> {
    this.checkUsable();
    await this.step(async () => {
      if (this.failure !== null) throw this.failedError();
      await this.syncActive();
    });
    return this.durableSeq;
  }

  /**
   * Streams records `from`..`to` in seq order, only ever durable ones, with
   * memory bounded by one read chunk whatever the journal size. Throws
   * EPURGED when `from` is older than `firstSeq`; the iterator rejects with
   * ECORRUPT if a frame fails its check on the way.
   */
  read(range: ReadRange = {}): JournalReader {
    this.checkUsable(false);
    const { from, last } = resolveReadRange(range, this.firstSeq, this.durableSeq);
    const segments = this.segments
      .filter((segment) => segment.lastSeq >= from && segment.firstSeq <= last)
      .map(({ name, path, bytes, index }) => ({ name, path, bytes, index }));
    return new JournalReader(this.io, segments, from, last);
  }

  /**
   * Deletes every whole segment whose records are all <= `throughSeq`,
   * except the newest; resolves with the number deleted, once the deletion
   * is durable. A purge mark is made durable first, so a crash part-way is
   * finished by recovery and a purged segment never comes back.
   */
  async purge(throughSeq: Seq): Promise<number> {
    this.checkUsable();
    validateSeq('throughSeq', throughSeq);
    if (throughSeq > this.assignedSeq) throw invalid(`cannot purge through ${throughSeq}: the head is ${this.assignedSeq}`);
    return this.step(async () => {
      if (this.failure !== null) throw this.failedError();
      let count = 0;
      while (count < this.segments.length - 1 && this.segments[count]!.lastSeq <= throughSeq) count++;
      if (count === 0) return 0;
      const doomed = this.segments.slice(0, count);
      try {
        this.active.purgeMark = doomed[count - 1]!.lastSeq;
        const mark = encodePurgeFrame(this.active.purgeMark);
        await this.activeFile.write(mark, this.active.bytes);
        this.active.bytes += mark.length;
        await this.activeFile.datasync();
        this.syncedSeqValue = this.writtenSeq;
        for (const segment of doomed) await this.io.unlink(segment.path);
        await this.io.syncDir(this.dir);
      } catch (error) {
        this.fail(error, []);
        throw this.failure;
      }
      this.segments.splice(0, count);
      return count;
    });
  }

  /** Waits for queued appends, makes everything written durable (every policy), releases the directory; safe twice and after a failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.syncTimer !== null) clearInterval(this.syncTimer);
    try {
      await this.step(async () => {
        if (this.failure === null) await this.syncActive();
      });
    } finally {
      await this.activeFile.close().catch(() => undefined);
      await this.lock?.release().catch(() => undefined);
    }
  }
}
