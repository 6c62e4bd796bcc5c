/**
 * `Engine.open` on engine directories whose layout is not what fanlog
 * made (issue 26): the journal gone or a file, the FANLOG marker a
 * directory, a segment a directory. Each open, read-write or read-only,
 * rejects with a FanlogError whose code is the errno's and whose `file`
 * and message name the very path that is wrong (not only the engine's
 * directory), and leaves that path as it found it: an open that fails
 * makes no journal in place of a lost one.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMarker } from '../../engine/engine-dir.js';
import { Engine, FanlogError } from '../../index.js';
import { NodeIo } from '../../journal/node-io.js';
import { rejection, tempDir } from '../helpers.js';

/** A closed lmdb engine of several segments, copied per case (made once: tempDir's go after each test). */
let base = '';
let made = '';
beforeAll(async () => {
  base = mkdtempSync(path.join(tmpdir(), 'fanlog-odd-api-'));
  made = path.join(base, 'engine');
  const engine = await Engine.open(made, { store: 'lmdb', segmentBytesMax: 4096 });
  await engine.consumers.register('keep');
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 60; i++) await engine.fs.create(`/d/f${i}`, { size: i });
  await engine.close();
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

function copy(): string {
  const dir = path.join(tempDir(), 'engine');
  cpSync(made, dir, { recursive: true });
  return dir;
}

/** What is at `file` now: a file, a directory, or nothing. */
function kindAt(file: string): 'file' | 'dir' | 'none' {
  if (!existsSync(file)) return 'none';
  return statSync(file).isDirectory() ? 'dir' : 'file';
}

/** Each layout: how to make it, and the code of the error that names the path it returns. */
const layouts: [string, (dir: string) => string, string][] = [
  ['the journal gone', (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), path.join(dir, 'journal')), 'ENOENT'],
  [
    'the journal a file',
    (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), writeFileSync(path.join(dir, 'journal'), 'x'), path.join(dir, 'journal')),
    'ENOTDIR',
  ],
  ['the marker a directory', (dir) => (rmSync(path.join(dir, 'FANLOG')), mkdirSync(path.join(dir, 'FANLOG')), path.join(dir, 'FANLOG')), 'EISDIR'],
  [
    'the first segment a directory',
    (dir) => {
      const journal = path.join(dir, 'journal');
      const segment = path.join(
        journal,
        readdirSync(journal)
          .filter((name) => name.endsWith('.seg'))
          .sort()[0]!,
      );
      rmSync(segment);
      mkdirSync(segment);
      return segment;
    },
    'EISDIR',
  ],
  [
    'a middle segment a directory',
    (dir) => {
      const journal = path.join(dir, 'journal');
      const segment = path.join(
        journal,
        readdirSync(journal)
          .filter((name) => name.endsWith('.seg'))
          .sort()[1]!,
      );
      rmSync(segment);
      mkdirSync(segment);
      return segment;
    },
    'EISDIR',
  ],
];

describe.each(layouts)('Engine.open with %s', (_name, damage, code) => {
  it.each([false, true])('rejects with a FanlogError naming the path (readOnly %s), and leaves it as it was', async (readOnly) => {
    const dir = copy();
    const where = damage(dir);
    const before = kindAt(where);
    const error = await rejection(() => Engine.open(dir, { readOnly }));
    expect(error, String(error)).toBeInstanceOf(FanlogError);
    expect(error.code, error.message).toBe(code);
    expect(error.file, error.message).toBe(where);
    expect(error.message).toContain(where);
    expect(kindAt(where)).toBe(before);
  });
});

describe('Engine.open with no journal', () => {
  it('opens a directory whose store directory was made (or mounted) before the first open, and is empty', async () => {
    // A marker and an empty store directory: an open stopped between writing the marker and making the journal.
    const dir = path.join(tempDir(), 'engine');
    mkdirSync(path.join(dir, 'meta-lmdb', 'lost+found'), { recursive: true });
    await writeMarker(new NodeIo(), dir, 'lmdb');
    const engine = await Engine.open(dir);
    await engine.fs.create('/f', { size: 1 });
    await engine.close();
    expect(kindAt(path.join(dir, 'journal'))).toBe('dir');
  });
});
