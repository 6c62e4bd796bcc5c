/**
 * Walking a segment file's frames by their length fields, for tests that
 * damage or inspect segments on disk: the journal's own reader checks
 * every frame, and would refuse the very damage these tests make.
 */
import { readFileSync } from 'node:fs';
import { SEGMENT_HEADER_BYTES } from '../../journal/segment.js';

/** The segment's bytes: a file's, or bytes given (a MemoryIo file's). */
const bytesOf = (segment: string | Uint8Array): Buffer => (typeof segment === 'string' ? readFileSync(segment) : Buffer.from(segment));

/** Byte offsets of the frames of a segment, walking their lengths to the end of the file. */
export function frameOffsets(segment: string | Uint8Array): number[] {
  const bytes = bytesOf(segment);
  const offsets: number[] = [];
  for (let offset = SEGMENT_HEADER_BYTES; offset < bytes.length; offset += bytes.readUInt32LE(offset)) offsets.push(offset);
  return offsets;
}

/** Where a segment's frames end: the walk stops at a zero length (the zero tail) or the end of the file. */
export function dataEnd(segment: string | Uint8Array): number {
  const bytes = bytesOf(segment);
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + 4 <= bytes.length && bytes.readUInt32LE(offset) !== 0) offset += bytes.readUInt32LE(offset);
  return offset;
}
