/**
 * The zero tail (journal/zero-tail.ts) on real files: commits overwrite
 * zeros written ahead, so the newest segment's size moves once per
 * ZERO_AHEAD_BYTES, not per commit; a sealed or closed segment is cut to
 * its data; recovery and a lock-free follower take the zeros as the end of
 * data, neither damage nor an unfinished entry.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Journal, NodeIo } from '../../journal/index.js';
import { JournalFollower } from '../../journal/follower.js';
import { SEGMENT_HEADER_BYTES } from '../../journal/segment.js';
import { ZERO_AHEAD_BYTES } from '../../journal/zero-tail.js';
import { tempDir, text } from '../helpers.js';

const segmentFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, name));

/** Where a segment's frames end, walking their length fields (a zero length is the end). */
function dataEnd(file: string): number {
  const bytes = readFileSync(file);
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + 4 <= bytes.length && bytes.readUInt32LE(offset) !== 0) offset += bytes.readUInt32LE(offset);
  return offset;
}

it('commits into zeros written ahead: the size holds across commits, and close cuts the segment to its data', async () => {
  const dir = tempDir();
  const journal = await Journal.open(dir, { segmentBytesMax: 8 * ZERO_AHEAD_BYTES });
  await journal.append(text('first'));
  const [file] = segmentFiles(dir);
  const size = statSync(file!).size;
  expect(size).toBe(dataEnd(file!) + ZERO_AHEAD_BYTES);
  for (let i = 0; i < 200; i++) await journal.append(text(`record ${i}`));
  expect(statSync(file!).size).toBe(size);
  // A batch past the zeros writes more of them, once.
  await Promise.all(Array.from({ length: 1000 }, (_, i) => journal.append(new Uint8Array(1200).fill(i % 251))));
  const grown = statSync(file!).size;
  expect(grown).toBe(dataEnd(file!) + ZERO_AHEAD_BYTES);
  await journal.close();
  expect(statSync(file!).size).toBe(dataEnd(file!));

  const reopened = await Journal.open(dir);
  expect(reopened.recovery.repairs).toEqual([]);
  expect(reopened.headSeq).toBe(1201n);
  await reopened.close();
});

it('seals a segment cut to its data, and recovers a live zero tail without a repair', async () => {
  const dir = tempDir();
  const journal = await Journal.open(dir, { segmentBytesMax: 8192 });
  for (let i = 0; i < 200; i++) await journal.append(text(`record ${i}`.padEnd(60, '.')));
  const files = segmentFiles(dir);
  expect(files.length).toBeGreaterThan(1);
  for (const file of files.slice(0, -1)) expect(statSync(file).size, file).toBe(dataEnd(file));
  const newest = files.at(-1)!;
  // Zeroed ahead no further than the segment's limit.
  expect(statSync(newest).size).toBe(8192);
  expect(dataEnd(newest)).toBeLessThan(8192);

  // Another process reads beside the writer: the zeros are the end, neither damage nor an unfinished entry.
  const follower = new JournalFollower(new NodeIo(), dir);
  const seen: bigint[] = [];
  for (let batch = await follower.poll(); batch.length > 0; batch = await follower.poll()) seen.push(...batch.map((record) => record.seq));
  expect(seen).toHaveLength(200);
  expect(follower.unfinished).toBeNull();

  // Read only, as a lock-free reader opens it: the same end, nothing to repair.
  const beside = await Journal.open(dir, { readOnly: true });
  expect(beside.headSeq).toBe(200n);
  expect(beside.recovery.repairs).toEqual([]);
  await beside.close();
  await journal.close();
});
