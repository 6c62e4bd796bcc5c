/**
 * The batch being gathered between two disk steps of the journal: the
 * frames of the entries appended since the last drain, back to back in one
 * buffer, exactly as the write will read them, and the callers waiting on
 * each. Records are encoded straight into it (frame.ts `encodeFrameInto`).
 *
 * Each frame names the write that will carry it (frame.ts batch delta): the
 * records of the batch before it. A batch is one write, unless it holds so
 * many records that a delta would pass BATCH_DELTA_MAX: the entry there
 * starts another (`startsWrite`).
 *
 * Two buffers alternate: `take()` hands the gathered one to the disk step
 * and starts the next batch in the other; `release()`, once the write is
 * done, makes it the spare. So the buffer being written is never touched,
 * and a steady load allocates no buffer at all.
 */
import assert from 'node:assert/strict';
import { ByteWriter } from './byte-writer.js';
import { BATCH_DELTA_MAX, encodeFrameInto, FRAME_KIND_RECORDS } from './frame.js';
import type { Seq } from './types.js';

/** An entry in a batch: where its frame lies in the batch's bytes, its seqs, and its caller. */
export interface PendingAppend {
  start: number;
  end: number;
  firstSeq: Seq;
  lastSeq: Seq;
  /** Its frame starts a write of its own (frame.ts batch delta): the writer syncs what came before it first. */
  startsWrite: boolean;
  resolve: (seq: Seq) => void;
  reject: (error: unknown) => void;
}

/** A buffer larger than this after its write is dropped rather than kept for the batch after next. */
const SPARE_BUFFER_BYTES_MAX = 8 * 1024 * 1024;

/** A batch taken for writing: its entries in order, their frames, and how to give the buffer back. */
export interface TakenBatch {
  entries: PendingAppend[];
  bytes: Uint8Array;
  release: () => void;
}

export class BatchGatherer {
  #entries: PendingAppend[] = [];
  /** The checksum seed of the journal's frames (frame.ts). */
  readonly #salt: number;

  constructor(salt: number) {
    this.#salt = salt;
  }

  #fill = new ByteWriter();
  #spare: ByteWriter | null = null;
  /** The seq the batch's current write starts with; null while the batch is empty. */
  #writeStart: Seq | null = null;

  /**
   * Encodes an entry of `count` records, the first of seq `firstSeq`, into
   * the batch (see encodeFrameInto); returns where its frame lies. If
   * `encode` throws, the batch is as it was and the error goes on.
   */
  encode(firstSeq: Seq, count: number, encode: (out: ByteWriter, index: number) => void): { start: number; end: number; startsWrite: boolean } {
    // The buffer holds exactly the frames of the entries gathered: the next starts where the last ends.
    if (this.#fill.length !== (this.#entries[this.#entries.length - 1]?.end ?? 0)) assert.fail('a batch buffer holds bytes of no entry');
    const delta = this.#writeStart === null ? null : firstSeq - this.#writeStart;
    const startsWrite = delta === null || delta > BigInt(BATCH_DELTA_MAX);
    const start = encodeFrameInto(this.#fill, FRAME_KIND_RECORDS, firstSeq, count, encode, startsWrite ? 0 : Number(delta), this.#salt);
    if (startsWrite) this.#writeStart = firstSeq;
    return { start, end: this.#fill.length, startsWrite };
  }

  /** The caller of the entry just encoded, waiting for it. */
  add(pending: PendingAppend): void {
    if (pending.end !== this.#fill.length) assert.fail('an entry is added right after it is encoded');
    this.#entries.push(pending);
  }

  /** Takes the batch gathered so far for writing; the next one starts in the other buffer. */
  take(): TakenBatch {
    const entries = this.#entries;
    const gathered = this.#fill;
    this.#entries = [];
    this.#writeStart = null;
    this.#fill = this.#spare ?? new ByteWriter();
    this.#spare = null;
    return {
      entries,
      bytes: gathered.buffer,
      release: () => {
        // One batch is written at a time: its buffer comes back before the next is taken.
        if (this.#spare !== null) assert.fail('two batch buffers were released at once');
        gathered.truncate(0);
        if (gathered.buffer.length <= SPARE_BUFFER_BYTES_MAX) this.#spare = gathered;
      },
    };
  }

  /** Drops everything gathered (the journal failed); returns the callers to tell. */
  clear(): PendingAppend[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#writeStart = null;
    this.#fill.truncate(0);
    return entries;
  }
}
