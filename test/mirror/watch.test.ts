/**
 * What the watcher of a mirror must not miss, each with the default
 * options: files made in a directory the moment after the mirror listed it
 * (before a watch on it existed, chokidar lost them: 5 of 5), files made in
 * a directory the moment after it was renamed (hints named its old path:
 * 200 of 200 lost), and an inotify queue that overflowed while the mirror
 * was busy (libuv drops IN_Q_OVERFLOW, so nothing was said: thousands of
 * files missing). The first two must be mirrored; the third must be
 * rescanned, between notes with the reason 'overflow'. The waits wake on
 * the consumer and on the tree; the deadline only bounds a failure.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type DeliveredRecord, Engine } from '../../index.js';
import { tempDir } from '../helpers.js';
import { diskTree, engineTree, readUntilMirrored } from './trees.js';

/** Reads until `seen` holds for what was read; fails after 20 s naming `what`. */
async function readUntil(
  consumer: { read(options: { max: number; waitMs: number }): Promise<DeliveredRecord[]>; ack(seq: bigint): Promise<void> },
  what: string,
  seen: (records: DeliveredRecord[]) => boolean,
): Promise<DeliveredRecord[]> {
  const read: DeliveredRecord[] = [];
  const deadline = Date.now() + 20_000;
  while (!seen(read)) {
    expect(Date.now() < deadline, `${what} within 20 s`).toBe(true);
    const batch = await consumer.read({ max: 100_000, waitMs: 500 });
    read.push(...batch);
    if (batch.length > 0) await consumer.ack(batch.at(-1)!.seq);
  }
  return read;
}

describe('the watcher', () => {
  it('follows files made in a new directory the moment after the mirror listed it', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(root);
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next', lagRecordsMax: 10_000_000 });
    const mirror = await engine.mirror(root);
    try {
      for (let round = 0; round < 3; round++) {
        mkdirSync(`${root}/d${round}`);
        // Many entries: a watcher that lists a new directory before it watches it is slow to watch it.
        for (let i = 0; i < 3000; i++) closeSync(openSync(`${root}/d${round}/f${i}`, 'w'));
        await readUntil(consumer, `the mirror making /d${round}`, (read) => read.some((record) => record.path === `/d${round}`));
        writeFileSync(`${root}/d${round}/late`, 'late');
        await readUntilMirrored(engine, root, consumer);
      }
    } finally {
      await mirror.stop();
      await engine.close();
    }
  }, 90_000);

  it('follows files made in a directory the moment after it was renamed', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/in`, { recursive: true });
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next' });
    const mirror = await engine.mirror(root);
    try {
      for (let round = 0; round < 5; round++) {
        mkdirSync(`${root}/a${round}/sub`, { recursive: true });
        await readUntilMirrored(engine, root, consumer);
        renameSync(`${root}/a${round}`, `${root}/in/b${round}`);
        writeFileSync(`${root}/in/b${round}/f`, 'f');
        writeFileSync(`${root}/in/b${round}/sub/g`, 'g');
        await readUntilMirrored(engine, root, consumer);
      }
    } finally {
      await mirror.stop();
      await engine.close();
    }
  }, 90_000);

  it('rescans between notes with the reason overflow when the inotify queue overflowed while the mirror was busy', async () => {
    const queueMax = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    const files = queueMax + 4000;
    expect(files, 'fs.inotify.max_queued_events small enough for this test to overflow it').toBeLessThan(300_000);
    const base = tempDir();
    const root = `${base}/real`;
    for (let d = 0; d < 4; d++) mkdirSync(`${root}/d${d}`, { recursive: true });
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next', lagRecordsMax: 100_000_000 });
    const mirror = await engine.mirror(root);
    try {
      // Made without a turn of the event loop: the mirror reads none of
      // their events until the queue has overflowed (one event each).
      for (let i = 0; i < files; i++) closeSync(openSync(`${root}/d${i % 4}/f${i}`, 'w'));
      const read = await readUntil(consumer, 'a scan for the overflow', (records) =>
        records.some((record) => record.op === 'scanEnd' && record.reason === 'overflow'),
      );
      expect(read.find((record) => record.op === 'scanBegin' && record.reason !== 'start')).toMatchObject({ kind: 'note', reason: 'overflow', path: '/' });
      await readUntilMirrored(engine, root, consumer);
      expect(Object.keys((await engineTree(engine)).entries).length).toBe(4 + files);
      expect(diskTree(root)).toEqual(await engineTree(engine));
      expect(mirror.stats().overflows).toBeGreaterThan(0);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  }, 120_000);
});
