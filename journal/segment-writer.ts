/**
 * The segment files of an open journal, as the journal writes them: the
 * retained segments in seq order, the newest open for appends, and how far
 * records are written and synced.
 *
 * A batch's entries are written straight from the buffer they were
 * gathered in (batch.ts), consecutive entries with one write. Before an
 * entry would take a segment that holds records past `segmentBytesMax`,
 * the segment rolls: it is fdatasynced, whatever the sync policy, so that
 * only the newest can hold a torn tail; then the next is created
 * (`createSegment`) and the recovery point replaced (recovery-point.ts). A
 * purge writes and syncs its mark into the newest segment before it
 * deletes the segments below it.
 *
 * Under the 'always' policy (`zeroAhead`), the newest segment is written
 * into zeros written ahead of it, and a segment is cut to its data when it
 * is sealed or closed (zero-tail.ts): a commit's fdatasync then rarely
 * changes the file's size. A write into those zeros may reach the disk page
 * by page in no order, so it is synced before the next write starts: at
 * most one write is ever in flight, the one recovery excuses (frame.ts
 * batch delta). A batch is one write, or more when batch.ts split it
 * (`startsWrite`), each synced before the next.
 *
 * The journal (journal.ts) decides when each step runs, one at a time, and
 * owns the failure: a step meets a failure through `halted` before it
 * writes, and hands a failed sync or purge to `fail`, which fails the
 * journal and says what to throw.
 */
import assert from 'node:assert/strict';
import type { FanlogError } from '../errors.js';
import type { PendingAppend } from './batch.js';
import { encodePurgeFrame } from './frame.js';
import type { Io, IoFile } from './io.js';
import { writeRecoveryPoint } from './recovery-point.js';
import { addIndexPoint, createSegment, type SegmentState } from './segment.js';
import type { JournalId, Seq } from './types.js';
import type { SlidingWindow } from './window.js';
import { ZERO_AHEAD_BYTES, zeros } from './zero-tail.js';

/** What the writer shares with its journal. */
export interface WriterContext {
  io: Io;
  dir: string;
  journalId: JournalId;
  segmentBytesMax: number;
  /** Write into zeros written ahead (zero-tail.ts): only where every write is synced before the next ('always'). */
  zeroAhead: boolean;
  /** The checksum seed of the journal's frames (frame.ts `frameSalt`). */
  salt: number;
  /** Where fdatasync latencies (ms) are recorded, for metrics. */
  syncLatencies: SlidingWindow;
  /** The journal's failure, once it failed (or was halted); null while it is sound. */
  halted(): FanlogError | null;
  /** Fails the journal with `error` (a failed sync or purge); returns the failure to throw. */
  fail(error: unknown): FanlogError;
}

export class SegmentWriter {
  readonly #context: WriterContext;
  #segments: SegmentState[];
  #activeFile: IoFile;
  // Sequence numbers only ever grow, and the synced one never passes the written one.
  #writtenSeq: Seq;
  #syncedSeq: Seq;
  /** How far the active segment's file is known to hold bytes (data, then zeros written ahead). */
  #zeroedTo: number;
  /** The disk had no room for zeros ahead of the active segment's data (see #zeroAhead); reset by a roll. */
  #noRoomForZeros = false;

  /**
   * Writes after the last of `segments` (as recovery left them), through
   * `activeFile`, open on it, of `fileBytes` bytes: past the data, zeros
   * (recovery took any other bytes there for a torn tail and cut them).
   */
  constructor(context: WriterContext, segments: SegmentState[], activeFile: IoFile, fileBytes: number) {
    const active = segments[segments.length - 1];
    if (active === undefined) assert.fail(`journal ${context.dir} has no segment to write into`);
    this.#context = context;
    this.#segments = segments;
    this.#activeFile = activeFile;
    this.#writtenSeq = active.lastSeq;
    this.#syncedSeq = active.lastSeq;
    // Without zeroAhead, the journal's open cut any zero tail (open.ts).
    if (!context.zeroAhead && fileBytes !== active.bytes) assert.fail(`${active.path} holds ${fileBytes} bytes past its data, and is not zeroed ahead`);
    this.#zeroedTo = fileBytes;
  }

  /** Every retained segment, oldest first; the last is the one written. */
  get segments(): readonly SegmentState[] {
    return this.#segments;
  }

  get active(): SegmentState {
    return this.#segments[this.#segments.length - 1]!;
  }

  /** The last record written to the OS. */
  get writtenSeq(): Seq {
    return this.#writtenSeq;
  }

  /** The last record fdatasynced. */
  get syncedSeq(): Seq {
    return this.#syncedSeq;
  }

  /** Writes a batch of entries (their frames in `bytes`, back to back), rolling segments as needed; syncs only on a roll. */
  async write(batch: PendingAppend[], bytes: Uint8Array): Promise<void> {
    let run: PendingAppend[] = [];
    let runBytes = 0;
    let previous: PendingAppend | undefined;
    // At most one write into the zeros is ever in flight (see the header).
    if (this.#context.zeroAhead && this.#syncedSeq !== this.#writtenSeq)
      assert.fail(`a write after ${this.#writtenSeq}, synced only through ${this.#syncedSeq}`);
    for (const pending of batch) {
      // The batch's frames lie back to back, in seq order, as one write reads them.
      if (previous !== undefined && (pending.start !== previous.end || pending.firstSeq !== previous.lastSeq + 1n)) {
        assert.fail(`entry ${pending.firstSeq} does not follow ${previous.lastSeq}`);
      }
      // A write into the zeros is synced before the next starts (see the header).
      if (pending.startsWrite && run.length > 0) {
        await this.#writeRun(run, bytes);
        run = [];
        runBytes = 0;
        if (this.#context.zeroAhead) await this.sync();
      }
      previous = pending;
      const segmentHasRecords = this.active.hasRecords || run.length > 0;
      const frameBytes = pending.end - pending.start;
      if (segmentHasRecords && this.active.bytes + runBytes + frameBytes > this.#context.segmentBytesMax) {
        await this.#writeRun(run, bytes);
        run = [];
        runBytes = 0;
        await this.#roll(pending.firstSeq);
      }
      run.push(pending);
      runBytes += frameBytes;
    }
    await this.#writeRun(run, bytes);
    if (this.#writtenSeq !== previous?.lastSeq) assert.fail(`a batch through ${previous?.lastSeq} left the written seq at ${this.#writtenSeq}`);
  }

  /** Writes consecutive entries into the active segment with one write, straight from the batch buffer. */
  async #writeRun(run: PendingAppend[], bytes: Uint8Array): Promise<void> {
    const last = run[run.length - 1];
    if (last === undefined) return;
    // Halted between two steps of a batch: write nothing more.
    const failure = this.#context.halted();
    if (failure !== null) throw failure;
    const segment = this.active;
    assert.equal(run[0]!.firstSeq, this.#writtenSeq + 1n, 'entries are written in seq order without gaps');
    assert.equal(segment.lastSeq, this.#writtenSeq, 'the active segment ends with the last record written');
    const end = segment.bytes + (last.end - run[0]!.start);
    await this.#activeFile.write(bytes.subarray(run[0]!.start, last.end), segment.bytes);
    await this.#zeroAhead(end);
    for (const pending of run) {
      addIndexPoint(segment, pending.firstSeq, segment.bytes);
      segment.bytes += pending.end - pending.start;
    }
    segment.lastSeq = last.lastSeq;
    segment.hasRecords = true;
    this.#writtenSeq = last.lastSeq;
  }

  /**
   * Keeps the bytes after `end` zero-filled (zero-tail.ts): when `end`
   * reaches past what was zeroed, writes zeros after it, up to
   * ZERO_AHEAD_BYTES more but not past the segment's size limit; the next
   * sync makes them durable with the data. Zeros are an optimisation, never
   * a reason to fail: when the disk has no room for them (ENOSPC), what was
   * written of them is cut off again and the segment grows with its data,
   * without zeros, until it rolls.
   */
  async #zeroAhead(end: number): Promise<void> {
    if (!this.#context.zeroAhead || this.#noRoomForZeros || end <= this.#zeroedTo) return;
    const target = Math.min(end + ZERO_AHEAD_BYTES, this.#context.segmentBytesMax);
    try {
      if (target > end) await this.#activeFile.write(zeros(target - end), end);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOSPC') throw error;
      await this.#activeFile.truncate(end);
      this.#noRoomForZeros = true;
      this.#zeroedTo = end;
      return;
    }
    this.#zeroedTo = Math.max(end, target);
  }

  /** Cuts the active segment to its data, durably, when zeros were written after it (before it is sealed or closed). */
  async #cutZeros(): Promise<void> {
    const active = this.active;
    if (this.#zeroedTo <= active.bytes) return;
    await this.#activeFile.truncate(active.bytes);
    await this.#activeFile.datasync();
    this.#zeroedTo = active.bytes;
  }

  /** Makes what was written durable (fdatasync of the active segment); nothing once the journal failed. */
  async sync(): Promise<void> {
    // What is synced was written first: the synced seq never passes the written one, so a sync only moves it forward.
    if (this.#syncedSeq > this.#writtenSeq) assert.fail(`synced through ${this.#syncedSeq}, but written through ${this.#writtenSeq}`);
    if (this.#context.halted() !== null || this.#writtenSeq === this.#syncedSeq) return;
    const target = this.#writtenSeq;
    const started = performance.now();
    try {
      await this.#activeFile.datasync();
      this.#context.syncLatencies.record(performance.now() - started);
    } catch (error) {
      throw this.#context.fail(error);
    }
    if (target < this.#syncedSeq) assert.fail(`the synced seq would go back from ${this.#syncedSeq} to ${target}`);
    this.#syncedSeq = target;
  }

  /** Closes the full segment (durably) and starts the next, at `firstSeq`. */
  async #roll(firstSeq: Seq): Promise<void> {
    // A segment rolls only once it holds records, and the next starts right after the last of them.
    assert.ok(this.active.hasRecords, 'only a segment that holds records rolls');
    if (firstSeq !== this.#writtenSeq + 1n) assert.fail(`a roll to ${firstSeq} after seq ${this.#writtenSeq}`);
    await this.sync();
    const failure = this.#context.halted();
    if (failure !== null) throw failure;
    // Sealed as it was before zero tails: only the newest segment ever has one.
    try {
      await this.#cutZeros();
    } catch (error) {
      throw this.#context.fail(error);
    }
    const { io, dir, journalId } = this.#context;
    await this.#activeFile.close();
    const segment = await createSegment(io, dir, journalId, firstSeq, () => this.#context.halted());
    this.#activeFile = await io.open(segment.path, 'readwrite');
    this.#zeroedTo = segment.bytes;
    this.#noRoomForZeros = false;
    this.#segments.push(segment);
    await writeRecoveryPoint(io, dir, journalId, this.#segments.slice(0, -1));
  }

  /**
   * Deletes every whole segment whose records are all <= `throughSeq`,
   * except the newest, once a purge mark saying so is durable in the
   * newest; resolves with the number deleted, once the deletion is durable.
   */
  async purge(throughSeq: Seq): Promise<number> {
    let count = 0;
    while (count < this.#segments.length - 1 && this.#segments[count]!.lastSeq <= throughSeq) count++;
    if (count === 0) return 0;
    const doomed = this.#segments.slice(0, count);
    const active = this.active;
    const mark = doomed[count - 1]!.lastSeq;
    // Purge marks only grow, and never pass the last record written: recovery would call that damage (recovery-cases.ts).
    if (mark <= active.purgeMark) assert.fail(`purge mark ${mark} after ${active.purgeMark}`);
    if (mark > this.#writtenSeq) assert.fail(`purge mark ${mark}, with records written through ${this.#writtenSeq}`);
    try {
      active.purgeMark = mark;
      const frame = encodePurgeFrame(mark, this.#context.salt);
      await this.#activeFile.write(frame, active.bytes);
      active.bytes += frame.length;
      await this.#zeroAhead(active.bytes);
      await this.#activeFile.datasync();
      this.#syncedSeq = this.#writtenSeq;
      for (const segment of doomed) await this.#context.io.unlink(segment.path);
      await this.#context.io.syncDir(this.#context.dir);
    } catch (error) {
      throw this.#context.fail(error);
    }
    this.#segments.splice(0, count);
    return count;
  }

  /**
   * Closes the active segment's file, cut to its data unless the journal
   * failed (a failed journal writes nothing more; recovery takes the zeros
   * as the end). Its errors are of no use after a close.
   */
  async close(): Promise<void> {
    if (this.#context.halted() === null) await this.#cutZeros().catch(() => undefined);
    await this.#activeFile.close().catch(() => undefined);
  }
}
