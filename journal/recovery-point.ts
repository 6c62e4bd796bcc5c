/**
 * The recovery point: what recovery may take as known without reading it
 * again (Kafka's recovery-point checkpoint), so that opening a journal costs
 * the same whatever it retains.
 *
 * When the journal seals a segment (a roll: the segment is fdatasynced and
 * never written again), it replaces the file `recovery-point` with the state
 * of every sealed segment: its name, seqs, length, last purge mark and index
 * points. On open, recovery takes a sealed segment from the point instead of
 * scanning its frames when the file's length is the length the point
 * recorded and its header is sound and the journal's; the newest segment,
 * and any segment the point does not describe exactly, is scanned as
 * before. A sealed segment is still checked when it is read: every frame's
 * checksum, so damage below the point is ECORRUPT with file and offset at
 * read time, never a wrong record; and `fanlog verify` ignores the point
 * and scans everything.
 *
 * The point is only ever an optimisation: missing, damaged, from another
 * journal or of another version, it is set aside (said in the recovery
 * report) and every segment is scanned. A sealed segment's bytes up to the
 * recorded length never change: appends only add, and a torn tail is cut
 * only past what was sealed.
 *
 * File layout (integers little-endian), replaced atomically (written to
 * `recovery-point.tmp`, fdatasync, rename, directory fsync):
 *
 *   offset  size  field
 *   0       8     magic "FANLOGRP"
 *   8       4     version (1)
 *   12      4     body length N
 *   16      N     body: UTF-8 JSON { journalId, segments: [{ name, firstSeq,
 *                 lastSeq, bytes, purgeMark, index: [[seq, offset], ...] }] },
 *                 seqs and the journal id as decimal strings
 *   16 + N  4     CRC-32 of bytes [0, 16 + N)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { crc32 } from './checksum.js';
import { type Io, type IoFile, replaceFile } from './io.js';
import { decodeSegmentHeader, type IndexPoint, SEGMENT_HEADER_BYTES, type SegmentState } from './segment.js';
import type { JournalId, Seq } from './types.js';

export const RECOVERY_POINT_NAME = 'recovery-point';
const MAGIC = new TextEncoder().encode('FANLOGRP');
const VERSION = 1;
const PREFIX_BYTES = 16;

/** A sealed segment as the point records it. */
export interface SealedSegment {
  name: string;
  firstSeq: Seq;
  lastSeq: Seq;
  bytes: number;
  purgeMark: Seq;
  index: IndexPoint[];
}

export interface RecoveryPoint {
  journalId: JournalId;
  /** By segment file name. */
  segments: Map<string, SealedSegment>;
}

interface StoredSegment {
  name: string;
  firstSeq: string;
  lastSeq: string;
  bytes: number;
  purgeMark: string;
  index: [string, number][];
}

export function encodeRecoveryPoint(journalId: JournalId, sealed: readonly SegmentState[]): Uint8Array {
  const segments: StoredSegment[] = sealed.map((segment) => ({
    name: segment.name,
    firstSeq: segment.firstSeq.toString(),
    lastSeq: segment.lastSeq.toString(),
    bytes: segment.bytes,
    purgeMark: segment.purgeMark.toString(),
    index: segment.index.map((point): [string, number] => [point.seq.toString(), point.offset]),
  }));
  const body = new TextEncoder().encode(JSON.stringify({ journalId: journalId.toString(), segments }));
  const bytes = new Uint8Array(PREFIX_BYTES + body.length + 4);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, body.length, true);
  bytes.set(body, PREFIX_BYTES);
  view.setUint32(PREFIX_BYTES + body.length, crc32(bytes.subarray(0, PREFIX_BYTES + body.length)), true);
  // Checked before it is written, as it is after it is read (once per roll: never on the append path).
  const back = decodeRecoveryPoint(bytes);
  if ('unusable' in back || back.journalId !== journalId || back.segments.size !== sealed.length)
    assert.fail('a recovery point fails its check right after encoding');
  return bytes;
}

/** The point in `bytes`, or why it cannot be used. */
export function decodeRecoveryPoint(bytes: Uint8Array): RecoveryPoint | { unusable: string } {
  if (bytes.length < PREFIX_BYTES + 4 || !MAGIC.every((byte, i) => bytes[i] === byte)) return { unusable: 'not a recovery point (bad magic)' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getUint32(8, true);
  const bodyBytes = view.getUint32(12, true);
  if (version !== VERSION) return { unusable: `recovery point of version ${version}` };
  if (PREFIX_BYTES + bodyBytes + 4 !== bytes.length) return { unusable: 'recovery point of the wrong length' };
  if (view.getUint32(PREFIX_BYTES + bodyBytes, true) !== crc32(bytes.subarray(0, PREFIX_BYTES + bodyBytes)))
    return { unusable: 'recovery point checksum mismatch' };
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + bodyBytes))) as {
      journalId: string;
      segments: StoredSegment[];
    };
    const segments = new Map<string, SealedSegment>();
    for (const stored of body.segments) {
      segments.set(stored.name, {
        name: stored.name,
        firstSeq: BigInt(stored.firstSeq),
        lastSeq: BigInt(stored.lastSeq),
        bytes: stored.bytes,
        purgeMark: BigInt(stored.purgeMark),
        index: stored.index.map(([seq, offset]) => ({ seq: BigInt(seq), offset })),
      });
    }
    return { journalId: BigInt(body.journalId), segments };
  } catch (error) {
    return { unusable: `recovery point undecodable: ${(error as Error).message}` };
  }
}

/** The point of the journal in `dir`: null when there is none, or why it cannot be used. */
export async function readRecoveryPoint(io: Io, dir: string): Promise<RecoveryPoint | { unusable: string } | null> {
  if (!(await io.readdir(dir)).includes(RECOVERY_POINT_NAME)) return null;
  const handle = await io.open(path.join(dir, RECOVERY_POINT_NAME), 'read');
  try {
    const bytes = new Uint8Array(await handle.size());
    const read = await handle.read(bytes, 0);
    return decodeRecoveryPoint(bytes.subarray(0, read));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Replaces the point with the state of `sealed` (io.ts `replaceFile`: atomic, durable). */
export async function writeRecoveryPoint(io: Io, dir: string, journalId: JournalId, sealed: readonly SegmentState[]): Promise<void> {
  await replaceFile(io, dir, RECOVERY_POINT_NAME, encodeRecoveryPoint(journalId, sealed));
}

/**
 * A sealed segment as the point recorded it, if the file (open in `handle`)
 * is still what was sealed: its length as recorded, its header sound, the
 * journal's and naming the same first seq; null to scan it instead.
 */
export async function unchangedSegment(handle: IoFile, sealed: SealedSegment, journalId: JournalId): Promise<SegmentState | null> {
  if ((await handle.size()) !== sealed.bytes) return null;
  const headerBytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  await handle.read(headerBytes, 0);
  const header = decodeSegmentHeader(headerBytes);
  if ('damage' in header || header.journalId !== journalId || header.firstSeq !== sealed.firstSeq) return null;
  return {
    name: sealed.name,
    path: handle.path,
    firstSeq: sealed.firstSeq,
    lastSeq: sealed.lastSeq,
    bytes: sealed.bytes,
    hasRecords: sealed.lastSeq >= sealed.firstSeq,
    purgeMark: sealed.purgeMark,
    index: sealed.index,
  };
}
