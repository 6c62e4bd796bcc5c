/**
 * Commands that open an engine never make one by mistake (issue 26, C5):
 * `replicate`, `import` and `mirror`, like `consumers register`, refuse a
 * directory that holds no engine, point at `fanlog init` and `--init`,
 * and leave it as it was; with `--init` they make the engine, and take it
 * away again (and only what they made) when the command then fails. The
 * real binary, on directories a typo in `--dir` could name: one with a
 * user's file in it, one that does not exist.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A directory with a user's file in it, and a path beside it that does not exist. */
function places(): { userDir: string; missing: string; source: string; capture: string } {
  const base = tempDir();
  const userDir = path.join(base, 'documents');
  mkdirSync(userDir);
  writeFileSync(path.join(userDir, 'notes.txt'), 'mine');
  const source = path.join(base, 'source');
  mkdirSync(source);
  writeFileSync(path.join(source, 'a.txt'), 'a');
  const capture = path.join(base, 'capture.bin');
  writeFileSync(capture, Buffer.alloc(0));
  return { userDir, missing: path.join(base, 'typo'), source, capture };
}

/** Each command's arguments but `--dir`; redis://127.0.0.1:1 has no server (the refusal comes before any connection). */
const COMMANDS = (at: { source: string; capture: string }): Record<string, string[]> => ({
  replicate: ['replicate', '--redis', 'redis://127.0.0.1:1', '--stream', 's'],
  import: ['import', '--format', 'fanotify', at.capture],
  mirror: ['mirror', at.source, '--once'],
});

it.each(['replicate', 'import', 'mirror'])('%s refuses a directory that holds no engine and leaves it as it was', (command) => {
  const at = places();
  const args = COMMANDS(at)[command]!;
  for (const dir of [at.userDir, at.missing]) {
    const run = fanlog(...args, '--dir', dir);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toBe(`fanlog: ENOENT: no fanlog engine in ${dir} (fanlog init makes one, or add --init)\n`);
  }
  expect(readdirSync(at.userDir)).toEqual(['notes.txt']);
  expect(existsSync(at.missing)).toBe(false);
});

it('repair and consumers register refuse a directory with an empty journal/ folder, and make nothing in it', () => {
  const at = places();
  mkdirSync(path.join(at.userDir, 'journal'));
  for (const args of [
    ['repair', '--rebuild-store'],
    ['consumers', 'register', 'x'],
  ]) {
    const run = fanlog(...args, '--dir', at.userDir);
    expect(run.status, args.join(' ')).toBe(1);
    expect(run.stderr, args.join(' ')).toMatch(/^fanlog: ENOENT: no fanlog engine in /);
  }
  expect(readdirSync(at.userDir).sort()).toEqual(['journal', 'notes.txt']);
  expect(readdirSync(path.join(at.userDir, 'journal'))).toEqual([]);
});

it('mirror of a source that does not exist leaves no engine behind, with --init too', () => {
  const at = places();
  expect(fanlog('mirror', '/nonexistent', '--once', '--dir', at.missing).status).toBe(1);
  expect(existsSync(at.missing)).toBe(false);
  const made = fanlog('mirror', '/nonexistent', '--once', '--dir', at.missing, '--init');
  expect(made.status).toBe(1);
  expect(made.stderr).toMatch(/^fanlog: ENOENT: /);
  expect(existsSync(at.missing)).toBe(false);
  expect(fanlog('mirror', '/nonexistent', '--once', '--dir', at.userDir, '--init').status).toBe(1);
  expect(readdirSync(at.userDir)).toEqual(['notes.txt']);
});

it('replicate --init that cannot reach Redis takes away the engine it made, and only that', () => {
  const at = places();
  const run = fanlog(...COMMANDS(at).replicate!, '--dir', at.userDir, '--init');
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/^fanlog: E[A-Z]+: /);
  expect(readdirSync(at.userDir)).toEqual(['notes.txt']);
});

it('--init makes the engine a command then works on; an existing engine is used as it is', async () => {
  const at = places();
  const dir = path.join(at.missing, 'engine');
  const imported = fanlog('import', '--format', 'fanotify', at.capture, '--dir', dir, '--init');
  expect(imported.status, imported.stderr).toBe(0);
  expect(readdirSync(dir).sort()).toEqual(['FANLOG', 'LOCK', 'journal', 'meta-lmdb']);
  const mirrored = fanlog('mirror', at.source, '--once', '--dir', dir);
  expect(mirrored.status, mirrored.stderr).toBe(0);
  // A failure on an engine that was there before takes nothing away.
  expect(fanlog('mirror', '/nonexistent', '--once', '--dir', dir, '--init').status).toBe(1);
  const engine = await Engine.open(dir);
  expect(await engine.fs.readdir('/')).toEqual(['a.txt']);
  await engine.close();
});
