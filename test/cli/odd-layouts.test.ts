/**
 * Commands on engine directories whose layout is not what fanlog made
 * (issue 26, attack 3, F14): the journal gone or a file, the FANLOG marker
 * a directory, a segment a directory. The lock-free ones (`stat`,
 * `consumers list`, `tail`, `verify`) and those that open the engine
 * (`tail --consumer`, `consumers register`, `mirror`, `replicate`) each say
 * one `fanlog: CODE: …` line naming the path, exit 1, never a stack trace;
 * those that open the engine name the very path that is wrong, and leave
 * the layout as they found it (no journal made in place of a lost one).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A closed lmdb engine of several segments, copied per case (made once: tempDir's go after each test). */
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

function copy(): string {
  const dir = path.join(tempDir(), 'engine');
  spawnSync('cp', ['-a', made, dir]);
  return dir;
}

const layouts: [string, (dir: string) => string, string][] = [
  ['the journal gone', (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), path.join(dir, 'journal')), 'ENOENT'],
  [
    'the journal a file',
    (dir) => (rmSync(path.join(dir, 'journal'), { recursive: true }), writeFileSync(path.join(dir, 'journal'), 'x'), path.join(dir, 'journal')),
    'ENOTDIR',
  ],
  ['the marker a directory', (dir) => (rmSync(path.join(dir, 'FANLOG')), mkdirSync(path.join(dir, 'FANLOG')), path.join(dir, 'FANLOG')), 'EISDIR'],
  [
    'a segment a directory',
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

describe.each(layouts)('%s', (_name, damage, code) => {
  it.each(['stat', 'consumers list', 'tail', 'verify'])('%s says CODE and the path, with no stack', (command) => {
    const dir = copy();
    const where = damage(dir);
    const run = fanlog(...command.split(' '), '--dir', dir);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr, run.stderr).not.toMatch(/^\s+at /m);
    const lines = run.stderr.trim().split('\n');
    expect(lines.length, run.stderr).toBe(1);
    // `verify` and `tail` may say there is no engine, or which store/journal path is wrong: the path named must be the one that is wrong, or the engine's.
    expect(lines[0], run.stderr).toMatch(new RegExp(`^fanlog: (${code}|ENOENT): `));
    expect(lines[0]!.includes(where) || (code === 'ENOENT' && lines[0]!.includes(dir)), run.stderr).toBe(true);
  });
});

/** What is at `path` now: a file, a directory, or nothing. */
function kindAt(path: string): 'file' | 'dir' | 'none' {
  if (!existsSync(path)) return 'none';
  return statSync(path).isDirectory() ? 'dir' : 'file';
}

const holders: [string, (dir: string) => string[]][] = [
  ['tail --consumer', (dir) => ['tail', '--consumer', 'keep', '--dir', dir]],
  ['tail --consumer --ack', (dir) => ['tail', '--consumer', 'keep', '--ack', '--dir', dir]],
  ['consumers register', (dir) => ['consumers', 'register', 'other', '--dir', dir]],
  ['mirror --once', (dir) => ['mirror', path.dirname(dir), '--once', '--ignore', 'engine', '--dir', dir]],
  // Nothing listens on port 1: the engine is opened before Redis is dialled, so its layout is what fails.
  ['replicate', (dir) => ['replicate', '--redis', 'redis://127.0.0.1:1', '--stream', 's', '--dir', dir]],
];

describe.each(layouts)('%s, opening the engine', (_name, damage, code) => {
  it.each(holders)('%s says CODE and the very path that is wrong, with no stack, and leaves it as it was', (_command, args) => {
    const dir = copy();
    const where = damage(dir);
    const before = kindAt(where);
    const run = fanlog(...args(dir));
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr, run.stderr).not.toMatch(/^\s+at /m);
    const lines = run.stderr.trim().split('\n');
    expect(lines.length, run.stderr).toBe(1);
    expect(lines[0], run.stderr).toMatch(new RegExp(`^fanlog: ${code}: `));
    expect(lines[0]!.includes(where), run.stderr).toBe(true);
    expect(kindAt(where)).toBe(before);
  });
});
