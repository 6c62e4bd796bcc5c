/**
 * JournalReader: the iterator `Journal.read` returns, and the visitor walk
 * beneath it.
 *
 * It walks a snapshot of the segments taken when the read started, frame by
 * frame through a FrameScanner (so every frame's checksum is verified as it
 * is read), and within a frame record by record, with plain byte
 * arithmetic: no object per record. Two ways to read:
 *
 *   `each(visit)`   calls `visit(buffer, start, end)` for every record in
 *                   range, in order, synchronously across all the frames
 *                   already read (one await per chunk, not per record),
 *                   until `visit` returns false; `visitingSeq()` is the seq
 *                   of the record being visited. A consumer reads this way,
 *                   and keeps one reader across its reads.
 *   async iterator  `{ seq, payload }` per record, `payload` a view: built
 *                   on `each`, a frame's records at a time, so handing out a
 *                   record costs one resolved promise.
 *
 * Memory: two read chunks (the one walked and the next, read ahead; or a
 * frame, if larger), whatever the journal size. Record bytes are views into the chunk they were read in; every
 * chunk is a fresh buffer, so they stay valid (and keep their chunk alive)
 * for as long as they are referenced.
 */
import assert from 'node:assert/strict';
import { corrupt, FanlogError, fromIoError } from '../errors.js';
import { FRAME_HEADER_BYTES, FRAME_KIND_PURGE, type FrameCheck, frameSeqAt, RECORD_HEADER_BYTES, readU32 } from './frame.js';
import type { Io, IoFile } from './io.js';
import { Serial } from './serial.js';
import { FrameScanner, SEGMENT_HEADER_BYTES, type SegmentState } from './segment.js';
import type { ByteOffset, Seq } from './types.js';

export interface JournalRecord {
  seq: Seq;
  /** A view of the record's bytes; valid for as long as it is referenced. */
  payload: Uint8Array;
}

/** Sees one record's bytes, `buffer[start, end)`; returns false to stop after it. */
export type RecordVisitor = (buffer: Uint8Array, start: number, end: number) => boolean;

/** What a reader needs of a segment, frozen when the read starts. */
export interface SegmentSnapshot {
  name: string;
  path: string;
  /** Bytes of whole frames written when the read started. */
  bytes: ByteOffset;
  index: SegmentState['index'];
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
const EMPTY = new Uint8Array(0);

export class JournalReader implements AsyncIterableIterator<JournalRecord> {
  // The records frame being walked: its buffer, the next record's header
  // offset in it, its first seq, the index of the next record in it, and
  // the index after the last one in range.
  #frameBuffer: Uint8Array = EMPTY;
  #recordAt = 0;
  #frameSeq = 0n;
  #index = 0;
  #stopIndex = 0;
  /** The range ends within the frame being walked. */
  #lastFrame = false;
  #segmentIndex = 0;
  #file: IoFile | null = null;
  #scanner: FrameScanner | null = null;
  readonly #check: FrameCheck;
  /** Walks (each(), the iterator's refills) run one at a time. */
  readonly #walks = new Serial();
  #finished = false;
  // The async iterator's records of one frame.
  #records: JournalRecord[] = [];
  #at = 0;
  readonly #io: Io;
  readonly #segments: SegmentSnapshot[];
  readonly #from: Seq;
  /**
   * The range as numbers, when every seq in it is a safe integer (as every
   * journal's are, short of 2^53 records): a frame is placed in the range
   * without a bigint per comparison. Null: the bigint arithmetic instead.
   */
  readonly #range: { from: number; last: number } | null;

  /** @internal `journal.read()` makes readers. */
  constructor(
    io: Io,
    segments: SegmentSnapshot[],
    from: Seq,
    /** The last seq of the range. */
    readonly last: Seq,
    /** How frames' checksums are checked: the journal's salt, or format 1's seed (frame.ts). */
    check: FrameCheck,
  ) {
    this.#check = check;
    this.#io = io;
    this.#segments = segments;
    this.#from = from;
    // With room for a frame's count past `last`: a frame that starts in range ends below 2^53 + 2^32.
    this.#range = last < BigInt(Number.MAX_SAFE_INTEGER) - 0x1_0000_0000n ? { from: Number(from), last: Number(last) } : null;
  }

  /** Every record in range was visited (or the reader was closed). */
  get exhausted(): boolean {
    return this.#finished;
  }

  /** The seq of the record being visited (in a visitor), or of the last one visited. */
  visitingSeq(): Seq {
    return this.#frameSeq + BigInt(this.#index - 1);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<JournalRecord>> {
    if (this.#at < this.#records.length) return Promise.resolve({ value: this.#records[this.#at++]!, done: false });
    return this.#walks.run(async () => {
      if (this.#at < this.#records.length) return { value: this.#records[this.#at++]!, done: false };
      const records: JournalRecord[] = [];
      // One bigint per record: the first seq of a frame, then one more each (visitingSeq makes two).
      let seq = -1n;
      let frame: Uint8Array | null = null;
      await this.#walk((buffer, start, end) => {
        if (frame === buffer && this.#index > 1) seq += 1n;
        else {
          frame = buffer;
          seq = this.visitingSeq();
        }
        records.push({ seq, payload: buffer.subarray(start, end) });
        return true;
      }, true);
      this.#records = records;
      this.#at = 0;
      return records.length === 0 ? DONE : { value: records[this.#at++]!, done: false };
    });
  }

  /**
   * Visits records in order until `visit` returns false or the range is
   * exhausted (then resolves true). Calls on one reader run one at a time.
   */
  each(visit: RecordVisitor): Promise<boolean> {
    return this.#walks.run(() => this.#walk(visit, false));
  }

  async return(): Promise<IteratorResult<JournalRecord>> {
    this.#records = [];
    this.#at = 0;
    await this.close();
    return DONE;
  }

  /** Stops the read and closes its file. */
  async close(): Promise<void> {
    this.#finished = true;
    this.#stopIndex = this.#index;
    await this.#closeSegment();
  }

  /**
   * Visits until `visit` stops (false) or the range is exhausted (true).
   * `chunkAtATime`: once some record was visited, stop (false) rather than
   * wait for the next chunk, so an iterator's caller gets what was read.
   */
  async #walk(visit: RecordVisitor, chunkAtATime: boolean): Promise<boolean> {
    let visited = false;
    try {
      for (;;) {
        if (this.#index < this.#stopIndex) {
          visited = true;
          if (!this.#visitFrame(visit)) return false;
          continue;
        }
        if (this.#lastFrame || this.#finished) break;
        const entered = await this.#enterNextFrame(chunkAtATime && visited);
        if (entered === 'later') return false;
        if (!entered) break;
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    await this.close();
    return true;
  }

  /** Visits the current frame's records in range; false when `visit` stopped. */
  #visitFrame(visit: RecordVisitor): boolean {
    const buffer = this.#frameBuffer;
    while (this.#index < this.#stopIndex) {
      const start = this.#recordAt + RECORD_HEADER_BYTES;
      const end = start + readU32(buffer, this.#recordAt);
      this.#recordAt = end;
      this.#index++;
      if (!visit(buffer, start, end)) return false;
    }
    return true;
  }

  /**
   * Moves to the next records frame holding records in range; false when
   * there is none; 'later' when `onlyBuffered` and the next frame is not read yet.
   */
  async #enterNextFrame(onlyBuffered: boolean): Promise<boolean | 'later'> {
    const from = this.#from;
    const last = this.last;
    for (;;) {
      const scanner = this.#scanner ?? (await this.#openNextSegment());
      if (scanner === null) return false;
      const step = onlyBuffered ? scanner.nextBuffered() : await scanner.next();
      if (step === null) return 'later';
      if (step.kind === 'end') {
        await this.#closeSegment();
        continue;
      }
      if (step.kind === 'damage') throw corrupt(this.#segments[this.#segmentIndex - 1]!.path, step.offset, step.damage);
      const { buffer, at } = step;
      if (buffer[at + 8] === FRAME_KIND_PURGE) continue;
      const count = readU32(buffer, at + 12);
      const seq = frameSeqAt(buffer, at);
      const placed = this.#place(seq, count, from, last);
      if (placed === 'before') continue;
      if (placed === 'after') return false;
      // Records before `from` are stepped over; the range may end inside the frame.
      const { skip, lastIndex } = placed;
      this.#frameBuffer = buffer;
      this.#frameSeq = seq;
      this.#recordAt = at + FRAME_HEADER_BYTES;
      for (let i = 0; i < skip; i++) this.#recordAt += RECORD_HEADER_BYTES + readU32(buffer, this.#recordAt);
      // The scanner checked the frame whole (checkFrame), so the records stepped over end inside it.
      if (this.#recordAt >= at + readU32(buffer, at)) assert.fail(`stepping over ${skip} records of the frame at seq ${seq} left it`);
      this.#index = skip;
      this.#stopIndex = lastIndex + 1;
      this.#lastFrame = placed.lastFrame;
      return true;
    }
  }

  /**
   * Where the frame of `count` records at `seq` lies against the range
   * from..last: wholly before, wholly after, or the indexes of its first
   * and last records in range, and whether the range ends in it. In numbers
   * when the range allows (#range), else in bigints: the same answers.
   */
  #place(seq: Seq, count: number, from: Seq, last: Seq): 'before' | 'after' | { skip: number; lastIndex: number; lastFrame: boolean } {
    if (seq > last) return 'after';
    const range = this.#range;
    let skip: number;
    let lastIndex: number;
    let lastFrame: boolean;
    if (range !== null) {
      const at = Number(seq);
      if (at + count <= range.from) return 'before';
      skip = range.from > at ? range.from - at : 0;
      lastIndex = at + count - 1 <= range.last ? count - 1 : range.last - at;
      lastFrame = at + lastIndex === range.last;
    } else {
      if (seq + BigInt(count) <= from) return 'before';
      skip = from > seq ? Number(from - seq) : 0;
      lastIndex = seq + BigInt(count - 1) <= last ? count - 1 : Number(last - seq);
      lastFrame = seq + BigInt(lastIndex) === last;
    }
    // What is visited lies in the frame, and in range: never past `last`, the durable seq at most.
    if (lastIndex >= count || skip >= count || lastIndex < 0)
      assert.fail(`records ${skip}..${lastIndex} of a frame of ${count} at seq ${seq}, reading through ${last}`);
    return { skip, lastIndex, lastFrame };
  }

  async #closeSegment(): Promise<void> {
    const file = this.#file;
    const scanner = this.#scanner;
    this.#file = null;
    this.#scanner = null;
    await scanner?.settle();
    await file?.close().catch(() => undefined);
  }

  async #openNextSegment(): Promise<FrameScanner | null> {
    // A segment is opened only once the one before was closed: one file and one scanner at a time.
    if (this.#file !== null || this.#scanner !== null) assert.fail('a reader opened a segment with another still open');
    const segment = this.#segments[this.#segmentIndex++];
    if (segment === undefined) return null;
    try {
      this.#file = await this.#io.open(segment.path, 'read');
    } catch (error) {
      const mapped = fromIoError(error, segment.path);
      if (mapped.code === 'ENOENT') throw new FanlogError('EPURGED', `${segment.name} was purged during the read`);
      throw mapped;
    }
    const start = startOffset(segment, this.#from);
    if (start < SEGMENT_HEADER_BYTES || start > segment.bytes) assert.fail(`${segment.path}: a read starts at ${start}, outside its ${segment.bytes} bytes`);
    this.#scanner = new FrameScanner(this.#file, start, segment.bytes, this.#check);
    return this.#scanner;
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
