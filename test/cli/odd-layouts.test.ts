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
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { kindAt, ODD_LAYOUTS, oddLayoutEngine } from '../odd-layouts.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const { copy } = oddLayoutEngine();
const layouts = ODD_LAYOUTS;

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
