/**
 * A write into bytes already on disk (the zero tail, zero-tail.ts) can reach
 * the disk page by page in no order, so a power cut can leave later frames
 * of the write sound after damage to earlier ones. Frames name the write
 * that carried them (frame.ts batch delta), and recovery excuses the sound
 * frames of the last write only (segment.ts `soundFrameFollows`): damage
 * that any other sound frame follows is still ECORRUPT. On real files.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { BATCH_DELTA_MAX, encodePurgeFrame, encodeRecordsFrame, frameBatchDeltaAt } from '../../journal/frame.js';
import { JournalFollower } from '../../journal/follower.js';
import { Journal, NodeIo } from '../../journal/index.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { SEGMENT_HEADER_BYTES } from '../../journal/segment.js';
import { readAll, rejection, tempDir, text } from '../helpers.js';
import { frameOffsets } from './segment-walk.js';

const SINGLES = 5;
const GROUP = 8;

/** A journal of SINGLES appends, each a write of its own, then `groups` writes of GROUP concurrent appends; returns its one segment. */
async function written(groups: number): Promise<{ dir: string; file: string }> {
  const dir = tempDir();
  const journal = await Journal.open(dir);
  for (let i = 1; i <= SINGLES; i++) await journal.append(text(`single ${i}`));
  for (let g = 0; g < groups; g++) await Promise.all(Array.from({ length: GROUP }, (_, i) => journal.append(text(`group ${g} entry ${i}`))));
  await journal.close();
  const names = readdirSync(dir).filter((name) => name.endsWith('.seg'));
  expect(names).toHaveLength(1);
  return { dir, file: path.join(dir, names[0]!) };
}

/** Zeros the frame at index `index` of the file, as a page of an in-place write that never landed. */
function zeroFrame(file: string, index: number): number {
  const offsets = frameOffsets(file);
  const bytes = readFileSync(file);
  const at = offsets[index]!;
  bytes.fill(0, at, offsets[index + 1] ?? bytes.length);
  writeFileSync(file, bytes);
  return at;
}

it('names each frame by the records of its write before it', async () => {
  const { file } = await written(2);
  const bytes = readFileSync(file);
  const deltas = frameOffsets(file).map((offset) => frameBatchDeltaAt(bytes, offset));
  const group = Array.from({ length: GROUP }, (_, i) => i);
  expect(deltas).toEqual([...Array<number>(SINGLES).fill(0), ...group, ...group]);
});

it('cuts the last write at its first damaged frame when its later frames landed', async () => {
  for (const damaged of [0, 3, GROUP - 2]) {
    const { dir, file } = await written(1);
    const offset = zeroFrame(file, SINGLES + damaged);
    const journal = await Journal.open(dir);
    expect(journal.headSeq, `frame ${damaged} of the last write`).toBe(BigInt(SINGLES + damaged));
    expect(journal.recovery.repairs).toEqual([expect.objectContaining({ file, offset })]);
    expect((await readAll(journal)).map((record) => record.seq)).toEqual(Array.from({ length: SINGLES + damaged }, (_, i) => BigInt(i + 1)));
    await journal.close();
  }
});

it('shows a lock-free reader the frames before the damage, and the rest as unfinished, not corrupt', async () => {
  const { dir, file } = await written(1);
  const offset = zeroFrame(file, SINGLES);
  const follower = new JournalFollower(new NodeIo(), dir);
  expect((await follower.poll()).map((record) => record.seq)).toEqual(Array.from({ length: SINGLES }, (_, i) => BigInt(i + 1)));
  expect(await follower.poll()).toEqual([]);
  expect(follower.unfinished).toEqual({ file, offset });
});

it('rejects damage to a write that a later write follows', async () => {
  // The last single append, then the group's write, whole: the damage was synced before the group was written.
  const { dir, file } = await written(1);
  const offset = zeroFrame(file, SINGLES - 1);
  const error = await rejection(() => Journal.open(dir));
  expect(error.code).toBe('ECORRUPT');
  expect(error.offset).toBe(offset);
  expect(error.message).toMatch(/with sound entries after it/);
});

it('rejects damage to a write with sound frames of the next write after it, even when its own follow too', async () => {
  for (const damaged of [0, 2]) {
    const { dir, file } = await written(2);
    const offset = zeroFrame(file, SINGLES + damaged);
    const error = await rejection(() => Journal.open(dir));
    expect(error.code, `frame ${damaged} of the first group`).toBe('ECORRUPT');
    expect(error.offset).toBe(offset);
  }
});

it('rejects damage that a purge mark follows: a purge is a write of its own, synced', async () => {
  const dir = tempDir();
  const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
  for (let i = 1; i <= 100; i++) await journal.append(text(`record ${i}`.padEnd(60, '-')));
  const groupFirst = journal.headSeq + 1n;
  await Promise.all(Array.from({ length: GROUP }, (_, i) => journal.append(text(`group ${i}`))));
  expect(await journal.purge(50n)).toBeGreaterThan(0);
  await journal.close();
  const newest = path.join(
    dir,
    readdirSync(dir)
      .filter((name) => name.endsWith('.seg'))
      .sort()
      .at(-1)!,
  );
  const bytes = readFileSync(newest);
  const offsets = frameOffsets(newest);
  // The group's first frame, then the rest of the group and the purge mark, sound.
  const first = offsets.findIndex((offset) => bytes.readUInt8(offset + 8) === 1 && bytes.readBigUInt64LE(offset + 16) === groupFirst);
  expect(first, 'the group starts in the newest segment').toBeGreaterThanOrEqual(0);
  expect(bytes.readUInt8(offsets.at(-1)! + 8), 'the purge mark is the last frame').toBe(2);
  const offset = zeroFrame(newest, first);
  const error = await rejection(() => Journal.open(dir));
  expect(error.code).toBe('ECORRUPT');
  expect(error.offset).toBe(offset);
});

it('rejects bytes before the first frame of a write: that frame lies where its write starts', async () => {
  const { dir, file } = await written(1);
  const at = frameOffsets(file)[SINGLES]!;
  const bytes = readFileSync(file);
  writeFileSync(file, Buffer.concat([bytes.subarray(0, at), Buffer.alloc(40, 0xee), bytes.subarray(at)]));
  const error = await rejection(() => Journal.open(dir));
  expect(error.code).toBe('ECORRUPT');
  expect(error.offset).toBe(at);
});

it('cuts the part of a write that went on into the next segment, when its first frame there is damaged', async () => {
  const dir = tempDir();
  const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
  for (let i = 1; i <= 40; i++) await journal.append(text(`record ${i}`.padEnd(60, '-')));
  await Promise.all(Array.from({ length: 64 }, (_, i) => journal.append(text(`group ${i}`.padEnd(60, '-')))));
  await journal.close();
  const names = readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort();
  const newest = path.join(dir, names.at(-1)!);
  const firstSeq = BigInt(names.at(-1)!.slice(0, 20));
  expect(frameBatchDeltaAt(readFileSync(newest), SEGMENT_HEADER_BYTES), 'the write began in the segment before').toBeGreaterThan(0);
  const offset = zeroFrame(newest, 0);
  const reopened = await Journal.open(dir, { segmentBytesMax: 4096 });
  expect(reopened.headSeq).toBe(firstSeq - 1n);
  expect(reopened.recovery.repairs).toEqual([expect.objectContaining({ file: newest, offset })]);
  await reopened.close();
});

it('starts another write, synced after the one before, when a batch would name more records than a delta holds', async () => {
  class LoggedIo extends MemoryIo {
    readonly log: string[] = [];
    override step(kind: 'write' | 'sync', file: string): void {
      this.log.push(kind);
      super.step(kind, file);
    }
  }
  const io = new LoggedIo();
  const journal = await Journal.open('/j', { io, segmentBytesMax: 2 ** 28 });
  io.log.length = 0;
  // One batch: an entry of BATCH_DELTA_MAX + 1 empty records, then one more entry.
  const big = journal.appendRecords(BATCH_DELTA_MAX + 1, () => undefined);
  const after = journal.append(text('after'));
  expect(await Promise.all([big, after])).toEqual([BigInt(BATCH_DELTA_MAX + 1), BigInt(BATCH_DELTA_MAX + 2)]);
  // The big entry and the zeros ahead of it, synced; then the last entry, synced.
  expect(io.log).toEqual(['write', 'write', 'sync', 'write', 'sync']);
  const [name] = (await io.readdir('/j')).filter((entry) => entry.endsWith('.seg'));
  const bytes = Buffer.from(io.fileBytes(`/j/${name}`));
  const second = SEGMENT_HEADER_BYTES + bytes.readUInt32LE(SEGMENT_HEADER_BYTES);
  expect(frameBatchDeltaAt(bytes, second)).toBe(0);
  await journal.close();
});

it('takes no payload shaped like a frame for one: a torn write whose records hold frames still opens, cut', async () => {
  // Bytes of sound frames as format 1 wrote them (no salt): a purge mark, and a records frame far ahead.
  const shapes = [encodePurgeFrame(1n), encodeRecordsFrame(1000n, [new Uint8Array(40).fill(7)])];
  for (const shape of shapes) {
    const poison = Buffer.concat([Buffer.alloc(600, 0x41), shape, Buffer.alloc(100, 0x42)]);
    let refused = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const io = new MemoryIo();
      const journal = await Journal.open('/j', { io });
      for (let i = 0; i < 3; i++) await journal.append(new Uint8Array(100).fill(i));
      // The write of two more lands in the page cache; its fdatasync is cut. The disk lands its units in no order.
      io.cutPowerAfter(1);
      await Promise.all([journal.append(new Uint8Array(700).fill(9)), journal.append(poison)]).catch(() => undefined);
      io.crash(seed, 'scatter');
      try {
        const reopened = await Journal.open('/j', { io });
        expect(reopened.headSeq, `seed ${seed}`).toBeGreaterThanOrEqual(3n);
        await reopened.close();
      } catch (error) {
        refused++;
        expect.soft(error, `seed ${seed}`).toBeUndefined();
      }
    }
    expect(refused).toBe(0);
  }
});
