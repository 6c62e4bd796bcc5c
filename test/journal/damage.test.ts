/**
 * Damage on the real file system, case by case as recovery.ts lists them:
 * torn tails are cut and reported; anything else is ECORRUPT naming the file
 * and the byte offset, and nothing is skipped silently.
 */
import { appendFileSync, copyFileSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Journal, NodeIo } from '../../journal/index.js';
import { recover } from '../../journal/recovery.js';
import { RECOVERY_POINT_NAME } from '../../journal/recovery-point.js';
import { readAll, rejection, tempDir, text } from '../helpers.js';
import { frameOffsets } from './segment-walk.js';

const OPTIONS = { segmentBytesMax: 4096 };
const RECORDS = 300;

let dir: string;
let segments: string[];

function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  bytes[offset]! ^= 0x40;
  writeFileSync(file, bytes);
}

async function expectCorrupt(file: string, offset: number, message: RegExp): Promise<void> {
  const error = await rejection(() => Journal.open(dir, OPTIONS));
  expect(error.code).toBe('ECORRUPT');
  expect(error.file).toBe(file);
  expect(error.offset).toBe(offset);
  expect(error.message).toContain(file);
  expect(error.message).toContain(`byte ${offset}`);
  expect(error.message).toMatch(message);
}

async function expectRecoveredTo(head: bigint, truncatedBytes: number): Promise<void> {
  const journal = await Journal.open(dir, OPTIONS);
  expect(journal.headSeq).toBe(head);
  expect(journal.recovery.truncatedBytes).toBe(truncatedBytes);
  expect(journal.recovery.repairs.length).toBe(truncatedBytes > 0 ? 1 : 0);
  const records = await readAll(journal);
  expect(records.length).toBe(Number(head));
  await journal.close();
  const again = await Journal.open(dir, OPTIONS);
  expect(again.recovery.repairs).toEqual([]);
  await again.close();
}

beforeEach(async () => {
  dir = tempDir();
  const journal = await Journal.open(dir, OPTIONS);
  for (let i = 1; i <= RECORDS; i++) await journal.append(text(`record ${i}`.padEnd(50, '-')));
  await journal.close();
  segments = readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, name));
  expect(segments.length).toBeGreaterThanOrEqual(4);
});

describe('damage', () => {
  it('cuts a partial final entry and reports the bytes', async () => {
    const last = segments[segments.length - 1]!;
    const size = statSync(last).size;
    truncateSync(last, size - 10);
    const lastFrameBytes = size - frameOffsets(last).at(-1)!;
    await expectRecoveredTo(BigInt(RECORDS - 1), lastFrameBytes - 10);
  });

  it('takes zeros after the final entry as the end (a zero tail), and cuts garbage after them with the zeros', async () => {
    const last = segments[segments.length - 1]!;
    const size = statSync(last).size;
    appendFileSync(last, Buffer.alloc(300, 0));
    await expectRecoveredTo(BigInt(RECORDS), 0);
    // Nothing repaired, and the journal's close cut the zeros it wrote into (it wrote none).
    expect(statSync(last).size).toBe(size);
    appendFileSync(last, Buffer.alloc(300, 0));
    appendFileSync(last, Buffer.from('this is not a frame, just bytes a crash left behind'));
    await expectRecoveredTo(BigInt(RECORDS), 351);
  });

  it('cuts a final entry with a flipped bit (indistinguishable from a torn write)', async () => {
    const last = segments[segments.length - 1]!;
    const offset = frameOffsets(last).at(-1)!;
    flipByte(last, offset + 30);
    await expectRecoveredTo(BigInt(RECORDS - 1), statSync(last).size - offset);
  });

  it('rejects a flipped bit in a middle entry of the last segment', async () => {
    const last = segments[segments.length - 1]!;
    const offset = frameOffsets(last)[1]!;
    flipByte(last, offset + 30);
    await expectCorrupt(last, offset, /checksum mismatch with sound entries after it/);
  });

  it('rejects zeros in place of a middle entry of the last segment: a lost write, not the zero tail', async () => {
    const last = segments[segments.length - 1]!;
    const [, offset, next] = frameOffsets(last);
    const bytes = readFileSync(last);
    bytes.fill(0, offset, next);
    writeFileSync(last, bytes);
    await expectCorrupt(last, offset!, /impossible length with sound entries after it/);
  });

  it('rejects a flipped length in a middle entry of the last segment', async () => {
    const last = segments[segments.length - 1]!;
    const offset = frameOffsets(last)[1]!;
    flipByte(last, offset + 2);
    await expectCorrupt(last, offset, /incomplete frame|checksum mismatch/);
  });

  it('reports a flipped bit in a sealed segment below the recovery point when it is read, and a full scan rejects it', async () => {
    const file = segments[1]!;
    const offset = frameOffsets(file)[3]!;
    flipByte(file, offset + 25);
    // Open trusts the sealed segments the recovery point describes: it reads none of their frames.
    const journal = await Journal.open(dir, OPTIONS);
    expect(journal.recovery.recoveryPoint).toBe('used');
    expect(journal.recovery.trustedSegments).toBe(segments.length - 1);
    const error = await rejection(() => readAll(journal));
    expect([error.code, error.file, error.offset]).toEqual(['ECORRUPT', file, offset]);
    expect(error.message).toMatch(/checksum mismatch/);
    // Reading from after the damage is unaffected; reading across it fails again.
    expect((await readAll(journal, { from: 200n })).length).toBe(RECORDS - 199);
    expect((await rejection(() => readAll(journal, { from: 2n }))).offset).toBe(offset);
    await journal.close();
    // What `fanlog verify` does: scan everything, trusting nothing.
    const scan = await rejection(() => recover(new NodeIo(), dir, { repair: false, trustRecoveryPoint: false }));
    expect([scan.code, scan.file, scan.offset]).toEqual(['ECORRUPT', file, offset]);
    // Without the recovery point, open scans every segment and rejects it.
    rmSync(path.join(dir, RECOVERY_POINT_NAME));
    await expectCorrupt(file, offset, /checksum mismatch/);
  });

  it('sets a damaged recovery point aside and scans every segment', async () => {
    flipByte(path.join(dir, RECOVERY_POINT_NAME), 30);
    const journal = await Journal.open(dir, OPTIONS);
    expect(journal.recovery.recoveryPoint).toMatch(/checksum mismatch/);
    expect(journal.recovery.trustedSegments).toBe(0);
    expect((await readAll(journal)).length).toBe(RECORDS);
    await journal.close();
  });

  it('scans a sealed segment whose length is not the one the recovery point recorded', async () => {
    const file = segments[1]!;
    appendFileSync(file, Buffer.alloc(7, 1));
    await expectCorrupt(file, statSync(file).size - 7, /./);
  });

  it('leaves every file as it was when it rejects, even a torn tail it would otherwise cut', async () => {
    rmSync(path.join(dir, RECOVERY_POINT_NAME));
    const last = segments[segments.length - 1]!;
    appendFileSync(last, Buffer.alloc(100, 7));
    flipByte(segments[1]!, frameOffsets(segments[1]!)[2]! + 30);
    const before = segments.map((file) => readFileSync(file));
    expect((await rejection(() => Journal.open(dir, OPTIONS))).code).toBe('ECORRUPT');
    expect(segments.map((file) => readFileSync(file))).toEqual(before);
  });

  it('rejects an older segment cut short', async () => {
    const file = segments[1]!;
    const offsets = frameOffsets(file);
    truncateSync(file, offsets.at(-1)! + 5);
    await expectCorrupt(file, offsets.at(-1)!, /incomplete/);
  });

  it('rejects a damaged segment header', async () => {
    const file = segments[2]!;
    flipByte(file, 20);
    await expectCorrupt(file, 32, /header checksum mismatch/);
  });

  it('rejects a deleted middle segment', async () => {
    rmSync(segments[2]!);
    await expectCorrupt(segments[3]!, 24, /missing/);
  });

  it('rejects a deleted first segment that was never purged', async () => {
    rmSync(segments[0]!);
    await expectCorrupt(segments[1]!, 24, /never purged/);
  });

  it('rejects a segment duplicated under another name', async () => {
    const copy = path.join(dir, `${'9'.repeat(16)}0000.seg`);
    copyFileSync(segments[1]!, copy);
    await expectCorrupt(copy, 24, /duplicated or renamed/);
  });

  it('rejects a segment from another journal', async () => {
    const other = tempDir();
    const foreign = await Journal.open(other, OPTIONS);
    for (let i = 1; i <= RECORDS; i++) await foreign.append(text(`foreign ${i}`.padEnd(50, '-')));
    await foreign.close();
    const name = path.basename(segments[2]!);
    copyFileSync(path.join(other, name), segments[2]!);
    await expectCorrupt(segments[2]!, 16, /belongs to journal/);
  });

  it('rejects a missing last segment only where a gap shows, and reopens a clean tail', async () => {
    // Renaming the newest segment to an older, free name makes records overlap.
    const last = segments[segments.length - 1]!;
    renameSync(last, path.join(dir, `${'0'.repeat(19)}2.seg`));
    await expectCorrupt(path.join(dir, `${'0'.repeat(19)}2.seg`), 24, /duplicated or renamed/);
  });

  it('removes a last segment whose creation was torn, and reports it', async () => {
    const torn = path.join(dir, `${String(RECORDS + 1).padStart(20, '0')}.seg`);
    writeFileSync(torn, Buffer.alloc(17));
    await expectRecoveredTo(BigInt(RECORDS), 17);
    expect(readdirSync(dir)).not.toContain(path.basename(torn));
  });

  it('finishes a purge that a crash interrupted after its mark was durable', async () => {
    const journal = await Journal.open(dir, OPTIONS);
    const doomedCopy = `${segments[0]!}.saved`;
    copyFileSync(segments[0]!, doomedCopy);
    expect(await journal.purge(BigInt(RECORDS / 2))).toBeGreaterThan(0);
    const firstSeq = journal.firstSeq;
    await journal.close();
    // Put the first purged segment back, as if its unlink never reached the disk.
    renameSync(doomedCopy, segments[0]!);
    const reopened = await Journal.open(dir, OPTIONS);
    expect(reopened.firstSeq).toBe(firstSeq);
    expect(reopened.recovery.repairs.map((repair) => repair.what)).toEqual(['interrupted purge finished']);
    await reopened.close();
  });
});
