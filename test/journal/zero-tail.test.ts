/**
 * The zero tail (journal/zero-tail.ts) on real files: commits overwrite
 * zeros written ahead, so the newest segment's size moves once per
 * ZERO_AHEAD_BYTES, not per commit; a sealed or closed segment is cut to
 * its data; recovery and a lock-free follower take the zeros as the end of
 * data, neither damage nor an unfinished entry.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Journal, NodeIo } from '../../journal/index.js';
import type { Io } from '../../journal/io.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { JournalFollower } from '../../journal/follower.js';
import { FRAME_HEADER_BYTES } from '../../journal/frame.js';
import { ZERO_AHEAD_BYTES } from '../../journal/zero-tail.js';
import { tempDir, text } from '../helpers.js';
import { dataEnd } from './segment-walk.js';

const segmentFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, name));

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

/** `io` as a reader beside a writer sees it: `after` runs after each read of a segment, before the reader gets its bytes. */
function besideWriter(io: Io, after: (buffer: Uint8Array, read: number) => Promise<void>): Io {
  return {
    mkdirp: (dir) => io.mkdirp(dir),
    readdir: (dir) => io.readdir(dir),
    unlink: (file) => io.unlink(file),
    rename: (from, to) => io.rename(from, to),
    syncDir: (dir) => io.syncDir(dir),
    lock: (dir) => io.lock(dir),
    open: async (file, mode) => {
      const handle = await io.open(file, mode);
      if (mode !== 'read' || !file.endsWith('.seg')) return handle;
      return {
        path: handle.path,
        size: () => handle.size(),
        write: (data, position) => handle.write(data, position),
        truncate: (length) => handle.truncate(length),
        datasync: () => handle.datasync(),
        close: () => handle.close(),
        read: async (buffer, position) => {
          const read = await handle.read(buffer, position);
          await after(buffer, read);
          return read;
        },
      };
    },
  };
}

/**
 * A journal of two records, and a read-only open of it whose reads the writer follows, once
 * `when(buffer, read)` says so, with two appends: the open must see the two records, and no damage.
 */
async function opensBesideTwoAppends(when: (buffer: Uint8Array, read: number) => boolean): Promise<void> {
  const io = new MemoryIo();
  const writer = await Journal.open('/j', { io });
  for (let i = 0; i < 2; i++) await writer.append(new Uint8Array(50).fill(i));
  let appended = false;
  const beside = besideWriter(io, async (buffer, read) => {
    if (appended || !when(buffer, read)) return;
    appended = true;
    await writer.append(new Uint8Array(50).fill(9));
    await writer.append(new Uint8Array(50).fill(8));
  });
  const reader = await Journal.open('/j', { io: beside, readOnly: true });
  expect(appended).toBe(true);
  // What the scan read: the two records before the appends, nothing repaired or reported.
  expect(reader.headSeq).toBe(2n);
  expect(reader.recovery.repairs).toEqual([]);
  await reader.close();
  await writer.close();
}

it('opens read only beside a writer that writes into the zeros after the scan read them: the end, not damage', async () => {
  // The reader's first read of the segment (its scan's chunk, the zeros included) is followed by two appends.
  await opensBesideTwoAppends((_buffer, read) => read > 1000);
});

it('opens read only beside a writer that writes two entries just after the end of data was read again: not damage', async () => {
  // The scan found the end of data, and read its header again (zeros: nothing written since); then the writer
  // makes two writes, so that the rest of the file holds a sound frame of a second write after bytes the reader
  // last saw as zeros. Those bytes are whole now, and read again they are the end, not damage in the middle.
  await opensBesideTwoAppends((buffer, read) => read === FRAME_HEADER_BYTES && buffer.subarray(0, read).every((byte) => byte === 0));
});

it('goes on without zeros when the disk has no room for them, and fails no append for it', async () => {
  const io = new MemoryIo();
  const journal = await Journal.open('/j', { io });
  // The first append's data is written; the zeros ahead of it find the disk full.
  io.injectFault({ op: 'write', nth: 2, code: 'ENOSPC' });
  expect(await journal.append(text('first'))).toBe(1n);
  expect(io.faultsFired).toBe(1);
  for (let i = 2; i <= 5; i++) expect(await journal.append(text(`record ${i}`))).toBe(BigInt(i));
  const [name] = (await io.readdir('/j')).filter((entry) => entry.endsWith('.seg'));
  // No zeros were left after the data: the segment grows with it until it rolls.
  expect(dataEnd(io.fileBytes(`/j/${name}`))).toBe(io.fileBytes(`/j/${name}`).length);
  await journal.close();
  const reopened = await Journal.open('/j', { io });
  expect(reopened.headSeq).toBe(5n);
  expect(reopened.recovery.repairs).toEqual([]);
  await reopened.close();
});
