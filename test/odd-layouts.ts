/**
 * Engine directories whose layout is not what fanlog made, shared by the
 * API's and the CLI's tests of them (test/engine/odd-layouts.test.ts,
 * test/cli/odd-layouts.test.ts): one closed lmdb engine of several
 * segments, made once per file and copied per case, and the layouts, each
 * with how to make it (returning the path that is wrong) and the code of
 * the error that must name that path.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Engine } from '../index.js';
import { tempDir } from './helpers.js';

export type OddLayout = [name: string, damage: (dir: string) => string, code: string];

/** Registers the file's hooks; `copy()` gives a fresh copy of the engine (in a tempDir, gone after the test). */
export function oddLayoutEngine(): { copy: () => string } {
  let base = '';
  let made = '';
  beforeAll(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'fanlog-odd-'));
    made = path.join(base, 'engine');
    const engine = await Engine.open(made, { store: 'lmdb', segmentBytesMax: 4096 });
    await engine.consumers.register('keep');
    await engine.fs.mkdir('/d');
    for (let i = 0; i < 60; i++) await engine.fs.create(`/d/f${i}`, { size: i });
    await engine.close();
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  return {
    copy: () => {
      const dir = path.join(tempDir(), 'engine');
      cpSync(made, dir, { recursive: true });
      return dir;
    },
  };
}

/** The journal's segment of rank `index` (in name order) made a directory. */
export function segmentAsDirectory(index: number): (dir: string) => string {
  return (dir) => {
    const journal = path.join(dir, 'journal');
    const names = readdirSync(journal)
      .filter((name) => name.endsWith('.seg'))
      .sort();
    const segment = path.join(journal, names[index]!);
    rmSync(segment);
    mkdirSync(segment);
    return segment;
  };
}

export const ODD_LAYOUTS: OddLayout[] = [
  ['the journal gone', (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), path.join(dir, 'journal')), 'ENOENT'],
  [
    'the journal a file',
    (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), writeFileSync(path.join(dir, 'journal'), 'x'), path.join(dir, 'journal')),
    'ENOTDIR',
  ],
  ['the marker a directory', (dir) => (rmSync(path.join(dir, 'FANLOG')), mkdirSync(path.join(dir, 'FANLOG')), path.join(dir, 'FANLOG')), 'EISDIR'],
  ['a middle segment a directory', segmentAsDirectory(1), 'EISDIR'],
];

/** What is at `file` now: a file, a directory, or nothing. */
export function kindAt(file: string): 'file' | 'dir' | 'none' {
  if (!existsSync(file)) return 'none';
  return statSync(file).isDirectory() ? 'dir' : 'file';
}
