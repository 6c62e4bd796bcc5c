/**
 * `fanlog tail` as a Lustre user runs `lfs changelog MDT start end`: a range
 * (`--from`, `--to`), a selection lock-free (`--mask`, a built-in
 * `--filter`), `--follow` that stops at `--to`; and `consumers ack --head`,
 * as `changelog_clear MDT ID 0`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, expect, it } from 'vitest';
import { Engine, FAN_CREATE } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let dir: string;

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The JSON lines tail printed, as { seq, mask, path }. */
function printed(stdout: string): { seq: bigint; mask?: bigint; path?: string }[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { seq: string; mask?: string; path?: string })
    .map(({ seq, mask, path: at }) => ({ seq: BigInt(seq), ...(mask === undefined ? {} : { mask: BigInt(mask) }), ...(at === undefined ? {} : { path: at }) }));
}

beforeEach(async () => {
  dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/projects');
  await engine.fs.mkdir('/scratch');
  for (let i = 0; i < 5; i++) await engine.fs.create(`/projects/f${i}`, { size: 10 });
  for (let i = 0; i < 5; i++) await engine.fs.create(`/scratch/t${i}`);
  await engine.fs.rename('/projects/f0', '/projects/g0');
  await engine.consumers.register('backup');
  await engine.close();
});

it('prints a name holding a newline, a control character or a backslash on its one line, escaped; JSON keeps it whole', async () => {
  const engine = await Engine.open(dir, { store: 'lmdb' });
  const name = 'two\nlines\x01\\';
  await engine.fs.create(`/scratch/${name}`);
  await engine.close();
  const lines = fanlog('tail', '--dir', dir).stdout.trim().split('\n');
  const last = lines.at(-1)!;
  expect(last).toContain('two\\x0alines\\x01\\\\ /scratch/two\\x0alines\\x01\\\\');
  expect(lines).toHaveLength(printed(fanlog('tail', '--dir', dir, '--json').stdout).length);
  expect(printed(fanlog('tail', '--dir', dir, '--json').stdout).at(-1)!.path).toBe(`/scratch/${name}`);
});

it('prints from --from through --to, and nothing beyond', () => {
  const all = printed(fanlog('tail', '--dir', dir, '--json').stdout);
  const [from, to] = [all[2]!.seq, all[6]!.seq];
  const range = printed(fanlog('tail', '--dir', dir, '--json', '--from', String(from), '--to', String(to)).stdout);
  expect(range.map((record) => record.seq)).toEqual(all.filter((record) => record.seq >= from && record.seq <= to).map((record) => record.seq));
  const refused = fanlog('tail', '--dir', dir, '--from', '9', '--to', '3');
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(/--to 3 is before --from 9/);
});

it('selects with --mask as a consumer mask does, and with a built-in --filter, lock-free', () => {
  const creates = printed(fanlog('tail', '--dir', dir, '--json', '--mask', 'CREATE').stdout);
  expect(creates.length).toBe(12);
  expect(creates.every((record) => record.mask !== undefined && (record.mask & FAN_CREATE) !== 0n)).toBe(true);
  const projects = printed(fanlog('tail', '--dir', dir, '--json', '--filter', 'path-prefix=/projects').stdout);
  expect(projects.length).toBeGreaterThan(5);
  expect(projects.every((record) => record.path === undefined || record.path.startsWith('/projects'))).toBe(true);
  const both = printed(fanlog('tail', '--dir', dir, '--json', '--mask', 'CREATE', '--filter', 'path-prefix=/scratch').stdout);
  expect(both.map((record) => record.path)).toEqual(['/scratch', '/scratch/t0', '/scratch/t1', '/scratch/t2', '/scratch/t3', '/scratch/t4']);
  // ONDIR is a mark's qualifier, as in a consumer mask; a consumer selects with its own.
  expect(fanlog('tail', '--dir', dir, '--mask', 'CREATE,ONDIR').stderr).toMatch(/^fanlog: EINVAL: mask: FAN_ONDIR is a mark's qualifier/);
  expect(fanlog('tail', '--dir', dir, '--filter', 'nope=1').stderr).toMatch(/^fanlog: ENOENT: no filter named 'nope'/);
  const consumer = fanlog('tail', '--dir', dir, '--consumer', 'backup', '--mask', 'CREATE');
  expect(consumer.status).toBe(2);
  expect(consumer.stderr).toMatch(/a consumer selects with its own mask and filter/);
});

it('stops --follow once it printed through --to', () => {
  const all = printed(fanlog('tail', '--dir', dir, '--json').stdout);
  const to = all[3]!.seq;
  const run = spawnSync(process.execPath, [CLI, 'tail', '--dir', dir, '--json', '--follow', '--to', String(to)], { encoding: 'utf8', timeout: 30_000 });
  expect(run.status, run.stderr).toBe(0);
  expect(printed(run.stdout).map((record) => record.seq)).toEqual(all.filter((record) => record.seq <= to).map((record) => record.seq));
});

it('acknowledges through --to with --consumer --ack, and everything durable with consumers ack --head', () => {
  const all = printed(fanlog('tail', '--dir', dir, '--json').stdout);
  const to = all[4]!.seq;
  const read = fanlog('tail', '--dir', dir, '--json', '--consumer', 'backup', '--ack', '--to', String(to));
  expect(read.status, read.stderr).toBe(0);
  expect(printed(read.stdout).at(-1)!.seq).toBe(to);
  expect(fanlog('consumers', 'list', '--dir', dir).stdout).toMatch(new RegExp(`backup\\s.*\\b${to}\\b`));
  const head = fanlog('consumers', 'ack', 'backup', '--head', '--dir', dir);
  expect(head.status, head.stderr).toBe(0);
  expect(head.stdout).toMatch(/^backup acknowledged through \d+ \(the durable head\)$/m);
  const { consumers } = JSON.parse(fanlog('consumers', 'list', '--dir', dir, '--json').stdout) as { consumers: { name: string; lagRecords: string }[] };
  expect(consumers).toEqual([expect.objectContaining({ name: 'backup', lagRecords: '0' })]);
  expect(fanlog('consumers', 'ack', 'backup', '5', '--head', '--dir', dir).stderr).toMatch(/needs a seq, or --head/);
  expect(fanlog('consumers', 'ack', 'backup', '--dir', dir).stderr).toMatch(/needs a seq, or --head/);
});
