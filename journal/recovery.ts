/**
 * Recovery: what `Journal.open` does with the directory it finds.
 *
 * Every segment is read in full and every frame checked, so the journal that
 * opens is known sound. Cases, in the order they are checked:
 *
 *   found                                              | action
 *   ---------------------------------------------------|------------------------------
 *   no segment files                                   | new, empty journal
 *   files not named like segments (LOCK, ...)          | ignored
 *   last segment: header short or damaged, no frames   | creation torn by a crash: file removed, reported
 *   any other segment: header short or damaged         | ECORRUPT (file, offset)
 *   journalId differs from the first segment's         | ECORRUPT (foreign segment)
 *   header firstSeq differs from the file name         | ECORRUPT (duplicated or renamed segment)
 *   firstSeq after the previous segment's last + 1     | ECORRUPT (segment missing)
 *   firstSeq before it                                 | ECORRUPT (duplicated records)
 *   sound frame whose seq is not the next one          | ECORRUPT (gap or duplicate)
 *   last segment: bad frame, no sound frame after it   | torn tail: cut off (truncate + fdatasync), reported
 *   last segment: bad frame, a sound frame after it    | ECORRUPT (damage in the middle)
 *   any other segment: bad frame or trailing bytes     | ECORRUPT
 *   first segment starts after the last purge mark + 1 | ECORRUPT (an unpurged segment is missing)
 *   segments wholly at or below the last purge mark    | a purge a crash interrupted: finished
 *
 * Why the torn-tail rule is sound: appends write in order and every
 * acknowledged entry was fsynced together with all bytes before it, so
 * damage that a crash can cause lies after every acknowledged entry. If a
 * sound frame follows the damage, the damage is not at the tail, and cutting
 * there could lose acknowledged records: that must be loud, not repaired.
 * Limitation: damage to the very last entry of the last segment (a bit flip
 * in it, not a crash) looks like a torn tail, and is cut and reported.
 */
import { corrupt, fromIoError } from '../errors.js';
import { FRAME_KIND_PURGE, readFrameHeader } from './frame.js';
import type { Io, IoFile } from './io.js';
import {
  decodeSegmentHeader,
  FrameScanner,
  parseSegmentFileName,
  SEGMENT_HEADER_BYTES,
  soundFrameFollows,
} from './segment.js';
import type { ByteOffset, JournalId, Seq } from './types.js';
import path from 'node:path';

/** Where a reader can start inside a segment: a records frame and its first seq. */
export interface IndexPoint {
  seq: Seq;
  offset: ByteOffset;
}

/** A reader positions itself within a segment by an index point at least every this many bytes. */
export const INDEX_STRIDE_BYTES = 256 * 1024;

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
  index: IndexPoint[];
}

export function addIndexPoint(segment: SegmentState, seq: Seq, offset: ByteOffset): void {
  const last = segment.index[segment.index.length - 1];
  if (last === undefined || offset - last.offset >= INDEX_STRIDE_BYTES) segment.index.push({ seq, offset });
}

export interface RecoveryReport {
  /** Bytes cut from torn tails and torn segment creations. */
  truncatedBytes: number;
  /** Segments retained. */
  segments: number;
  /** Records retained. */
  records: number;
  /** Time the recovery took. */
  ms: number;
  /** What was cut or removed, file by file: for logs and for `fanlog verify`. */
  repairs: { file: string; offset: ByteOffset; bytes: number; what: string }[];
}

export interface Recovered {
  journalId: JournalId | null;
  segments: SegmentState[];
  purgedThroughSeq: Seq;
  report: RecoveryReport;
}

async function withFile<T>(io: Io, file: string, use: (handle: IoFile) => Promise<T>): Promise<T> {
  let handle: IoFile;
  try {
    handle = await io.open(file, 'readwrite');
  } catch (error) {
    throw fromIoError(error, file);
  }
  try {
    return await use(handle);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export async function recover(io: Io, dir: string): Promise<Recovered> {
  const started = performance.now();
  const report: RecoveryReport = { truncatedBytes: 0, segments: 0, records: 0, ms: 0, repairs: [] };
  const names = (await io.readdir(dir))
    .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
    .filter((entry): entry is { name: string; firstSeq: Seq } => entry.firstSeq !== null)
    .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));

  let journalId: JournalId | null = null;
  let purgedThroughSeq: Seq = 0n;
  const segments: SegmentState[] = [];

  for (let i = 0; i < names.length; i++) {
    const { name, firstSeq: nameSeq } = names[i]!;
    const file = path.join(dir, name);
    const isLast = i === names.length - 1;
    const previous = segments[segments.length - 1];
    const kept = await withFile(io, file, async (handle) => {
      const fileBytes = await handle.size();
      const headerBytes = new Uint8Array(Math.min(fileBytes, SEGMENT_HEADER_BYTES));
      await handle.read(headerBytes, 0);
      const header = decodeSegmentHeader(headerBytes);
      if ('damage' in header) {
        if (isLast && fileBytes <= SEGMENT_HEADER_BYTES) return { tornCreationBytes: fileBytes };
        throw corrupt(file, header.offset, header.damage);
      }
      if (journalId !== null && header.journalId !== journalId) {
        throw corrupt(file, 16, `segment belongs to journal ${header.journalId}, not ${journalId}`);
      }
      journalId = header.journalId;
      if (header.firstSeq !== nameSeq) {
        throw corrupt(file, 24, `header says first seq ${header.firstSeq} but the name says ${nameSeq} (duplicated or renamed segment)`);
      }
      if (previous !== undefined && header.firstSeq !== previous.lastSeq + 1n) {
        throw corrupt(
          file,
          24,
          header.firstSeq > previous.lastSeq + 1n
            ? `records ${previous.lastSeq + 1n}..${header.firstSeq - 1n} are missing (segment missing)`
            : `first seq ${header.firstSeq} overlaps ${previous.name}, which ends at ${previous.lastSeq} (duplicated segment)`,
        );
      }
      const segment: SegmentState = {
        name,
        path: file,
        firstSeq: header.firstSeq,
        lastSeq: header.firstSeq - 1n,
        bytes: SEGMENT_HEADER_BYTES,
        hasRecords: false,
        index: [],
      };
      const scanner = new FrameScanner(handle, SEGMENT_HEADER_BYTES, fileBytes);
      for (;;) {
        const step = await scanner.next();
        if (step.kind === 'end') break;
        if (step.kind === 'damage') {
          if (!isLast || (await soundFrameFollows(handle, step.offset, fileBytes, segment.lastSeq))) {
            throw corrupt(file, step.offset, `${step.damage}${isLast ? ' with sound entries after it' : ''}`);
          }
          await handle.truncate(step.offset);
          await handle.datasync();
          const cut = fileBytes - step.offset;
          report.truncatedBytes += cut;
          report.repairs.push({ file, offset: step.offset, bytes: cut, what: `torn tail (${step.damage}) cut off` });
          break;
        }
        const frame = readFrameHeader(step.buffer, step.at);
        if (frame.kind === FRAME_KIND_PURGE) {
          if (frame.seq > segment.lastSeq) {
            throw corrupt(file, step.offset, `purge mark ${frame.seq} is beyond the last record ${segment.lastSeq}`);
          }
          if (frame.seq > purgedThroughSeq) purgedThroughSeq = frame.seq;
        } else {
          if (frame.seq !== segment.lastSeq + 1n) {
            throw corrupt(file, step.offset, `entry starts at seq ${frame.seq}, expected ${segment.lastSeq + 1n}`);
          }
          addIndexPoint(segment, frame.seq, step.offset);
          segment.lastSeq += BigInt(frame.recordCount);
          segment.hasRecords = true;
        }
        segment.bytes = step.offset + step.frameBytes;
      }
      return segment;
    });
    if ('tornCreationBytes' in kept) {
      await removeFile(io, dir, file);
      report.truncatedBytes += kept.tornCreationBytes;
      report.repairs.push({ file, offset: 0, bytes: kept.tornCreationBytes, what: 'segment whose creation was torn removed' });
      continue;
    }
    segments.push(kept);
  }

  const first = segments[0];
  if (first !== undefined && first.firstSeq > purgedThroughSeq + 1n) {
    throw corrupt(
      first.path,
      24,
      `records ${purgedThroughSeq + 1n}..${first.firstSeq - 1n} are missing but were never purged (segment missing)`,
    );
  }
  // Finish a purge that a crash interrupted; the last segment always stays.
  while (segments.length > 1 && segments[0]!.lastSeq <= purgedThroughSeq) {
    const purged = segments.shift()!;
    await removeFile(io, dir, purged.path);
    report.repairs.push({ file: purged.path, offset: 0, bytes: purged.bytes, what: 'interrupted purge finished' });
  }

  report.segments = segments.length;
  const head = segments[segments.length - 1];
  report.records = head === undefined ? 0 : Number(head.lastSeq - segments[0]!.firstSeq + 1n);
  report.ms = performance.now() - started;
  return { journalId: segments.length === 0 ? null : journalId, segments, purgedThroughSeq, report };
}

async function removeFile(io: Io, dir: string, file: string): Promise<void> {
  try {
    await io.unlink(file);
    await io.syncDir(dir);
  } catch (error) {
    throw fromIoError(error, file);
  }
}
