/**
 * `fanlog replicate` and `fanlog redis-tail` against a real redis-server:
 * the stream, printed by redis-tail, reads line for line as `fanlog tail`
 * prints the engine's changelog; through a group with --ack, a second run
 * prints nothing; Redis unreachable is EREMOTE naming the URL; a stream
 * restored from an older copy is ELOST (exit 1) though nothing is new.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';
import { type RedisServer, startRedis } from '../redis-server.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

it('replicates an engine directory, and redis-tail prints the stream as tail prints the changelog', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 25; i++) await engine.fs.create(`/d/f${i}`, { size: i });
  await engine.fs.rename('/d/f0', '/d/g0');
  await engine.close();
  const replicated = fanlog('replicate', '--redis', server.url, '--stream', 'cli', '--dir', dir, '--json');
  expect(replicated.status, replicated.stderr).toBe(0);
  const stats = JSON.parse(replicated.stdout) as { records: number; lagRecords: string; lastError: unknown };
  const tail = fanlog('tail', '--dir', dir).stdout.trim().split('\n');
  expect(stats).toMatchObject({ records: tail.length, lagRecords: '0', lastError: null });
  expect(fanlog('redis-tail', '--redis', server.url, '--stream', 'cli').stdout.trim().split('\n')).toEqual(tail);
  // Again: nothing new to append.
  expect(JSON.parse(fanlog('replicate', '--redis', server.url, '--stream', 'cli', '--dir', dir, '--json').stdout)).toMatchObject({ records: 0 });
  const grouped = fanlog('redis-tail', '--redis', server.url, '--stream', 'cli', '--group', 'g', '--ack', '--json').stdout.trim().split('\n');
  expect(grouped.map((line) => (JSON.parse(line) as { seq: string }).seq)).toEqual(tail.map((line) => line.split(' ')[0]));
  expect(fanlog('redis-tail', '--redis', server.url, '--stream', 'cli', '--group', 'g', '--ack').stdout).toBe('');
});

it('demo --redis replicates the demo and checks a remote backup reader against the local one', () => {
  const run = spawnSync(process.execPath, [CLI, 'demo', '--dir', `${tempDir()}/demo`, '--files', '60', '--redis', server.url], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/replicating the changelog into the Redis stream 'fanlog-demo-\d+'/);
  expect(run.stdout).toMatch(/\d+ records read from the stream through a consumer group: exactly what the local backup consumer saw/);
  expect(run.stdout).toContain('check                 nothing lost, nothing answered twice');
});

it('is EREMOTE naming the URL when Redis cannot be reached', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.close();
  const url = 'redis://127.0.0.1:1';
  const run = fanlog('replicate', '--redis', url, '--stream', 's', '--dir', dir);
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(new RegExp(`^fanlog: EREMOTE: cannot reach Redis at ${url}`));
  expect(fanlog('redis-tail', '--redis', url, '--stream', 's').stderr).toMatch(/^fanlog: EREMOTE: /);
});

it('exits 1 with ELOST when the stream was restored from an older copy, though the engine has nothing new', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 5; i++) await engine.fs.create(`/d/f${i}`);
  await engine.close();
  const redis = new Redis(server.url);
  try {
    expect(fanlog('replicate', '--redis', server.url, '--stream', 'restored', '--dir', dir).status).toBe(0);
    const old = await Promise.all(['restored', 'restored:fanlog'].map((key) => redis.dumpBuffer(key)));
    const more = await Engine.open(dir, { store: 'lmdb' });
    for (let i = 5; i < 10; i++) await more.fs.create(`/d/f${i}`);
    await more.close();
    expect(fanlog('replicate', '--redis', server.url, '--stream', 'restored', '--dir', dir).status).toBe(0);
    await redis.restore('restored', 0, old[0]!, 'REPLACE');
    await redis.restore('restored:fanlog', 0, old[1]!, 'REPLACE');
    const run = fanlog('replicate', '--redis', server.url, '--stream', 'restored', '--dir', dir);
    expect(run.stderr).toMatch(/^fanlog: ELOST: stream 'restored' ends at \d+, but fanlog acknowledged records through \d+ into it/);
    expect(run.status).toBe(1);
  } finally {
    redis.disconnect();
  }
});

it('takes --mask, --filter, --batch and --trim, and says on first use that its consumer holds the journal', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  for (const top of ['/a', '/b']) {
    await engine.fs.mkdir(top);
    for (let i = 0; i < 6; i++) await engine.fs.create(`${top}/f${i}`, { size: i });
  }
  await engine.fs.rename('/a/f0', '/a/g0');
  await engine.close();
  const args = ['replicate', '--redis', server.url, '--stream', 'opts', '--dir', dir, '--json', '--mask', 'CREATE', '--filter', 'path-prefix=/a'];
  const first = fanlog(...args, '--batch', '2');
  expect(first.status, first.stderr).toBe(0);
  expect(first.stderr).toMatch(/registered the durable consumer 'redis:opts'.*holds the journal.*fanlog consumers deregister redis:opts/);
  const stats = JSON.parse(first.stdout) as { records: number; batches: number };
  const streamed = fanlog('redis-tail', '--redis', server.url, '--stream', 'opts', '--json')
    .stdout.trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { mask?: string; path?: string });
  // mkdir /a and its six creates: no rename, nothing under /b.
  expect(streamed.map((record) => record.path)).toEqual(['/a', '/a/f0', '/a/f1', '/a/f2', '/a/f3', '/a/f4', '/a/f5']);
  expect(stats.records).toBe(7);
  expect(stats.batches).toBeGreaterThanOrEqual(4);
  // Said once: the second run finds its consumer registered.
  const engineAgain = await Engine.open(dir, { store: 'lmdb' });
  for (let i = 6; i < 10; i++) await engineAgain.fs.create(`/a/f${i}`);
  await engineAgain.close();
  const second = fanlog(...args, '--trim', '3');
  expect(second.status, second.stderr).toBe(0);
  expect(second.stderr).not.toMatch(/registered/);
  const redis = new Redis(server.url);
  try {
    expect(await redis.xlen('opts')).toBe(3);
  } finally {
    redis.disconnect();
  }
  expect(fanlog(...args, '--trim', 'some').stderr).toMatch(/expected 'acked' or a length from 1/);
});
