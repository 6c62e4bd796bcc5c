/**
 * Recovery: what `Journal.open` does with the directory it finds.
 *
 * Every segment is read in full and every frame checked, so the journal that
 * opens is known sound; except that a sealed segment the recovery point
 * describes exactly is taken from it (recovery-point.ts: its frames are
 * checked when read, and by `fanlog verify`, which passes
 * `trustRecoveryPoint: false`).
 *
 * What is done with each thing found is recovery's case table,
 * recovery-cases.ts: the rows are data, and the code below dispatches on
 * them at each step, in this order: the names in the directory (anything
 * not named like a segment is ignored); each segment's header (a torn
 * creation of the last segment is removed); its frames (a torn tail of the
 * last segment is cut; a gap, a purge mark beyond the records, or damage
 * anywhere else is ECORRUPT); its journal id; the segments in seq order
 * against the last purge mark (a purge a crash interrupted is finished; a
 * missing or duplicated segment is ECORRUPT); and, when no segment is
 * left, a new, empty journal.
 *
 * Why the torn-tail rule is sound: every acknowledged entry was fsynced
 * together with all bytes before it, so damage that a crash can cause lies
 * after every acknowledged entry. Appends reach the disk in order; a write
 * into the zero tail (zero-tail.ts) may land its pages in any order, but
 * only one such write is ever unsynced. So if a sound frame follows the
 * damage and it is not of that write (frame.ts batch delta; segment.ts
 * `soundFrameFollows`), the damage is not at the tail, and cutting there
 * could lose acknowledged records: that must be loud, not repaired.
 * Limitation: damage to the last write of the last segment (a bit flip in
 * it, not a crash) looks like a torn tail, and is cut and reported.
 */
import assert from 'node:assert/strict';
import { fromIoError } from '../errors.js';
import { checkFrame, FRAME_BYTES_LIMIT, FRAME_HEADER_BYTES, FRAME_KIND_RECORDS, type FrameCheck, readFrameHeader, readU32 } from './frame.js';
import type { Io, IoFile } from './io.js';
import { recoveryCase } from './recovery-cases.js';
import {
  addIndexPoint,
  damageScanCheck,
  decodeSegmentHeader,
  FrameScanner,
  parseSegmentFileName,
  SEGMENT_HEADER_BYTES,
  type SegmentState,
  soundFrameFollows,
  type TornWrite,
} from './segment.js';
import type { ByteOffset, JournalId, Seq } from './types.js';
import path from 'node:path';
import { readRecoveryPoint, type RecoveryPoint, unchangedSegment } from './recovery-point.js';
import { zerosToEnd } from './zero-tail.js';

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
    const sound = !('damage' in header);
    const found = recoveryCase('header', {
      sound,
      newest: isLast,
      headerOnly: fileBytes <= SEGMENT_HEADER_BYTES,
      nameAgrees: sound && header.firstSeq === nameSeq,
    });
    if (found.action === 'remove') return { kind: 'torn creation', file, fileBytes };
    if (found.action === 'corrupt') {
      throw found.error(
        sound
          ? { file, offset: 0, damage: '', firstSeq: header.firstSeq, nameSeq }
          : { file, offset: header.offset, damage: header.damage, firstSeq: 0n, nameSeq },
      );
    }
    if ('damage' in header) assert.fail(`case '${found.found}' scans the frames of ${file}, whose header is damaged`);
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
    const damageCheck = damageScanCheck(header);
    const scanner = new FrameScanner(handle, SEGMENT_HEADER_BYTES, fileBytes, { salt: damageCheck.salt, saltedOnly: false });
    try {
      return await scanFrames(scanner, { handle, file, fileBytes, isLast, damageCheck }, segment, header.journalId);
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
  /** How the damage scan checks this segment's frames (segment.ts `damageScanCheck`). */
  damageCheck: FrameCheck;
}

/** Scans the frames of one segment into `segment`: its seqs, length, purge mark and index points. */
async function scanFrames(
  scanner: FrameScanner,
  { handle, file, fileBytes, isLast, damageCheck }: SegmentFile,
  segment: SegmentState,
  journalId: JournalId,
): Promise<ScannedSegment> {
  let purgedThroughSeq: Seq = 0n;
  // Where the write of the last records frame started (frame.ts batch delta), for a torn tail's test.
  let writeStart: Seq | null = null;
  for (;;) {
    const step = await scanner.next();
    if (step.kind === 'end') break;
    const frame = step.kind === 'frame' ? readFrameHeader(step.buffer, step.at) : null;
    const records = frame?.kind === FRAME_KIND_RECORDS;
    // Only a damaged frame of the newest segment needs the rest of the file read (recovery-cases.ts).
    let writtenSince = frame === null && isLast && (await soundNow(handle, step.offset, damageCheck));
    const zerosAfter = frame === null && isLast && !writtenSince && (await zerosToEnd(handle, step.offset, fileBytes));
    const torn: TornWrite = { nextSeq: segment.lastSeq + 1n, writeStart };
    const soundAfter: boolean =
      frame === null && isLast && !writtenSince && !zerosAfter && (await soundFrameFollows(handle, step.offset, fileBytes, torn, damageCheck));
    // A writer writes in order, each write whole before the next begins: a sound frame found after the damage
    // that no torn write explains may have been written after the damage was read again, and then the bytes
    // at the damage were whole before it. So they are read once more, last (soundNow).
    if (soundAfter) writtenSince = await soundNow(handle, step.offset, damageCheck);
    const found = recoveryCase('frame', {
      sound: frame !== null,
      records,
      seqFits: frame !== null && (records ? frame.seq === segment.lastSeq + 1n : frame.seq <= segment.lastSeq),
      newest: isLast,
      writtenSince,
      zerosAfter,
      soundAfter,
    });
    if (found.action === 'corrupt') {
      throw found.error({ file, offset: step.offset, damage: step.kind === 'damage' ? step.damage : '', seq: frame?.seq ?? 0n, lastSeq: segment.lastSeq });
    }
    // The zero tail (zero-tail.ts), or bytes a writer beside this reader wrote after the scan read them: the data ends here.
    if (found.action === 'end') return { kind: 'segment', segment, journalId, purgedThroughSeq, tornTail: null };
    if (found.action === 'cut tail') {
      if (step.kind !== 'damage') assert.fail(`case '${found.found}' cuts a sound frame of ${file} at ${step.offset}`);
      const tornTail = { offset: step.offset, bytes: fileBytes - step.offset, damage: step.damage };
      return { kind: 'segment', segment, journalId, purgedThroughSeq, tornTail };
    }
    if (step.kind !== 'frame' || frame === null) assert.fail(`case '${found.found}' takes a damaged frame of ${file} at ${step.offset}`);
    if (found.action === 'take purge mark') {
      if (frame.seq > purgedThroughSeq) purgedThroughSeq = segment.purgeMark = frame.seq;
    } else {
      addIndexPoint(segment, frame.seq, step.offset);
      writeStart = frame.seq - BigInt(frame.batchDelta);
      segment.lastSeq += BigInt(frame.recordCount);
      segment.hasRecords = true;
    }
    segment.bytes = step.offset + step.frameBytes;
  }
  // The scanner ends only where the file does: every byte was taken as a sound frame.
  if (segment.bytes !== fileBytes) assert.fail(`${file}: the scan took ${segment.bytes} of ${fileBytes} bytes`);
  return { kind: 'segment', segment, journalId, purgedThroughSeq, tornTail: null };
}

/**
 * Whether the frame at `offset` is sound when read again from the file: a
 * writer beside a lock-free reader (a read-only open, `fanlog verify`)
 * writes into the zero tail, which the scan may have read as zeros just
 * before, or read while a write was under way. With the lock held nothing
 * writes, and the bytes are the ones the scan read.
 */
async function soundNow(file: IoFile, offset: ByteOffset, check: FrameCheck): Promise<boolean> {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  if ((await file.read(header, offset)) < FRAME_HEADER_BYTES) return false;
  const frameBytes = readU32(header, 0);
  // A length the file cannot hold (read now: a writer may have grown it) is no frame; nothing is allocated for it.
  if (frameBytes < FRAME_HEADER_BYTES || frameBytes > FRAME_BYTES_LIMIT || frameBytes > (await file.size()) - offset) return false;
  const frame = new Uint8Array(frameBytes);
  return (await file.read(frame, offset)) === frameBytes && checkFrame(frame, 0, frameBytes, check) === frameBytes;
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
    else if (read !== null) {
      point = read;
      report.recoveryPoint = 'used';
    }
  }
  const scanned = await scanAll(io, dir, report, onSegment, point);
  const segments = checkSequence(scanned.segments, scanned.purgedThroughSeq, scanned.doomed);
  // Everything checked out: repair.
  await repairAll(io, dir, scanned, segments, repair, report);
  report.segments = segments.length;
  const head = segments[segments.length - 1];
  report.records = head === undefined ? 0 : Number(head.lastSeq - segments[0]!.firstSeq + 1n);
  report.ms = performance.now() - started;
  // 'create': no journal id, and Journal.open makes the first segment, at the last purge mark + 1.
  const found = recoveryCase('journal', { segmentsKept: segments.length > 0 });
  if (found.action === 'resume' && scanned.journalId === null) assert.fail(`${dir}: segments were kept, but none gave a journal id`);
  return { journalId: found.action === 'create' ? null : scanned.journalId, segments, purgedThroughSeq: scanned.purgedThroughSeq, report };
}

/** Scans every segment file in seq order: the segments, the last purge mark, a torn tail, and torn creations to remove. */
async function scanAll(
  io: Io,
  dir: string,
  report: RecoveryReport,
  onSegment: ((scanned: number, total: number) => void) | undefined,
  point: RecoveryPoint | null,
): Promise<{ journalId: JournalId | null; purgedThroughSeq: Seq; segments: SegmentState[]; tornTail: TornTail | null; doomed: Doomed[] }> {
  const names: { name: string; firstSeq: Seq }[] = [];
  for (const name of await io.readdir(dir)) {
    const firstSeq = parseSegmentFileName(name);
    const found = recoveryCase('entry', { segmentName: firstSeq !== null });
    if (found.action === 'ignore') continue;
    if (firstSeq === null) assert.fail(`case '${found.found}' scans ${name}, which is not named like a segment`);
    names.push({ name, firstSeq });
  }
  names.sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  let journalId: JournalId | null = null;
  let purgedThroughSeq: Seq = 0n;
  const segments: SegmentState[] = [];
  let tornTail: TornTail | null = null;
  const doomed: Doomed[] = [];
  for (let i = 0; i < names.length; i++) {
    const { name, firstSeq } = names[i]!;
    const isLast = i === names.length - 1;
    const sealed = isLast ? undefined : point?.segments.get(name);
    const trusted = sealed === undefined ? null : await withFile(io, path.join(dir, name), (handle) => unchangedSegment(handle, sealed, point!.journalId));
    if (trusted !== null) report.trustedSegments++;
    const scanned: ScannedSegment =
      trusted === null
        ? await scanSegment(io, dir, name, firstSeq, isLast)
        : { kind: 'segment', segment: trusted, journalId: point!.journalId, purgedThroughSeq: trusted.purgeMark, tornTail: null };
    onSegment?.(i + 1, names.length);
    if (scanned.kind === 'torn creation') {
      doomed.push({ file: scanned.file, bytes: scanned.fileBytes, what: 'segment whose creation was torn removed' });
      report.truncatedBytes += scanned.fileBytes;
      continue;
    }
    const found = recoveryCase('segment', { journalAgrees: journalId === null || scanned.journalId === journalId });
    if (found.action === 'corrupt') throw found.error({ file: scanned.segment.path, journalId: scanned.journalId, firstJournalId: journalId ?? 0n });
    // Names are distinct seqs, so the scan meets the segments in strictly increasing order.
    if (segments.length > 0 && segments[segments.length - 1]!.firstSeq >= firstSeq) assert.fail(`${dir}: ${name} is not after the segment before it`);
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
  const kept: SegmentState[] = [];
  // Segments wholly covered by the last purge mark, from the oldest on, are
  // a purge a crash interrupted, whatever order its deletions reached the
  // disk in. The last segment always stays.
  let purgedThrough = true;
  for (let i = 0; i < all.length; i++) {
    const segment = all[i]!;
    purgedThrough &&= i < all.length - 1 && segment.lastSeq <= purgedThroughSeq;
    const previous = kept[kept.length - 1];
    // The oldest kept segment is checked against the purge mark, as if a segment had ended there.
    const previousLastSeq = previous === undefined ? purgedThroughSeq : previous.lastSeq;
    const expectedSeq = previousLastSeq + 1n;
    const found = recoveryCase('sequence', {
      purgedThrough,
      oldestKept: previous === undefined,
      startsAfter: segment.firstSeq > expectedSeq,
      startsBefore: segment.firstSeq < expectedSeq,
    });
    if (found.action === 'corrupt') {
      throw found.error({ file: segment.path, firstSeq: segment.firstSeq, expectedSeq, previousName: previous?.name ?? '', previousLastSeq });
    }
    if (found.action === 'finish purge') doomed.push({ file: segment.path, bytes: segment.bytes, what: 'interrupted purge finished' });
    else kept.push(segment);
  }
  if (kept[kept.length - 1] !== all[all.length - 1]) assert.fail('recovery kept every segment but the newest');
  return kept;
}

/** Cuts the torn tail off and removes the doomed files (with `repair`), and reports each. */
async function repairAll(
  io: Io,
  dir: string,
  { tornTail, doomed }: { tornTail: TornTail | null; doomed: Doomed[] },
  kept: readonly SegmentState[],
  repair: boolean,
  report: RecoveryReport,
): Promise<void> {
  if (tornTail !== null) {
    const { segment, offset, bytes, damage } = tornTail;
    // Only the newest segment has a torn tail, and it always stays.
    if (segment !== kept[kept.length - 1]) assert.fail(`${segment.path}: a torn tail outside the newest segment`);
    assert.equal(offset, segment.bytes, 'a torn tail starts where the sound frames end');
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
