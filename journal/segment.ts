/**
 * Segment files: the journal is a directory of them, each a header followed
 * by entry frames (see frame.ts), named for the seq of their first record.
 *
 * File name: `<firstSeq as 20 decimal digits>.seg`, so names sort in seq order.
 *
 * Header layout (40 bytes, integers little-endian):
 *
 *   offset  size  field
 *   0       8     magic "FANLOGJ\n"
 *   8       4     formatVersion: 2 (1: before frames named their write;
 *                 both are read, frame.ts)
 *   12      4     headerBytes (40)
 *   16      8     journalId
 *   24      8     firstSeq: seq of the first record this segment holds or will hold
 *   32      4     crc: CRC-32 of bytes [0,32)
 *   36      4     zero
 *
 * A segment is created with its header made durable (file fdatasync, then
 * directory fsync) before any frame is written into it, so a segment whose
 * header is short or damaged and which holds nothing else can only be a
 * creation a crash interrupted.
 */
import assert from 'node:assert/strict';
import { crc32 } from './checksum.js';
import {
  type FrameCheck,
  type FrameDamage,
  checkFrame,
  FRAME_HEADER_BYTES,
  FRAME_KIND_PURGE,
  FRAME_KIND_RECORDS,
  frameBatchDeltaAt,
  frameSalt,
  readU32,
} from './frame.js';
import path from 'node:path';
import type { Io, IoFile } from './io.js';
import type { ByteOffset, JournalId, Seq } from './types.js';

export const SEGMENT_HEADER_BYTES = 40;
/** The format new segments are written in; every format from 1 on is read. */
export const FORMAT_VERSION = 2;
const MAGIC = new TextEncoder().encode('FANLOGJ\n');
const NAME_PATTERN = /^(\d{20})\.seg$/;

/** How many bytes a reader pulls from a segment at a time. */
export const READ_CHUNK_BYTES = 1 << 20;

/** Where a reader can start inside a segment: a records frame and its first seq. */
export interface IndexPoint {
  seq: Seq;
  offset: ByteOffset;
}

/** A reader positions itself within a segment by an index point at least every this many bytes. */
export const INDEX_STRIDE_BYTES = 256 * 1024;

/** A segment as the journal knows it: what recovery found in it, then what was written since. */
export interface SegmentState {
  name: string;
  path: string;
  firstSeq: Seq;
  /** Seq of the last record in the segment; firstSeq - 1 when it holds none. */
  lastSeq: Seq;
  /** Bytes written (header and frames). */
  bytes: ByteOffset;
  /** Whether a records frame was written into it (a segment rolls only then). */
  hasRecords: boolean;
  /** The highest purge mark written into it (0n: none). */
  purgeMark: Seq;
  index: IndexPoint[];
}

export function addIndexPoint(segment: SegmentState, seq: Seq, offset: ByteOffset): void {
  const last = segment.index[segment.index.length - 1];
  if (last === undefined || offset - last.offset >= INDEX_STRIDE_BYTES) segment.index.push({ seq, offset });
}

export function segmentFileName(firstSeq: Seq): string {
  return `${firstSeq.toString().padStart(20, '0')}.seg`;
}

/** The first seq a segment file name stands for, or null if it is not a segment name. */
export function parseSegmentFileName(name: string): Seq | null {
  const match = NAME_PATTERN.exec(name);
  return match?.[1] === undefined ? null : BigInt(match[1]);
}

export function encodeSegmentHeader(journalId: JournalId, firstSeq: Seq): Uint8Array {
  assert.ok(firstSeq >= 1n, 'a segment starts at seq 1 or later');
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, SEGMENT_HEADER_BYTES, true);
  view.setBigUint64(16, journalId, true);
  view.setBigUint64(24, firstSeq, true);
  view.setUint32(32, crc32(header.subarray(0, 32)), true);
  // Checked before it is written, as it is after it is read.
  const back = decodeSegmentHeader(header);
  if ('damage' in back || back.journalId !== journalId || back.firstSeq !== firstSeq)
    assert.fail(`segment header of ${firstSeq} fails its check right after encoding`);
  return header;
}

export interface SegmentHeader {
  journalId: JournalId;
  firstSeq: Seq;
  /** The segment's format version (1 or 2). */
  version: number;
}

/**
 * How the damage scan (`soundFrameFollows`) checks the frames of a segment
 * of this header: against the journal's salt, and in a format 2 segment
 * against it alone (frame.ts: every frame of format 2 is salted).
 */
export function damageScanCheck(header: SegmentHeader): FrameCheck {
  return { salt: frameSalt(header.journalId), saltedOnly: header.version >= 2 };
}

/** Decodes a header, or says what is wrong with it and where. */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | { damage: string; offset: ByteOffset } {
  if (bytes.length < SEGMENT_HEADER_BYTES) return { damage: 'segment header is incomplete', offset: bytes.length };
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (!MAGIC.every((byte, i) => bytes[i] === byte)) return { damage: 'not a fanlog segment (bad magic)', offset: 0 };
  if (view.getUint32(32, true) !== crc32(bytes.subarray(0, 32))) {
    return { damage: 'segment header checksum mismatch', offset: 32 };
  }
  const version = view.getUint32(8, true);
  if (version < 1 || version > FORMAT_VERSION) return { damage: `unsupported segment format version ${version}`, offset: 8 };
  if (view.getUint32(12, true) !== SEGMENT_HEADER_BYTES) return { damage: 'bad segment header length', offset: 12 };
  return { journalId: view.getBigUint64(16, true), firstSeq: view.getBigUint64(24, true), version };
}

/** One step of a scan: a sound frame, damage, or the end of the scanned range. */
export type ScanStep =
  | { kind: 'frame'; offset: ByteOffset; frameBytes: number; buffer: Uint8Array; at: number }
  | { kind: 'damage'; offset: ByteOffset; damage: FrameDamage }
  | { kind: 'end' };

/**
 * Walks the frames of one segment file from `start` to `end`, reading in
 * chunks and checking every frame. Each refill reads into a fresh buffer,
 * so views handed out earlier stay valid. While one chunk is walked, the
 * next is read ahead (from the end of the chunk's last whole frame), so the
 * walk rarely waits for the disk; memory is two chunks, or a frame when a
 * frame is larger, and a frame's length is checked against `end` before its
 * buffer is allocated. `settle()` before closing the file.
 */
export class FrameScanner {
  readonly #file: IoFile;
  readonly #end: ByteOffset;
  #buffer: Uint8Array = new Uint8Array(0);
  #bufferStart: ByteOffset = 0;
  #position: ByteOffset;
  /** The next chunk, being read ahead: where it starts, its buffer, the read. */
  #ahead: { start: ByteOffset; slab: Uint8Array; read: Promise<number> } | null = null;

  readonly #check: FrameCheck;

  /** Scans `file` from `start` to `end`, checking checksums as `check` says (frame.ts). */
  constructor(file: IoFile, start: ByteOffset, end: ByteOffset, check: FrameCheck) {
    assert.ok(start <= end, 'a scan starts at or before its end');
    this.#file = file;
    this.#check = check;
    this.#end = end;
    this.#position = start;
  }

  /** Makes the buffer hold [position, position + bytes); false if the file is shorter. */
  async #ensure(bytes: number): Promise<boolean> {
    const at = this.#position - this.#bufferStart;
    if (at >= 0 && at + bytes <= this.#buffer.length) return true;
    const want = Math.min(Math.max(bytes, READ_CHUNK_BYTES), this.#end - this.#position);
    if (want < bytes) return false;
    const ahead = this.#ahead;
    this.#ahead = null;
    let slab: Uint8Array;
    let read: number;
    if (ahead !== null && ahead.start === this.#position && ahead.slab.length >= bytes) {
      slab = ahead.slab;
      read = await ahead.read;
    } else {
      // A read ahead that missed is let finish (its error is not this read's) before the next.
      if (ahead !== null) await ahead.read.catch(() => 0);
      // Unzeroed: only the bytes read are ever looked at.
      slab = Buffer.allocUnsafeSlow(want);
      read = await this.#file.read(slab, this.#position);
    }
    // A plain Uint8Array view: its subarray() (one per record read) is cheaper than Buffer's.
    this.#buffer = new Uint8Array(slab.buffer, slab.byteOffset, read);
    this.#bufferStart = this.#position;
    this.#readAhead();
    return read >= bytes;
  }

  /**
   * Starts reading the next chunk while this one is walked: from the end of
   * the last whole frame in the buffer (found by hopping over length
   * fields, nothing checked yet), so that the next refill starts exactly
   * there. Nothing when no whole frame is buffered or the range ends first.
   */
  #readAhead(): void {
    const bufferEnd = this.#bufferStart + this.#buffer.length;
    let boundary = this.#position;
    for (;;) {
      const at = boundary - this.#bufferStart;
      if (at + FRAME_HEADER_BYTES > this.#buffer.length) break;
      const frameBytes = readU32(this.#buffer, at);
      if (frameBytes < FRAME_HEADER_BYTES || boundary + frameBytes > bufferEnd) break;
      boundary += frameBytes;
    }
    if (boundary === this.#position || boundary >= this.#end) return;
    const slab = Buffer.allocUnsafeSlow(Math.min(READ_CHUNK_BYTES, this.#end - boundary));
    const read = this.#file.read(slab, boundary);
    read.catch(() => undefined); // used (and its error met) only if the scan gets there
    this.#ahead = { start: boundary, slab, read };
  }

  /** Lets a read ahead in flight finish, so that the file can be closed under no read. */
  async settle(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = null;
    await ahead?.read.catch(() => 0);
  }

  /**
   * The next step, if the bytes already read decide it; null if more must
   * be read first. Lets a reader walk a whole chunk without an await per frame.
   */
  nextBuffered(): ScanStep | null {
    const offset = this.#position;
    if (offset >= this.#end) return { kind: 'end' };
    const at = offset - this.#bufferStart;
    if (at < 0 || at + FRAME_HEADER_BYTES > this.#buffer.length) return null;
    const frameBytes = readU32(this.#buffer, at);
    if (frameBytes < FRAME_HEADER_BYTES) return { kind: 'damage', offset, damage: 'impossible length' };
    if (frameBytes > this.#end - offset) return { kind: 'damage', offset, damage: 'incomplete frame' };
    if (at + frameBytes > this.#buffer.length) return null;
    const checked = checkFrame(this.#buffer, at, frameBytes, this.#check);
    if (typeof checked !== 'number') return { kind: 'damage', offset, damage: checked };
    assert.equal(checked, frameBytes);
    this.#position = offset + frameBytes;
    if (this.#position > this.#end) assert.fail(`a frame at ${offset} runs past the end of the scan, ${this.#end}`);
    return { kind: 'frame', offset, frameBytes, buffer: this.#buffer, at };
  }

  async next(): Promise<ScanStep> {
    const buffered = this.nextBuffered();
    if (buffered !== null) return buffered;
    const offset = this.#position;
    if (!(await this.#ensure(FRAME_HEADER_BYTES))) return { kind: 'damage', offset, damage: 'incomplete header' };
    const at = offset - this.#bufferStart;
    const frameBytes = readU32(this.#buffer, at);
    if (frameBytes >= FRAME_HEADER_BYTES && frameBytes <= this.#end - offset && !(await this.#ensure(frameBytes))) {
      return { kind: 'damage', offset, damage: 'incomplete frame' };
    }
    const step = this.nextBuffered();
    assert.ok(step !== null, 'a frame that fits the file is buffered whole after ensure()');
    return step;
  }
}

/**
 * The write a crash may have torn, as a torn tail's damage shows it: the
 * seq the segment's records would go on with, and the seq the write of the
 * last sound records frame before the damage started with (frame.ts batch
 * delta; null when no records frame precedes the damage in this segment).
 */
export interface TornWrite {
  nextSeq: Seq;
  writeStart: Seq | null;
}

/**
 * Whether the sound records frame of seq `seq` and batch delta `delta`,
 * found after the damage, may belong to the write the damage tore: one
 * that started right where the damage is (at `nextSeq`), or with the last
 * sound frame's write, or (no records frame before the damage) in the
 * segment before. A write's first frame (delta 0) lies where the write
 * starts, so it is never found after the damage.
 */
export function ofTornWrite(torn: TornWrite, seq: Seq, delta: number): boolean {
  if (delta === 0) return false;
  const start = seq - BigInt(delta);
  return start === torn.nextSeq || start === torn.writeStart || (torn.writeStart === null && start >= 1n && start < torn.nextSeq);
}

/**
 * Whether a sound frame starts after `damageOffset` that the torn write
 * `torn` does not explain: the test that tells a torn tail from damage in
 * the middle. Appends to a growing file reach the disk in order, so a
 * sound frame after damage means bytes written before it were later lost;
 * a write into bytes already on disk (the zero tail, zero-tail.ts) may land
 * page by page in no order, so its own frames may lie after the damage it
 * left, and only they are excused (`ofTornWrite`): frames of one write all
 * name the same start. Candidates are filtered cheaply (length, kind, a
 * seq beyond the last record kept) before their checksum is computed, and
 * counted only when sound under `check`: in a format 2 segment, salted
 * with the journal's salt (`damageScanCheck`), so that a payload shaped
 * like a frame is not taken for one (frame.ts).
 */
export async function soundFrameFollows(file: IoFile, damageOffset: ByteOffset, fileBytes: number, torn: TornWrite, check: FrameCheck): Promise<boolean> {
  const overlap = FRAME_HEADER_BYTES;
  let excused: Seq | null = null;
  for (let windowStart = damageOffset + 1; windowStart + FRAME_HEADER_BYTES <= fileBytes;) {
    const window = new Uint8Array(Math.min(READ_CHUNK_BYTES, fileBytes - windowStart));
    const read = await file.read(window, windowStart);
    const view = new DataView(window.buffer, 0, read);
    for (let at = 0; at + FRAME_HEADER_BYTES <= read; at++) {
      const frameBytes = view.getUint32(at, true);
      const kind = window[at + 8];
      if (frameBytes < FRAME_HEADER_BYTES || frameBytes > fileBytes - (windowStart + at)) continue;
      if (kind !== FRAME_KIND_RECORDS && kind !== FRAME_KIND_PURGE) continue;
      const seq = view.getBigUint64(at + 16, true);
      if (kind === FRAME_KIND_RECORDS && seq < torn.nextSeq) continue;
      const frame = new Uint8Array(frameBytes);
      await file.read(frame, windowStart + at);
      if (checkFrame(frame, 0, frameBytes, check) !== frameBytes) continue;
      const delta = frameBatchDeltaAt(frame, 0);
      if (kind === FRAME_KIND_PURGE || !ofTornWrite(torn, seq, delta)) return true;
      // Frames of one torn write all name the same start.
      const start = seq - BigInt(delta);
      if (excused !== null && excused !== start) return true;
      excused = start;
    }
    // Fewer bytes than a header is the end: the file was cut under the scan (a follower's size, then another
    // process's recovery), and stepping by it would not move the window on.
    if (windowStart + read >= fileBytes || read < FRAME_HEADER_BYTES) break;
    windowStart += read - overlap + 1;
  }
  return false;
}

/** Creates a segment durably: header fdatasynced and directory entry fsynced before it is used; `halted` stops it between the two. */
export async function createSegment(io: Io, dir: string, journalId: JournalId, firstSeq: Seq, halted: () => Error | null = () => null): Promise<SegmentState> {
  const name = segmentFileName(firstSeq);
  const file = path.join(dir, name);
  const handle = await io.open(file, 'create');
  try {
    await handle.write(encodeSegmentHeader(journalId, firstSeq), 0);
    // A journal halted meanwhile syncs nothing more (recovery removes the header-only segment).
    const failure = halted();
    if (failure !== null) throw failure;
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await io.syncDir(dir);
  return { name, path: file, firstSeq, lastSeq: firstSeq - 1n, bytes: SEGMENT_HEADER_BYTES, hasRecords: false, purgeMark: 0n, index: [] };
}
