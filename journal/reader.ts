/**
 * JournalReader: the iterator `Journal.read` returns.
 *
 * It walks a snapshot of the segments taken when the read started, frame by
 * frame through a FrameScanner (so every frame's checksum is verified as it
 * is read), and hands out the records of one frame at a time. It is a plain
 * async iterator rather than an async generator: handing out an already
 * decoded record then costs one resolved promise, which more than doubles
 * the records read per second.
 *
 * Memory: one read chunk (or one frame, if larger) plus the decoded records
 * of one frame, whatever the journal size. Payloads are views into the chunk
 * they were read in, which stays alive while any of them is referenced.
 */
import { corrupt, FanlogError, fromIoError } from '../errors.js';
import { FRAME_KIND_PURGE, forEachRecord, readFrameHeader } from './frame.js';
import type { Io, IoFile } from './io.js';
import type { SegmentState } from './recovery.js';
import { FrameScanner, SEGMENT_HEADER_BYTES } from './segment.js';
import type { ByteOffset, Seq } from './types.js';

export interface JournalRecord {
  seq: Seq;
  /** A view of the record's bytes; valid for as long as it is referenced. */
  payload: Uint8Array;
}

/** What a reader needs of a segment, frozen when the read starts. */
export interface SegmentSnapshot {
  name: string;
  path: string;
  /** Bytes of whole frames written when the read started. */
  bytes: ByteOffset;
  index: SegmentState['index'];
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

export class JournalReader implements AsyncIterableIterator<JournalRecord> {
  private records: JournalRecord[] = [];
  private at = 0;
  private segmentIndex = 0;
  private file: IoFile | null = null;
  private scanner: FrameScanner | null = null;
  private filling: Promise<IteratorResult<JournalRecord>> | null = null;
  private finished = false;

  constructor(
    private readonly io: Io,
    private readonly segments: SegmentSnapshot[],
    private readonly from: Seq,
    private readonly last: Seq,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<JournalRecord>> {
    if (this.at < this.records.length) return Promise.resolve({ value: this.records[this.at++]!, done: false });
    // Callers that do not wait for one next() before the next are served in order.
    if (this.filling !== null) return this.filling.then(() => this.next());
    this.filling = this.fill().finally(() => {
      this.filling = null;
    });
    return this.filling;
  }

  async return(): Promise<IteratorResult<JournalRecord>> {
    this.records = [];
    this.at = 0;
    await this.finish();
    return DONE;
  }

  private async finish(): Promise<void> {
    this.finished = true;
    await this.closeSegment();
  }

  /**
   * Reads frames until some hold records in range, or the range is
   * exhausted. Having found some, it keeps taking frames that are already
   * buffered, so a chunk of small entries costs one await, not one per entry.
   */
  private async fill(): Promise<IteratorResult<JournalRecord>> {
    const records: JournalRecord[] = [];
    const { from, last } = this;
    const take = (seq: Seq, payload: Uint8Array): void => {
      if (seq >= from && seq <= last) records.push({ seq, payload });
    };
    try {
      while (!this.finished) {
        const scanner = this.scanner ?? (await this.openNextSegment());
        if (scanner === null) break;
        const step = records.length === 0 ? await scanner.next() : scanner.nextBuffered();
        if (step === null) break; // records in hand; the next chunk can wait for the next call
        if (step.kind === 'end') {
          await this.closeSegment();
          continue;
        }
        if (step.kind === 'damage') throw corrupt(this.segments[this.segmentIndex - 1]!.path, step.offset, step.damage);
        const header = readFrameHeader(step.buffer, step.at);
        if (header.kind === FRAME_KIND_PURGE || header.seq + BigInt(header.recordCount) <= from) continue;
        if (header.seq > last) {
          await this.finish();
          break;
        }
        forEachRecord(step.buffer, step.at, take);
      }
    } catch (error) {
      await this.finish();
      throw error;
    }
    if (records.length === 0) {
      await this.finish();
      return DONE;
    }
    this.records = records;
    this.at = 1;
    return { value: records[0]!, done: false };
  }

  private async closeSegment(): Promise<void> {
    const file = this.file;
    this.file = null;
    this.scanner = null;
    await file?.close().catch(() => undefined);
  }

  private async openNextSegment(): Promise<FrameScanner | null> {
    const segment = this.segments[this.segmentIndex++];
    if (segment === undefined) return null;
    try {
      this.file = await this.io.open(segment.path, 'read');
    } catch (error) {
      const mapped = fromIoError(error, segment.path);
      if (mapped.code === 'ENOENT') throw new FanlogError('EPURGED', `${segment.name} was purged during the read`);
      throw mapped;
    }
    this.scanner = new FrameScanner(this.file, startOffset(segment, this.from), segment.bytes);
    return this.scanner;
  }
}

/** The byte offset of the last index point at or before `seq` in a segment. */
function startOffset(segment: SegmentSnapshot, seq: Seq): ByteOffset {
  let low = 0;
  let high = segment.index.length - 1;
  let best = SEGMENT_HEADER_BYTES;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const point = segment.index[middle]!;
    if (point.seq <= seq) {
      best = point.offset;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return best;
}
