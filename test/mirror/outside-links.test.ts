/**
 * A file in the mirrored tree with a hard link outside it (issue 26,
 * attack 3, F7): a write or chmod through the outside name raises no event
 * in any watched directory, so the mirror cannot follow it. lstat tells:
 * the file has more links than the names the mirror sees in the tree. Each
 * scan reports such a file (a problem and a loss note, EMLINK), and stops
 * reporting it once the outside link is gone.
 */
import { linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { type DeliveredRecord, Engine } from '../../index.js';
import { tempDir } from '../helpers.js';

const losses = (records: DeliveredRecord[]): string[][] =>
  records.filter((record) => record.kind === 'note' && (record.op as string) === 'loss').map((record) => [record.path!, record.reason!]);

it('reports a file linked from outside the tree at each scan, as long as the link is there', async () => {
  const base = tempDir();
  const root = `${base}/real`;
  mkdirSync(`${root}/d`, { recursive: true });
  mkdirSync(`${base}/outside`);
  writeFileSync(`${root}/f`, 'v1');
  linkSync(`${root}/f`, `${base}/outside/f-link`);
  // Two names, both in the tree: nothing to report.
  writeFileSync(`${root}/g`, 'g');
  linkSync(`${root}/g`, `${root}/d/g2`);
  const engine = await Engine.open(`${base}/engine`);
  const consumer = await engine.consumers.register('c', { from: 'oldest' });
  const mirror = await engine.mirror(root, { watch: false });
  try {
    expect(mirror.stats().problems).toEqual([expect.objectContaining({ path: `${root}/f`, code: 'EMLINK', enginePath: '/f' })]);
    expect(mirror.stats().problems[0]!.message).toMatch(/may change through a link outside the tree/);
    expect(losses(await consumer.read({ max: 1000 }))).toEqual([['/f', 'EMLINK']]);
    // Checked again at the next scan.
    const again = await mirror.rescan();
    expect(again.problems.map((problem) => problem.path)).toEqual([`${root}/f`]);
    expect(losses(await consumer.read({ max: 1000 }))).toEqual([['/f', 'EMLINK']]);
    rmSync(`${base}/outside/f-link`);
    expect((await mirror.rescan()).problems).toEqual([]);
    expect(losses(await consumer.read({ max: 1000 }))).toEqual([]);
  } finally {
    await mirror.stop();
    await engine.close();
  }
});
