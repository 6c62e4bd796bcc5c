/**
 * Checkpoints keep inodes in pages (engine/model/inode-pages.ts): every inode
 * comes back as it was, a large inode lives under its own key and moves
 * back into its page when it shrinks, an empty page is deleted, a
 * checkpoint of header version 2 (an inode per key) is rewritten as pages
 * by the next checkpoint, and after each of these `verify`'s store check
 * finds nothing wrong. Page values that are not what this version wrote
 * are errors, never wrong inodes.
 */
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { MemoryIo, Prng } from '../../testing.js';
import { checkStore } from '../../cli/store-check.js';
import { newInode, type Inode } from '../../engine/model/inode.js';
import { decodePage, LARGE_INODE_BYTES, PageWriter } from '../../engine/model/inode-pages.js';
import { openMetaStore } from '../../store/meta-store.js';
import { INODE_PREFIX, LARGE_PREFIX, largeKey, PAGE_PREFIX, pageKey } from '../../store/keys.js';
import { NodeIo } from '../../journal/node-io.js';
import type { Io } from '../../journal/io.js';
import { tempDir, text } from '../helpers.js';

/** The store's keys, and what verify's store check finds wrong with it. */
async function inspect(io: Io, dir: string, engine: Engine): Promise<{ keys: string[]; damage: string[] }> {
  const facts = { dir: engine.journal.dir, journalId: engine.journal.journalId, firstSeq: engine.journal.firstSeq, headSeq: engine.journal.headSeq };
  await engine.close({ checkpoint: false });
  const store = await openMetaStore('files', dir, io);
  const keys: string[] = [];
  for await (const [key] of store.scan('fs/')) keys.push(key);
  const check = await checkStore(store, facts);
  await store.close();
  return { keys, damage: check.damage.map(({ key, what }) => `${key}: ${what}`) };
}

/** Checkpoints, closes, checks the store, reopens: the state must be the same. */
async function roundTrip(io: Io, dir: string, engine: Engine): Promise<{ engine: Engine; keys: string[] }> {
  await engine.checkpoint();
  const before = engine.state.fingerprint();
  const { keys, damage } = await inspect(io, dir, engine);
  expect(damage).toEqual([]);
  const reopened = await Engine.open(dir, { io, store: 'files' });
  expect(reopened.recovery.replayedRecords).toBe(0);
  expect(reopened.state.fingerprint()).toBe(before);
  return { engine: reopened, keys };
}

describe('checkpoint pages', () => {
  it('store a large directory alone, move it back into its page when it shrinks, and delete an emptied page', async () => {
    const io = new MemoryIo();
    let engine = await Engine.open('/e', { io, store: 'files' });
    await engine.fs.mkdir('/big');
    const names = Array.from({ length: 80 }, (_, i) => `a-rather-long-name-of-a-file-${i}`);
    for (const name of names) await engine.fs.create(`/big/${name}`, { size: 1 });
    let keys: string[];
    ({ engine, keys } = await roundTrip(io, '/e', engine));
    // /big is inode 2, in page 0 by number but alone by size.
    expect(keys).toContain(largeKey(2));
    for (const name of names.slice(10)) await engine.fs.unlink(`/big/${name}`);
    ({ engine, keys } = await roundTrip(io, '/e', engine));
    expect(keys.filter((key) => key.startsWith(LARGE_PREFIX))).toEqual([]);
    // Inodes 3..12 are left: pages 0 (1..15); pages 2..5 held only files now gone.
    expect(keys.filter((key) => key.startsWith(PAGE_PREFIX))).toEqual([pageKey(0)]);
    await engine.close();
  });

  it('rewrite a checkpoint of header version 2 as pages at the next checkpoint, deleting its inode keys', async () => {
    const dir = tempDir();
    cpSync(fileURLToPath(new URL('../fixtures/checkpoint-v2', import.meta.url)), dir, { recursive: true });
    const io = new NodeIo();
    let engine = await Engine.open(dir, { store: 'files' });
    const { keys: before } = await inspect(io, dir, engine);
    expect(before.filter((key) => key.startsWith(INODE_PREFIX)).length).toBeGreaterThan(0);
    engine = await Engine.open(dir, { store: 'files' });
    await engine.fs.mkdir('/new');
    const { engine: reopened, keys } = await roundTrip(io, dir, engine);
    expect(keys.filter((key) => key.startsWith(INODE_PREFIX))).toEqual([]);
    expect(keys.filter((key) => key.startsWith(PAGE_PREFIX))).toEqual([pageKey(0)]);
    expect(await reopened.fs.readdir('/')).toEqual(['after', 'data', 'new']);
    await reopened.close();
  });
});

/** An inode of every type, with whatever a seeded draw gives it. */
function drawInode(prng: Prng, ino: number): Inode {
  const type = (['file', 'dir', 'symlink'] as const)[prng.int(3)]!;
  const inode = newInode({ ino, gen: prng.int(2 ** 40) }, type, {
    mode: prng.int(0o7777),
    uid: prng.int(2 ** 32),
    gid: prng.int(2 ** 32),
    time: BigInt(prng.int(2 ** 50)) * 1000n,
    parent: prng.int(ino) + 1,
  });
  inode.ctime += 7n;
  if (type === 'file') {
    inode.size = prng.int(2 ** 50);
    for (let i = prng.int(4); i > 0; i--) inode.offline.add(prng.int(2 ** 40), 2 ** 40 + prng.int(2 ** 40));
  } else if (type === 'dir') {
    for (let i = prng.int(6); i > 0; i--) inode.entries!.set(prng.chance(0.3) ? `naïve-☃-${i}` : `f${i}`, prng.int(2 ** 32));
  } else {
    inode.target = `/t/${'x'.repeat(prng.int(40))}`;
  }
  for (let i = prng.int(3); i > 0; i--) inode.xattrs.set(`user.${i}`, text('v'.repeat(prng.int(30))));
  return inode;
}

describe('inode pages', () => {
  it('give back every inode as it was encoded, over 300 seeded pages', () => {
    const writer = new PageWriter();
    for (let seed = 1; seed <= 300; seed++) {
      const prng = new Prng(seed);
      const inodes = Array.from({ length: 1 + prng.int(16) }, (_, i) => drawInode(prng, 16 * seed + i));
      writer.start();
      for (const inode of inodes) expect(writer.add(inode), `seed ${seed}`).toBeNull();
      expect(decodePage(writer.finish()!), `seed ${seed}`).toEqual(inodes);
    }
  });

  it('leave out an inode larger than a page allows, and give its own value', () => {
    const writer = new PageWriter();
    writer.start();
    const big = newInode({ ino: 5, gen: 5 }, 'symlink', { mode: 0o777, uid: 0, gid: 0, time: 1n, parent: 1 });
    big.target = 'x'.repeat(LARGE_INODE_BYTES);
    const alone = writer.add(big);
    expect(alone).not.toBeNull();
    expect(writer.finish()).toBeNull();
  });

  it('refuse damaged values with an Error saying where, over 3,000 seeded mutations', () => {
    const prng = new Prng(20261129);
    const writer = new PageWriter();
    writer.start();
    for (let ino = 16; ino < 32; ino++) writer.add(drawInode(prng, ino));
    const page = writer.finish()!;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const damaged = prng.chance(0.3) ? page.slice(0, prng.int(page.length)) : page.slice();
      if (damaged.length === page.length) for (let n = 1 + prng.int(4); n > 0; n--) damaged[prng.int(damaged.length)] = prng.int(256);
      try {
        for (const inode of decodePage(damaged)) expect(Number.isSafeInteger(inode.ino)).toBe(true);
      } catch (error) {
        expect(error, `mutation ${i}`).toBeInstanceOf(Error);
        expect((error as Error).message, `mutation ${i}`).toMatch(/truncated|range|count|unknown|after the last|cannot hold|not valid/);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });
});
