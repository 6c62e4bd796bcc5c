/**
 * A burst on a mirrored directory: 20,000 creates and 10,000 deletes made
 * as fast as the disk takes them, while the watcher's hints are applied.
 * Whatever the watcher dropped or merged, after the next rescan the
 * mirrored tree equals the disk, and a consumer sees that rescan's notes.
 */
import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';
import { diskTree, engineTree } from './trees.js';

const CREATES = 20_000;

it(`equals the disk after a rescan that follows ${CREATES.toLocaleString('en-US')} creates and half as many deletes`, async () => {
  const base = tempDir();
  const root = `${base}/real`;
  for (let d = 0; d < 4; d++) mkdirSync(`${root}/d${d}`, { recursive: true });
  const engine = await Engine.open(`${base}/engine`);
  const consumer = await engine.consumers.register('c', { lagRecordsMax: 10_000_000 });
  const mirror = await engine.mirror(root, { settleMs: 20 });
  try {
    // In slices, letting the watcher and the mirror run between them.
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < CREATES; i++) {
      closeSync(openSync(`${root}/d${i % 4}/f${i}`, 'w'));
      if (i % 500 === 499) await turn();
    }
    for (let i = 0; i < CREATES; i += 2) {
      unlinkSync(`${root}/d${i % 4}/f${i}`);
      if (i % 1000 === 998) await turn();
    }
    const result = await mirror.rescan();
    expect(await engineTree(engine)).toEqual(diskTree(root));
    expect(Object.keys(diskTree(root).entries).length).toBe(4 + CREATES / 2);
    const notes: unknown[] = [];
    for (;;) {
      const batch = await consumer.read({ max: 100_000 });
      if (batch.length === 0) break;
      notes.push(...batch.filter((record) => record.kind === 'note').map((record) => [record.op, record.reason]));
      await consumer.ack(batch.at(-1)!.seq);
    }
    expect(notes.slice(-2)).toEqual([
      ['scanBegin', 'manual'],
      ['scanEnd', 'manual'],
    ]);
    expect(result.entries).toBe(4 + CREATES / 2);
    const stats = mirror.stats();
    expect(stats.problems).toEqual([]);
    console.log(`burst: ${stats.hintBatches} hint batches, ${stats.changes} changes in all, the rescan made ${result.changes}`);
  } finally {
    await mirror.stop();
    await engine.close();
  }
}, 120_000);
