/**
 * The zero tail: under the 'always' policy, the newest segment is written
 * into bytes that were zero-filled ahead of it, so that a commit's fdatasync overwrites blocks
 * the file already has and changes no size (no metadata to commit), as
 * PostgreSQL pre-zeroes its WAL segments. On this machine's ext4 a 200-byte
 * write and fdatasync into a zero-filled file runs about 1.4× as often as
 * one that grows the file.
 *
 * Layout of the newest segment:
 *
 *   [header][frame][frame]...[frame][0 0 0 ... 0]
 *                                   ^ the end of data: `bytes`
 *                                                 ^ the file's size
 *
 * - The writer (segment-writer.ts) keeps at least the next write inside the
 *   zeroed bytes: when a write would pass them, it writes zeros after it, up
 *   to `ZERO_AHEAD_BYTES` more (never past the segment's size limit), in the
 *   same step, so the same fdatasync makes them durable. That fdatasync
 *   grows the file once per `ZERO_AHEAD_BYTES`, not once per commit.
 * - A segment is sealed (rolled) or closed cut to its data (truncate and
 *   fdatasync), and an open under another policy cuts what a crash left
 *   (open.ts): only the newest segment of a journal open under 'always' has
 *   a zero tail, and a closed journal's files are as they were before.
 * - Only under 'always': a write into bytes already on disk may reach the
 *   disk page by page in no order, and recovery can excuse that for one
 *   write only, the last (frame.ts batch delta; segment.ts
 *   `soundFrameFollows`). Under 'always' each write is synced before the
 *   next starts (segment-writer.ts).
 * - A reader tells the end of data from damage by the bytes after it: a
 *   frame header that is not sound, followed by nothing but zeros to the end
 *   of the newest segment, is the end (recovery-cases.ts `zerosAfter`;
 *   follower.ts), with nothing to repair. A torn write into the zeros leaves
 *   non-zero bytes, so it is still a torn tail, cut and reported; zeros and
 *   then a sound frame of any write but the last are still damage in the
 *   middle.
 */
import type { IoFile } from './io.js';
import type { ByteOffset } from './types.js';

/** How far ahead of the data the newest segment is zero-filled. */
export const ZERO_AHEAD_BYTES = 1 << 20;

const ZEROS = new Uint8Array(ZERO_AHEAD_BYTES);

/** `bytes` zero bytes (a view of one shared buffer: never written). */
export function zeros(bytes: number): Uint8Array {
  return bytes <= ZEROS.length ? ZEROS.subarray(0, bytes) : new Uint8Array(bytes);
}

/** Whether bytes [from, to) of `bytes` are all zero (memcmp against the shared zeros, a chunk at a time). */
export function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let at = from; at < to; at += ZEROS.length) {
    const end = Math.min(to, at + ZEROS.length);
    if (Buffer.compare(bytes.subarray(at, end), ZEROS.subarray(0, end - at)) !== 0) return false;
  }
  return true;
}

/** Whether the file holds nothing but zeros from `offset` to `fileBytes`. */
export async function zerosToEnd(file: IoFile, offset: ByteOffset, fileBytes: number): Promise<boolean> {
  const chunk = new Uint8Array(Math.min(ZEROS.length, Math.max(0, fileBytes - offset)));
  for (let at = offset; at < fileBytes;) {
    const read = await file.read(chunk.subarray(0, Math.min(chunk.length, fileBytes - at)), at);
    // The file was cut under the read (another process's recovery): what is left is zeros.
    if (read === 0) return true;
    if (!allZero(chunk, 0, read)) return false;
    at += read;
  }
  return true;
}
