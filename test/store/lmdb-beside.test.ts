/**
 * An lmdb store read without the engine's lock, beside a second process
 * that holds it (issue 26: "a second process at the edges").
 */
import { promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { NodeIo } from '../../journal/node-io.js';
import { checkLmdbFile } from '../../store/lmdb-file.js';
import { metaStoreDir, openMetaStore } from '../../store/meta-store.js';
import { tempDir } from '../helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
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
