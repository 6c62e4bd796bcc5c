/**
 * The key space (store/keys.ts) is the whole of what the engine writes: after
 * a workload that touches every kind of stored state, every key in the store
 * is one keys.ts lists, and every kind it lists is there.
 */
import { expect, it } from 'vitest';
import { FAN_CREATE } from '../../engine/notify/masks.js';
import { Engine } from '../../fanlog.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { openMetaStore } from '../../store/meta-store.js';
import {
  CHECKPOINT_KEY,
  CONSUMER_CATALOG_KEY,
  CONSUMER_PREFIX,
  GROUP_CATALOG_KEY,
  GROUP_PREFIX,
  HIGH_WATER_KEY,
  INODE_PREFIX,
  isFanlogKey,
  LARGE_PREFIX,
  PAGE_PREFIX,
  pageKey,
} from '../../store/keys.js';

it('holds every key the engine writes, and the engine writes every kind of key', async () => {
  const io = new MemoryIo();
  const engine = await Engine.open('/e', { io, store: 'files' });
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/f', { size: 10 });
  // A directory whose entries take more than a page allows an inode: stored alone.
  await engine.fs.mkdir('/big');
  for (let i = 0; i < 60; i++) await engine.fs.create(`/big/a-rather-long-file-name-${i}`);
  const group = await engine.groups.create('watch');
  await group.mark({ path: '/d', scope: 'mount', mask: FAN_CREATE });
  await engine.consumers.register('backup');
  await engine.checkpoint();
  await engine.close();

  const store = await openMetaStore('files', '/e', io);
  const keys: string[] = [];
  for await (const [key] of store.scan('')) keys.push(key);
  await store.close();
  expect(keys.filter((key) => !isFanlogKey(key))).toEqual([]);
  for (const expected of [
    CHECKPOINT_KEY,
    GROUP_CATALOG_KEY,
    CONSUMER_CATALOG_KEY,
    HIGH_WATER_KEY,
    `${GROUP_PREFIX}watch`,
    `${CONSUMER_PREFIX}backup`,
    pageKey(0),
  ]) {
    expect(keys, expected).toContain(expected);
  }
  // 64 inodes: pages 0 (inodes 1..15), 1, 2, 3 and 4 (inode 64), one of them large.
  expect(keys.filter((key) => key.startsWith(PAGE_PREFIX)).length).toBe(5);
  expect(keys.filter((key) => key.startsWith(LARGE_PREFIX))).toEqual([`${LARGE_PREFIX}0000000000000004`]);
  expect(keys.filter((key) => key.startsWith(INODE_PREFIX))).toEqual([]);
  for (const stranger of ['fs/inode/12', 'fs/inode/zzzzzzzzzzzzzzzz', 'fs/page/1', 'fs/large/', 'group/', 'consumer/', 'fs/other', ''])
    expect(isFanlogKey(stranger), stranger).toBe(false);
  expect(isFanlogKey(`${INODE_PREFIX}0000000000000001`)).toBe(true);
});
