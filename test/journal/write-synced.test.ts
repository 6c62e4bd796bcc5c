/**
 * Under the sync policy 'always', a batch is written and made durable in one
 * Io call where the Io has `writeSynced` (NodeIo: an O_DSYNC descriptor,
 * one thread-pool hop instead of two), and by `write` then `datasync`
 * where it has not; under 'never' it is only written. Counted through an Io
 * that wraps MemoryIo and tallies each file call.
 */
import { expect, it } from 'vitest';
import { Journal } from '../../journal/index.js';
import type { Io, IoFile } from '../../journal/io.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { readAll, text, untext } from '../helpers.js';

type Call = 'write' | 'datasync' | 'writeSynced';

/** MemoryIo whose segment files tally their calls; `synced` false hides `writeSynced`, as an Io without it. */
function countingIo(synced: boolean): { io: Io; calls: Map<Call, number>; memory: MemoryIo } {
  const memory = new MemoryIo();
  const calls = new Map<Call, number>();
  const tally = (call: Call): void => void calls.set(call, (calls.get(call) ?? 0) + 1);
  const io: Io = {
    mkdirp: (dir) => memory.mkdirp(dir),
    readdir: (dir) => memory.readdir(dir),
    unlink: (file) => memory.unlink(file),
    rename: (from, to) => memory.rename(from, to),
    syncDir: (dir) => memory.syncDir(dir),
    lock: (dir) => memory.lock(dir),
    open: (file, mode) => open(file, mode),
  };
  const open = async (file: string, mode: Parameters<Io['open']>[1]): Promise<IoFile> => {
    const inner = await memory.open(file, mode);
    if (!file.endsWith('.seg')) return inner;
    const wrapped: IoFile = {
      path: inner.path,
      size: () => inner.size(),
      read: (buffer, position) => inner.read(buffer, position),
      truncate: (length) => inner.truncate(length),
      close: () => inner.close(),
      write: (data, position) => (tally('write'), inner.write(data, position)),
      datasync: () => (tally('datasync'), inner.datasync()),
    };
    if (synced) wrapped.writeSynced = (data, position) => (tally('writeSynced'), inner.writeSynced!(data, position));
    return wrapped;
  };
  return { io, calls, memory };
}

it("writes and syncs a batch in one writeSynced call under 'always', and the records survive a crash", async () => {
  const { io, calls, memory } = countingIo(true);
  const journal = await Journal.open('/j', { io });
  calls.clear();
  await Promise.all(Array.from({ length: 16 }, (_, i) => journal.append(text(`r${i}`))));
  await journal.append(text('alone'));
  expect(Object.fromEntries(calls)).toEqual({ writeSynced: 2 });
  expect(journal.durableSeq).toBe(17n);
  memory.crash(1, 'drop');
  const reopened = await Journal.open('/j', { io: memory });
  expect((await readAll(reopened)).map((record) => untext(record.payload)).at(-1)).toBe('alone');
  await reopened.close();
});

it("writes then syncs where the Io has no writeSynced, and only writes under 'never'", async () => {
  const plain = countingIo(false);
  const journal = await Journal.open('/j', { io: plain.io });
  plain.calls.clear();
  await journal.append(text('one'));
  expect(Object.fromEntries(plain.calls)).toEqual({ write: 1, datasync: 1 });
  await journal.close();

  const never = countingIo(true);
  const lazy = await Journal.open('/j', { io: never.io, sync: 'never' });
  never.calls.clear();
  await lazy.append(text('one'));
  expect(Object.fromEntries(never.calls)).toEqual({ write: 1 });
  await lazy.close();
});
