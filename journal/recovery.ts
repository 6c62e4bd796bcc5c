/**
 * Recovery: what `Journal.open` does with the directory it finds.
 *
 * Every segment is read in full and every frame checked, so the journal that
 * opens is known sound; except that a sealed segment the recovery point
 * describes exactly is taken from it (recovery-point.ts: its frames are
 * checked when read, and by `fanlog verify`, which passes
 * `trustRecoveryPoint: false`). Cases, in the order they are checked:
 *
 *   found                                              | action
 *   ---------------------------------------------------|------------------------------
 *   no segment files                                   | new, empty journal
 *   files not named like segments (LOCK, ...)          | ignored
 *   last segment: header short or damaged, no frames   | creation torn by a crash: file removed, reported
 *   any other segment: header short or damaged         | ECORRUPT (file, offset)
 *   journalId differs from the first segment's         | ECORRUPT (foreign segment)
 *   header firstSeq differs from the file name         | ECORRUPT (duplicated or renamed segment)
 *   sound frame whose seq is not the next one          | ECORRUPT (gap or duplicate)
 *   last segment: bad frame, no sound frame after it   | torn tail: cut off (truncate + fdatasync), reported
 *   last segment: bad frame, a sound frame after it    | ECORRUPT (damage in the middle)
 *   any other segment: bad frame or trailing bytes     | ECORRUPT
 *   segments wholly at or below the last purge mark    | a purge a crash interrupted: finished
 *   first segment starts after the last purge mark + 1 | ECORRUPT (an unpurged segment is missing)
 *   firstSeq after the previous segment's last + 1     | ECORRUPT (segment missing)
 *   firstSeq before it                                 | ECORRUPT (duplicated records)
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
import { readRecoveryPoint, type RecoveryPoint, type SealedSegment } from './recovery-point.js';

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
  /** The highest purge mark written into it (0n: none). */
  purgeMark: Seq;
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
  /** Sealed segments taken from the recovery point, not scanned. */
  trustedSegments: number;
  /** 'used', 'none' (no point, or not asked to trust it), or why the point was set aside. */
  recoveryPoint: string;
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
    handle = await io.open(file, 'read');
  } catch (error) {
    throw fromIoError(error, file);
  }
  try {
    return await use(handle);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

type ScannedSegment =
  | { kind: 'torn creation'; file: string; fileBytes: number }
  | {
      kind: 'segment';
      segment: SegmentState;
      journalId: JournalId;
      purgedThroughSeq: Seq;
      /** Where a torn tail starts, when the segment has one. */
      tornTail: { offset: ByteOffset; bytes: number; damage: string } | null;
    };

/** Reads and checks one segment whole; throws ECORRUPT on damage that is not a crash's. */
async function scanSegment(io: Io, dir: string, name: string, nameSeq: Seq, isLast: boolean): Promise<ScannedSegment> {
  const file = path.join(dir, name);
  return withFile(io, file, async (handle) => {
    const fileBytes = await handle.size();
    const headerBytes = new Uint8Array(Math.min(fileBytes, SEGMENT_HEADER_BYTES));
    await handle.read(headerBytes, 0);
    const header = decodeSegmentHeader(headerBytes);
    if ('damage' in header) {
      if (isLast && fileBytes <= SEGMENT_HEADER_BYTES) return { kind: 'torn creation', file, fileBytes };
      throw corrupt(file, header.offset, header.damage);
    }
    if (header.firstSeq !== nameSeq) {
      throw corrupt(file, 24, `header says first seq ${header.firstSeq} but the name says ${nameSeq} (duplicated or renamed segment)`);
    }
    const segment: SegmentState = {
      name,
      path: file,
      firstSeq: header.firstSeq,
      lastSeq: header.firstSeq - 1n,
      bytes: SEGMENT_HEADER_BYTES,
      hasRecords: false,
      purgeMark: 0n,
      index: [],
    };
    const scanner = new FrameScanner(handle, SEGMENT_HEADER_BYTES, fileBytes);
    try {
      return await scanFrames(scanner, { handle, file, fileBytes, isLast }, segment, header.journalId);
    } finally {
      await scanner.settle();
    }
  });
}

interface SegmentFile {
  handle: IoFile;
  file: string;
  fileBytes: number;
  isLast: boolean;
}

/** Scans the frames of one segment into `segment`: its seqs, length, purge mark and index points. */
async function scanFrames(scanner: FrameScanner, { handle, file, fileBytes, isLast }: SegmentFile, segment: SegmentState, journalId: JournalId): Promise<ScannedSegment> {
  let purgedThroughSeq: Seq = 0n;
  for (;;) {
    const step = await scanner.next();
    if (step.kind === 'end') break;
    if (step.kind === 'damage') {
      if (!isLast || (await soundFrameFollows(handle, step.offset, fileBytes, segment.lastSeq))) {
        throw corrupt(file, step.offset, `${step.damage}${isLast ? ' with sound entries after it' : ''}`);
      }
      const tornTail = { offset: step.offset, bytes: fileBytes - step.offset, damage: step.damage };
      return { kind: 'segment', segment, journalId, purgedThroughSeq, tornTail };
    }
    const frame = readFrameHeader(step.buffer, step.at);
    if (frame.kind === FRAME_KIND_PURGE) {
      if (frame.seq > segment.lastSeq) {
        throw corrupt(file, step.offset, `purge mark ${frame.seq} is beyond the last record ${segment.lastSeq}`);
      }
      if (frame.seq > purgedThroughSeq) purgedThroughSeq = segment.purgeMark = frame.seq;
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
  return { kind: 'segment', segment, journalId, purgedThroughSeq, tornTail: null };
}

/**
 * A sealed segment as the recovery point recorded it, if the file is still
 * what was sealed: its length as recorded, its header sound, the journal's
 * and naming the same first seq; null to scan it instead.
 */
async function trustSealed(io: Io, dir: string, name: string, sealed: SealedSegment, journalId: JournalId): Promise<ScannedSegment | null> {
  const file = path.join(dir, name);
  return withFile(io, file, async (handle) => {
    if ((await handle.size()) !== sealed.bytes) return null;
    const headerBytes = new Uint8Array(SEGMENT_HEADER_BYTES);
    await handle.read(headerBytes, 0);
    const header = decodeSegmentHeader(headerBytes);
    if ('damage' in header || header.journalId !== journalId || header.firstSeq !== sealed.firstSeq) return null;
    const segment: SegmentState = {
      name,
      path: file,
      firstSeq: sealed.firstSeq,
      lastSeq: sealed.lastSeq,
      bytes: sealed.bytes,
      hasRecords: sealed.lastSeq >= sealed.firstSeq,
      purgeMark: sealed.purgeMark,
      index: sealed.index,
    };
    return { kind: 'segment', segment, journalId, purgedThroughSeq: sealed.purgeMark, tornTail: null };
  });
}

type TornTail = { segment: SegmentState; offset: ByteOffset; bytes: number; damage: string };
type Doomed = { file: string; bytes: number; what: string };

/**
 * Checks the whole directory first and repairs only once everything checked
 * out, so an open that fails with ECORRUPT leaves every file as it found it.
 * With `repair: false` nothing is changed: the report lists what would be
 * repaired (for `fanlog verify`), and damage still throws ECORRUPT.
 */
export async function recover(
  io: Io,
  dir: string,
  {
    repair = true,
    onSegment,
    trustRecoveryPoint = true,
  }: { repair?: boolean; onSegment?: (scanned: number, total: number) => void; trustRecoveryPoint?: boolean } = {},
): Promise<Recovered> {
  const started = performance.now();
  const report: RecoveryReport = { truncatedBytes: 0, segments: 0, records: 0, ms: 0, repairs: [], trustedSegments: 0, recoveryPoint: 'none' };
  let point: RecoveryPoint | null = null;
  if (trustRecoveryPoint) {
    const read = await readRecoveryPoint(io, dir).catch((error: unknown) => ({ unusable: `recovery point unreadable: ${(error as Error).message}` }));
    if (read !== null && 'unusable' in read) report.recoveryPoint = read.unusable;
    else if (read !== null) (point = read), (report.recoveryPoint = 'used');
  }
  const scanned = await scanAll(io, dir, report, onSegment, point);
  const segments = checkSequence(scanned.segments, scanned.purgedThroughSeq, scanned.doomed);
  // Everything checked out: repair.
  await repairAll(io, dir, scanned.tornTail, scanned.doomed, repair, report);
  report.segments = segments.length;
  const head = segments[segments.length - 1];
  report.records = head === undefined ? 0 : Number(head.lastSeq - segments[0]!.firstSeq + 1n);
  report.ms = performance.now() - started;
  return { journalId: segments.length === 0 ? null : scanned.journalId, segments, purgedThroughSeq: scanned.purgedThroughSeq, report };
}

/** Scans every segment file in seq order: the segments, the last purge mark, a torn tail, and torn creations to remove. */
async function scanAll(
  io: Io,
  dir: string,
  report: RecoveryReport,
  onSegment: ((scanned: number, total: number) => void) | undefined,
  point: RecoveryPoint | null,
): Promise<{ journalId: JournalId | null; purgedThroughSeq: Seq; segments: SegmentState[]; tornTail: TornTail | null; doomed: Doomed[] }> {
  const names = (await io.readdir(dir))
    .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
    .filter((entry): entry is { name: string; firstSeq: Seq } => entry.firstSeq !== null)
    .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  let journalId: JournalId | null = null;
  let purgedThroughSeq: Seq = 0n;
  const segments: SegmentState[] = [];
  let tornTail: TornTail | null = null;
  const doomed: Doomed[] = [];
  for (let i = 0; i < names.length; i++) {
    const { name, firstSeq } = names[i]!;
    const isLast = i === names.length - 1;
    const sealed = isLast ? undefined : point?.segments.get(name);
    const trusted = sealed === undefined ? null : await trustSealed(io, dir, name, sealed, point!.journalId);
    if (trusted !== null) report.trustedSegments++;
    const scanned = trusted ?? (await scanSegment(io, dir, name, firstSeq, isLast));
    onSegment?.(i + 1, names.length);
    if (scanned.kind === 'torn creation') {
      doomed.push({ file: scanned.file, bytes: scanned.fileBytes, what: 'segment whose creation was torn removed' });
      report.truncatedBytes += scanned.fileBytes;
      continue;
    }
    if (journalId !== null && scanned.journalId !== journalId) {
      throw corrupt(scanned.segment.path, 16, `segment belongs to journal ${scanned.journalId}, not ${journalId}`);
    }
    journalId = scanned.journalId;
    if (scanned.purgedThroughSeq > purgedThroughSeq) purgedThroughSeq = scanned.purgedThroughSeq;
    if (scanned.tornTail !== null) tornTail = { segment: scanned.segment, ...scanned.tornTail };
    segments.push(scanned.segment);
  }
  return { journalId, purgedThroughSeq, segments, tornTail, doomed };
}

/**
 * The segments that stay, once a purge a crash interrupted is finished
 * (added to `doomed`); ECORRUPT for a missing or duplicated segment.
 */
function checkSequence(all: SegmentState[], purgedThroughSeq: Seq, doomed: Doomed[]): SegmentState[] {
  // Segments wholly covered by the last purge mark are a purge a crash
  // interrupted, whatever order its deletions reached the disk in. The last
  // segment always stays.
  let purged = 0;
  while (purged < all.length - 1 && all[purged]!.lastSeq <= purgedThroughSeq) {
    const segment = all[purged++]!;
    doomed.push({ file: segment.path, bytes: segment.bytes, what: 'interrupted purge finished' });
  }
  const segments = all.slice(purged);
  const first = segments[0];
  if (first !== undefined && first.firstSeq > purgedThroughSeq + 1n) {
    throw corrupt(first.path, 24, `records ${purgedThroughSeq + 1n}..${first.firstSeq - 1n} are missing but were never purged (segment missing)`);
  }
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1]!;
    const segment = segments[i]!;
    if (segment.firstSeq !== previous.lastSeq + 1n) {
      throw corrupt(
        segment.path,
        24,
        segment.firstSeq > previous.lastSeq + 1n
          ? `records ${previous.lastSeq + 1n}..${segment.firstSeq - 1n} are missing (segment missing)`
          : `first seq ${segment.firstSeq} overlaps ${previous.name}, which ends at ${previous.lastSeq} (duplicated segment)`,
      );
    }
  }
  return segments;
}

/** Cuts the torn tail off and removes the doomed files (with `repair`), and reports each. */
async function repairAll(io: Io, dir: string, tornTail: TornTail | null, doomed: Doomed[], repair: boolean, report: RecoveryReport): Promise<void> {
  if (tornTail !== null) {
    const { segment, offset, bytes, damage } = tornTail;
    if (repair) {
      const handle = await io.open(segment.path, 'readwrite');
      try {
        await handle.truncate(offset);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
    report.truncatedBytes += bytes;
    report.repairs.push({ file: segment.path, offset, bytes, what: `torn tail (${damage}) cut off` });
  }
  for (const { file, bytes, what } of doomed) {
    if (repair) await io.unlink(file);
    report.repairs.push({ file, offset: 0, bytes, what });
  }
  if (repair && doomed.length > 0) await io.syncDir(dir);
}
