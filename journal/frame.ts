/**
 * Entry frames: the atomic unit of the journal.
 *
 * Layout (integers little-endian):
 *
 *   offset  size  field
 *   0       4     frameBytes   whole frame, header included; >= 24
 *   4       4     crc          CRC-32 (IEEE) of bytes [0,4) then [8,frameBytes),
 *                              seeded with the journal's salt (below)
 *   8       1     kind         1 = records, 2 = purge mark
 *   9       3     batchDelta   records: how many records of the same write
 *                              come before this frame's first (u24; 0: the
 *                              write starts with this frame); purge mark: 0
 *   12      4     recordCount  records: >= 1; purge mark: 0
 *   16      8     seq          records: seq of the first record;
 *                              purge mark: every record <= seq was purged
 *   24      ...   records: recordCount times { u32 payloadBytes, payload }
 *
 * The checksum covers every byte of the frame but its own four, so a flipped
 * length, kind, count, seq or payload bit is caught. Lengths are checked
 * against the bytes actually available before anything is allocated or
 * sliced. A frame is checked when encoded and again when read.
 *
 * The batch delta names the write that carried the frame: frames of one
 * write share `seq - batchDelta`, the seq the write starts with. A power cut
 * can land a write that overwrites bytes in place (the zero tail,
 * zero-tail.ts) page by page in no order; recovery tells those pages from
 * damage by it (segment.ts `soundFrameFollows`). Frames written before
 * segment format 2 hold 0: each is a write of its own, and the rule is the
 * strict one it was.
 *
 * The salt (`frameSalt`, from the journal id) seeds every checksum this
 * version writes, so that bytes shaped like a frame inside a payload (an
 * xattr value holding a frame, say) are not a sound frame of this journal
 * unless their maker knew its id: recovery, which looks for sound frames
 * after damage, would otherwise find such bytes in a torn write and refuse
 * to open. A frame written before salts (format 1) has the seed 0: every
 * reader takes either, and only the damage scan of a format 2 segment
 * takes salted frames alone (`FrameCheck.saltedOnly`).
 *
 * A purge mark is written before segments are deleted, so that recovery can
 * tell a purged segment (expected to be gone) from a lost one (ECORRUPT), and
 * can finish a purge a crash interrupted.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../errors.js';
import { ByteWriter } from './byte-writer.js';
import { crc32Range } from './checksum.js';
import type { Seq } from './types.js';

export const FRAME_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 4;
export const FRAME_KIND_RECORDS = 1;
export const FRAME_KIND_PURGE = 2;
/** The largest batch delta: a write holds at most this many records before its last frame (batch.ts starts another past it). */
export const BATCH_DELTA_MAX = 0xff_ffff;
/** No frame may exceed this, whatever the segment size: lengths are u32. */
export const FRAME_BYTES_LIMIT = 0xffff_ffff;

export type FrameKind = typeof FRAME_KIND_RECORDS | typeof FRAME_KIND_PURGE;

export interface FrameHeader {
  frameBytes: number;
  kind: FrameKind;
  recordCount: number;
  seq: Seq;
  /** Records of the same write before this frame's first (0 for a purge mark). */
  batchDelta: number;
}

/** How a frame's checksum is checked: against the journal's salt, and (unless `saltedOnly`) against the seed 0 of format 1 frames. */
export interface FrameCheck {
  salt: number;
  saltedOnly: boolean;
}

/** The checksum seed of a journal's frames: its id folded to 32 bits (never 0, the seed of unsalted frames). */
export function frameSalt(journalId: bigint): number {
  const folded = (Number(journalId & 0xffff_ffffn) ^ Number((journalId >> 32n) & 0xffff_ffffn)) >>> 0;
  return folded === 0 ? 1 : folded;
}

/** Why a frame failed its check, for error messages. */
export type FrameDamage = 'incomplete header' | 'impossible length' | 'incomplete frame' | 'checksum mismatch' | 'bad kind' | 'bad record lengths';

/** The checksum of the frame of `length` bytes at `at`, seeded with `salt`: its first 4 bytes, then all after its checksum field (bytes 4..8). */
function frameChecksum(bytes: Uint8Array, at: number, length: number, salt: number): number {
  return crc32Range(bytes, at + 8, at + length, crc32Range(bytes, at, at + 4, salt));
}

/** Whether the frame's stored checksum is its checksum under `check` (the salt, or else the seed 0 unless salted only). */
function checksumHolds(bytes: Uint8Array, at: number, length: number, check: FrameCheck): boolean {
  const stored = readU32(bytes, at + 4);
  if (frameChecksum(bytes, at, length, check.salt) === stored) return true;
  return !check.saltedOnly && frameChecksum(bytes, at, length, 0) === stored;
}

export function recordsFrameBytes(payloads: readonly Uint8Array[]): number {
  let total = FRAME_HEADER_BYTES;
  for (const payload of payloads) total += RECORD_HEADER_BYTES + payload.length;
  return total;
}

/**
 * Encodes a frame in place at the end of `out`: the header, then
 * `recordCount` records, each a u32 length and the bytes `encode(out, i)`
 * appends; then the checksum, computed once over the frame where it lies.
 * Returns the frame's offset in `out`. If `encode` throws, `out` is left as
 * it was and the error goes on. `batchDelta`: see the header.
 */
export function encodeFrameInto(
  out: ByteWriter,
  kind: FrameKind,
  seq: Seq,
  recordCount: number,
  encode: (out: ByteWriter, index: number) => void,
  batchDelta = 0,
  salt = 0,
): number {
  // A records frame holds at least one record from seq 1 on; a purge mark none.
  if (kind === FRAME_KIND_RECORDS ? recordCount < 1 || seq < 1n : recordCount !== 0)
    assert.fail(`a frame of kind ${kind} with ${recordCount} records at seq ${seq}`);
  // A write starts at seq 1 or later, and a purge mark is a write of its own.
  if (
    !Number.isInteger(batchDelta) ||
    batchDelta < 0 ||
    batchDelta > BATCH_DELTA_MAX ||
    BigInt(batchDelta) >= seq ||
    (kind === FRAME_KIND_PURGE && batchDelta !== 0)
  )
    assert.fail(`a frame at seq ${seq} with batch delta ${batchDelta}`);
  const start = out.skip(FRAME_HEADER_BYTES);
  try {
    for (let i = 0; i < recordCount; i++) {
      const lengthAt = out.skip(RECORD_HEADER_BYTES);
      encode(out, i);
      out.u32At(lengthAt, out.length - lengthAt - RECORD_HEADER_BYTES);
    }
    const frameBytes = out.length - start;
    if (frameBytes > FRAME_BYTES_LIMIT) throw new FanlogError('E2BIG', `entry of ${frameBytes} framed bytes exceeds the frame limit of ${FRAME_BYTES_LIMIT}`);
    out.u32At(start, frameBytes);
    out.u32At(start + 8, kind + batchDelta * 0x100); // kind, then the batch delta (u24)
    out.u32At(start + 12, recordCount);
    out.u64At(start + 16, seq);
    out.u32At(start + 4, frameChecksum(out.buffer, start, out.length - start, salt));
  } catch (error) {
    out.truncate(start);
    throw error;
  }
  // Checked before it is written, as it will be after it is read. The
  // checksum was just computed from these bytes, so the header and the
  // record lengths are what need checking here, not a second checksum.
  if (checkFrame(out.buffer.subarray(0, out.length), start, out.length - start, null) !== out.length - start) {
    assert.fail(`frame at ${start} fails its check right after encoding`);
  }
  return start;
}

/** A frame of its own: a records frame of `payloads`, or a purge mark. */
function encodeFrame(kind: FrameKind, seq: Seq, payloads: readonly Uint8Array[], salt: number): Uint8Array {
  const out = new ByteWriter(recordsFrameBytes(payloads));
  encodeFrameInto(out, kind, seq, payloads.length, (into, i) => into.raw(payloads[i]!), 0, salt);
  return out.buffer;
}

/** A records frame of its own, checksummed with `salt` (0: as format 1 wrote them). */
export function encodeRecordsFrame(firstSeq: Seq, payloads: readonly Uint8Array[], salt = 0): Uint8Array {
  assert.ok(payloads.length >= 1 && firstSeq >= 1n);
  return encodeFrame(FRAME_KIND_RECORDS, firstSeq, payloads, salt);
}

/** A purge mark, checksummed with `salt` (0: as format 1 wrote them). */
export function encodePurgeFrame(purgedThroughSeq: Seq, salt = 0): Uint8Array {
  assert.ok(purgedThroughSeq >= 1n, 'a purge mark purges at least one record');
  return encodeFrame(FRAME_KIND_PURGE, purgedThroughSeq, [], salt);
}

/** The header of a frame that passed `checkFrame`. */
export function readFrameHeader(bytes: Uint8Array, offset: number): FrameHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEADER_BYTES);
  const kind = bytes[offset + 8];
  if (kind !== FRAME_KIND_RECORDS && kind !== FRAME_KIND_PURGE) assert.fail(`frame header of kind ${kind} read at ${offset}: it was never checked`);
  return {
    frameBytes: view.getUint32(0, true),
    kind,
    recordCount: view.getUint32(12, true),
    seq: view.getBigUint64(16, true),
    batchDelta: frameBatchDeltaAt(bytes, offset),
  };
}

/**
 * Checks the frame starting at `offset` in `bytes`, of which `available`
 * bytes (from `offset`) exist. Returns the frame length when the frame is
 * sound, or what is wrong with it. `available` may exceed what `bytes` holds
 * from `offset` (the rest of the file was not read yet): an impossible length
 * is judged against `available`, an incomplete frame against `bytes`. The
 * checksum is checked as `check` says; null: not at all (a frame just
 * encoded, whose checksum was computed from these bytes).
 */
export function checkFrame(bytes: Uint8Array, offset: number, available: number, check: FrameCheck | null): number | FrameDamage {
  // Runs for every frame read: plain byte arithmetic, no DataView.
  const inBuffer = bytes.length - offset;
  if (Math.min(available, inBuffer) < FRAME_HEADER_BYTES) {
    return available < FRAME_HEADER_BYTES ? 'incomplete header' : 'incomplete frame';
  }
  const frameBytes = readU32(bytes, offset);
  if (frameBytes < FRAME_HEADER_BYTES) return 'impossible length';
  if (frameBytes > available) return 'incomplete frame';
  if (frameBytes > inBuffer) return 'incomplete frame';
  if (check !== null && !checksumHolds(bytes, offset, frameBytes, check)) return 'checksum mismatch';
  const kind = bytes[offset + 8];
  const recordCount = readU32(bytes, offset + 12);
  if (kind === FRAME_KIND_PURGE) {
    if (bytes[offset + 9] !== 0 || bytes[offset + 10] !== 0 || bytes[offset + 11] !== 0) return 'bad kind';
    return recordCount === 0 && frameBytes === FRAME_HEADER_BYTES ? frameBytes : 'bad record lengths';
  }
  if (kind !== FRAME_KIND_RECORDS) return 'bad kind';
  if (recordCount === 0) return 'bad record lengths';
  let position = FRAME_HEADER_BYTES;
  for (let i = 0; i < recordCount; i++) {
    if (position + RECORD_HEADER_BYTES > frameBytes) return 'bad record lengths';
    position += RECORD_HEADER_BYTES + readU32(bytes, offset + position);
  }
  return position === frameBytes ? frameBytes : 'bad record lengths';
}

/** A frame's batch delta (see the header), by plain byte arithmetic. */
export function frameBatchDeltaAt(bytes: Uint8Array, offset: number): number {
  return bytes[offset + 9]! | (bytes[offset + 10]! << 8) | (bytes[offset + 11]! << 16);
}

/** The seq of a frame's first record (a purge mark: the seq purged through), by plain byte arithmetic. */
export function frameSeqAt(bytes: Uint8Array, offset: number): Seq {
  return readU64(bytes, offset + 16);
}

/**
 * Calls `each(seq, payload)` for every record of a checked records frame;
 * payloads are views into `bytes`, not copies.
 */
export function forEachRecord(bytes: Uint8Array, offset: number, each: (seq: Seq, payload: Uint8Array) => void): void {
  // The hot loop of every read: plain byte arithmetic, no DataView per record.
  const recordCount = readU32(bytes, offset + 12);
  let seq = new DataView(bytes.buffer, bytes.byteOffset + offset + 16, 8).getBigUint64(0, true);
  let position = offset + FRAME_HEADER_BYTES;
  for (let i = 0; i < recordCount; i++) {
    const payloadBytes = readU32(bytes, position);
    position += RECORD_HEADER_BYTES;
    each(seq, bytes.subarray(position, position + payloadBytes));
    position += payloadBytes;
    seq++;
  }
  // checkFrame vouched for the lengths: the records end where the frame does.
  if (position !== offset + readU32(bytes, offset)) assert.fail(`the records of the frame at ${offset} end at ${position}, not at its end`);
}

/** A little-endian u32 at `at`, by plain byte arithmetic (the hot loops of every read). */
export function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

/** A little-endian u64 at `at`: below 2^53 one Number makes the BigInt; above, the halves are joined. */
export function readU64(bytes: Uint8Array, at: number): bigint {
  const low = readU32(bytes, at);
  const high = readU32(bytes, at + 4);
  return high < 0x200000 ? BigInt(high * 0x100000000 + low) : (BigInt(high) << 32n) | BigInt(low);
}
