/**
 * An lmdb store read without the engine's lock, beside a second process
 * that holds it (issue 26: "a second process at the edges"): what `fanlog
 * stat`, `tail`, `export` and `verify` do.
 *
 * A holder that comes and goes (open-close-child.mjs): it opens the store
 * (or the whole engine), commits once and closes it, again and again.
 * Beside it, in this process, a read-only open, a read and a close run in
 * a loop until the child exits (the loop waits on the child, not on a
 * time). Every one of the holder's opens must succeed; every read must
 * give sound values or a FanlogError, never a raw lmdb error; the
 * high-water mark it reads never goes back; and once the holder is gone
 * the reader's process opens the store as before (nothing in it was left
 * broken). With an LMDB environment for the reader, the holder failed
 * ("Invalid argument: No transaction to renew") in every run of the store
 * loop: see store/lmdb-reader.ts.
 *
 * A writer that grows and rewrites the file with every commit
 * (churn-store-child.mjs), so that pages a reader may be reading are
 * freed and reused: every read-only scan must see one whole commit.
 *
 * And the file check of an open, with a commit landing between its reads.
 */
import { promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { parseHighWater } from '../../engine/fail-stop-store.js';
import { NodeIo } from '../../journal/node-io.js';
import { CONSUMER_PREFIX, HIGH_WATER_KEY } from '../../store/keys.js';
import { checkLmdbFile } from '../../store/lmdb-file.js';
import { metaStoreDir, openMetaStore } from '../../store/meta-store.js';
import { type NodeChild, startNodeChild, tempDir } from '../helpers.js';

const HOLDER = fileURLToPath(new URL('./open-close-child.mjs', import.meta.url));

const children: NodeChild[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const child of children.splice(0)) {
    child.child.kill('SIGKILL');
    await child.exited;
  }
});

/** One lock-free read of the store: the high-water mark's seq and every consumer's value (sealed, so checked), or what it failed with ('raw: ...' for anything but a FanlogError). */
async function readOnce(dir: string): Promise<{ highWater: bigint; consumers: number } | string> {
  try {
    const store = await openMetaStore('lmdb', dir, new NodeIo(), { readOnly: true });
    try {
      const raw = await store.get(HIGH_WATER_KEY);
      let consumers = 0;
      for await (const [key, value] of store.scan(CONSUMER_PREFIX)) {
        expect(key.startsWith(CONSUMER_PREFIX) && value.length > 0).toBe(true);
        consumers++;
      }
      return { highWater: raw === undefined ? 0n : parseHighWater(store, raw).seq, consumers };
    } finally {
      await store.close();
    }
  } catch (error) {
    if (error instanceof FanlogError) return error.code;
    return `raw: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Runs the holder child in `mode` for `rounds`, reads beside it until it exits, and checks both sides (see the header). */
async function raceHolder(mode: 'engine' | 'store', rounds: number): Promise<void> {
  const dir = path.join(tempDir(), 'engine');
  await (await Engine.open(dir, { store: 'lmdb' })).close();
  const lines: string[] = [];
  const holder = await startNodeChild(HOLDER, [dir, mode, String(rounds)], (words) => lines.push(words.join(' ')));
  children.push(holder);
  let running = true;
  void holder.exited.then(() => (running = false));
  const failures: string[] = [];
  let reads = 0;
  let last = 0n;
  while (running) {
    const read = await readOnce(dir);
    if (typeof read === 'string') failures.push(read);
    else {
      expect(read.highWater, 'the high-water mark went back').toBeGreaterThanOrEqual(last);
      last = read.highWater;
      reads++;
    }
    // Let the child's exit be seen between reads.
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(lines.filter((line) => line.startsWith('fail ')).slice(0, 3)).toEqual([]);
  expect(lines).toContain('done 0');
  expect(failures.slice(0, 3)).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  // The reader's process is as good as new: the store opens and holds the holder's last mark.
  const after = await readOnce(dir);
  expect(
    typeof after === 'object' && after.highWater >= last,
    typeof after === 'string' ? after : `highWater ${after.highWater}, ${after.consumers} consumers`,
  ).toBe(true);
}

it('a holder that opens, commits to and closes its store beside a lock-free reader never fails, nor does the reader', async () => {
  await raceHolder('store', 200);
});

it('a holder that opens and closes the engine beside a lock-free reader never fails, nor does the reader', async () => {
  await raceHolder('engine', 60);
});

const CHURNER = fileURLToPath(new URL('./churn-store-child.mjs', import.meta.url));

/** What one snapshot of the churned store must hold (churn-store-child.mjs): slot s has the newest commit i <= counter with i mod 24 = s. */
function checkChurned(entries: Map<string, Uint8Array>): string | null {
  const counter = Number(new TextDecoder().decode(entries.get('catalog/consumer') ?? new Uint8Array()));
  for (let slot = 0; slot < 24; slot++) {
    const key = `fs/large/${slot.toString(16).padStart(16, '0')}`;
    const value = entries.get(key);
    const newest = counter - ((((counter - slot) % 24) + 24) % 24);
    if (newest < 1) {
      if (value !== undefined) return `${key} is there at counter ${counter}`;
      continue;
    }
    if (value === undefined) return `${key} is missing at counter ${counter}`;
    const written = Number(new DataView(value.buffer, value.byteOffset).getBigUint64(0, true));
    if (written !== newest) return `${key} holds commit ${written} at counter ${counter}, not ${newest}`;
    if (value.subarray(8).some((byte) => byte !== newest % 251)) return `${key}'s bytes are not all those of commit ${newest}`;
  }
  return null;
}

it('a read-only open and scan beside a writer that grows and rewrites the file see one whole commit each time', async () => {
  const dir = path.join(tempDir(), 'engine');
  await (await Engine.open(dir, { store: 'lmdb' })).close();
  const churner = await startNodeChild(CHURNER, [dir, '1500']);
  children.push(churner);
  let running = true;
  void churner.exited.then(() => (running = false));
  const failures: string[] = [];
  let reads = 0;
  while (running) {
    try {
      const store = await openMetaStore('lmdb', dir, new NodeIo(), { readOnly: true });
      try {
        const entries = new Map<string, Uint8Array>();
        for await (const [key, value] of store.scan('')) entries.set(key, value);
        const wrong = checkChurned(entries);
        if (wrong !== null) failures.push(wrong);
        reads++;
      } finally {
        await store.close();
      }
    } catch (error) {
      failures.push(error instanceof FanlogError ? error.message : `raw: ${String(error)}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(failures.slice(0, 3)).toEqual([]);
  expect(reads).toBeGreaterThan(10);
});

it('the file check reads the meta pages before the size, so a commit that grows the file between them is no truncation', async () => {
  // The two states of a real store's file: before and after a commit that adds pages.
  const dir = tempDir();
  const file = path.join(metaStoreDir(dir, 'lmdb'), 'data.mdb');
  const writer = await openMetaStore('lmdb', dir, new NodeIo());
  await writer.commit([{ type: 'put', key: 'consumer/a', value: new Uint8Array(10) }]);
  const before = readFileSync(file);
  await writer.commit([{ type: 'put', key: 'fs/large/0000000000000001', value: new Uint8Array(65536).fill(1) }]);
  await writer.close();
  const after = readFileSync(file);
  expect(after.length).toBeGreaterThan(before.length);
  // The commit lands right after the check has taken the file's size: that size is the old one, and the meta pages on disk the new ones.
  writeFileSync(file, before);
  const open = fsp.open.bind(fsp);
  vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
    const handle = await open(...args);
    const stat = handle.stat.bind(handle);
    handle.stat = (async () => {
      const taken = await stat();
      writeFileSync(file, after);
      return taken;
    }) as typeof handle.stat;
    return handle;
  });
  await checkLmdbFile(file);
  expect(statSync(file).size, 'the commit happened during the check').toBe(after.length);
});
