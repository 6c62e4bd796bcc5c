/**
 * A restart rebuilds the mirror's identities by path (docs/guide/mirror.md,
 * limits): a file replaced at one of its names while no mirror ran is taken
 * for the file that name had, and the mirror then moves that file's other
 * names to where the new file's are. The campaign's oracle of renames
 * (crash/mirror-names.ts) must take such a rename for what it is, not for
 * two objects confused. The sequence is the one run 23 of
 * `crash-test --seed 554799 --runs 50 --ops 60 --faults mirror` made.
 */
import { linkSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChurnNames } from '../../crash/mirror-names.js';
import { type DeliveredRecord, Engine, FAN_RENAME } from '../../index.js';
import { tempDir } from '../helpers.js';
import { diskTree, engineTree } from './trees.js';

const name = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

describe('identities rebuilt by path after a restart', () => {
  it('journals a rename the oracle explains when a file was replaced at one of its names while no mirror ran', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(root, { recursive: true });
    const names = new ChurnNames();
    // x: n4 and n24; y: n12 and n27; w: n8.
    writeFileSync(`${root}/n4`, 'x');
    names.add(1, 'file', 'n4');
    linkSync(`${root}/n4`, `${root}/n24`);
    names.named(1, 'n24');
    writeFileSync(`${root}/n12`, 'y');
    names.add(2, 'file', 'n12');
    linkSync(`${root}/n12`, `${root}/n27`);
    names.named(2, 'n27');
    writeFileSync(`${root}/n8`, 'w');
    names.add(3, 'file', 'n8');

    let engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('audit');
    await (await engine.mirror(root, { watch: false })).stop();
    await engine.close();

    // While no mirror runs: y over w at n8, y over x's n24, x's last name goes.
    renameSync(`${root}/n12`, `${root}/n8`);
    names.renamedOver(2, 'n8', 3);
    renameSync(`${root}/n27`, `${root}/n24`);
    names.renamedOver(2, 'n24', 1);
    unlinkSync(`${root}/n4`);

    engine = await Engine.open(`${base}/engine`);
    try {
      await (await engine.mirror(root, { watch: false })).stop();
      expect(await engineTree(engine)).toEqual(diskTree(root));
      const read: DeliveredRecord[] = await engine.consumers.get(consumer.name).read({ max: 1000 });
      // Each rename, and whether it was journaled in the start scan (identities rebuilt by path).
      const renames: [DeliveredRecord, boolean][] = [];
      let inStart = false;
      for (const record of read) {
        if (record.kind === 'note' && (record.op === 'scanBegin' || record.op === 'scanEnd')) inStart = record.op === 'scanBegin' && record.reason === 'start';
        if (record.kind === 'event' && ((record.mask ?? 0n) & FAN_RENAME) !== 0n && record.oldPath !== undefined) renames.push([record, inStart]);
      }
      // By path, the engine's x (n4, n24) is taken for y at n24, so its n4 moves to y's n8, in the start scan.
      expect(renames.map(([record, byPath]) => `${record.oldPath} -> ${record.path}${byPath ? ' (start)' : ''}`)).toContain('/n4 -> /n8 (start)');
      for (const [record, byPath] of renames)
        expect(names.explainsRename(name(record.oldPath!), name(record.path!), 'file', byPath), `${record.oldPath} -> ${record.path}`).toBe(true);
      // Not outside a start scan: there the mirror knows every identity, and such a rename would be two files confused.
      expect(names.explainsRename('n4', 'n8', 'file')).toBe(false);
    } finally {
      await engine.close();
    }
  });
});
