/**
 * An unresponsive Redis (SIGSTOPped: its connections stay open, nothing
 * answers) must not hang replication (issue 26, R4): commands time out
 * (ETIMEDOUT) and are retried, the stall shows in stats(), in the engine's
 * metrics and in the Prometheus text, stop() and a SIGTERM of `fanlog
 * replicate --follow` finish within the stated bound, and once Redis
 * answers again nothing is lost. Also a remote reader's blocking read.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine, prometheusText } from '../../index.js';
import { RedisConsumer } from '../../replication/index.js';
import { rejection, tempDir } from '../helpers.js';
import { deliverable, streamIds, useRedis, work } from './fixture.js';

const f = useRedis();
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Resolves with `work`'s outcome, or with 'still waiting' once `ms` have passed. */
function within<T>(ms: number, work: Promise<T>): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

it('times out commands to a frozen Redis, shows the stall, stops within the bound, and loses nothing once Redis answers', async () => {
  const engine = await f.engine();
  await work(engine, 0, 5);
  const replicator = await engine.replicate({ url: f.url, stream: 'changes', commandTimeoutMs: 300 });
  await replicator.caughtUp();
  f.server.pause();
  await work(engine, 5, 5);
  await expect.poll(() => replicator.stats().stalledMs ?? 0, { timeout: 5000 }).toBeGreaterThan(600);
  expect(replicator.stats()).toMatchObject({ state: 'retrying', lastError: { code: 'ETIMEDOUT' } });
  expect(replicator.stats().retries).toBeGreaterThan(0);
  const metrics = await engine.metrics();
  expect(metrics.replicators).toEqual([
    expect.objectContaining({ stream: 'changes', consumer: 'redis:changes', state: 'retrying', lastErrorCode: 'ETIMEDOUT' }),
  ]);
  expect(metrics.replicators![0]!.stalledMs).toBeGreaterThan(600);
  const text = prometheusText(metrics, '/d');
  expect(text).toMatch(/^fanlog_replicator_stalled_seconds\{dir="\/d",stream="changes",consumer="redis:changes"\} \d+(\.\d+)?$/m);
  expect(text).toMatch(/^fanlog_replicator_lag_records\{dir="\/d",stream="changes",consumer="redis:changes"\} [1-9]\d*$/m);
  expect(text).toMatch(/^fanlog_replicator_retries_total\{dir="\/d",stream="changes",consumer="redis:changes"\} [1-9]\d*$/m);
  // stop() is bounded by commandTimeoutMs (and a local ack), whatever Redis does.
  const started = Date.now();
  expect(await within(2000, replicator.stop())).toBeUndefined();
  expect(Date.now() - started).toBeLessThan(1500);
  expect(replicator.stats().state).toBe('stopped');
  f.server.resume();
  const again = await engine.replicate({ url: f.url, stream: 'changes', commandTimeoutMs: 300 });
  await again.caughtUp();
  expect(await streamIds(f.redis, 'changes')).toEqual((await deliverable(engine)).map((record) => `${record.seq}-0`));
  expect(again.stats()).toMatchObject({ state: 'running', stalledMs: 0 });
  await again.stop();
});

it('refuses a bad commandTimeoutMs with EINVAL', async () => {
  const engine = await f.engine();
  for (const commandTimeoutMs of [0, -1, 1.5, 'soon']) {
    expect((await rejection(() => engine.replicate({ url: f.url, stream: 's', commandTimeoutMs } as never))).code).toBe('EINVAL');
  }
});

it('gives a remote reader ETIMEDOUT from a frozen Redis, its blocking read allowed its wait', async () => {
  const reader = await RedisConsumer.open({ url: f.url, stream: 'changes', group: 'g', consumer: 'c', commandTimeoutMs: 300 });
  // An empty stream: the read blocks its full wait, longer than the command timeout, and answers.
  expect(await reader.read({ waitMs: 600 })).toEqual([]);
  f.server.pause();
  const started = Date.now();
  const error = await rejection(() => reader.read({ waitMs: 200 }));
  expect(error.code).toBe('ETIMEDOUT');
  expect(Date.now() - started).toBeLessThan(2000);
  reader.close();
});

it('`fanlog replicate --follow` ends on SIGTERM while Redis is frozen mid-replication, within the bound', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await work(engine, 0, 5000);
  await engine.close();
  const child = spawn(process.execPath, [CLI, 'replicate', '--redis', f.url, '--stream', 'cli', '--dir', dir, '--follow', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Frozen once the first batch is in: the next one is on its way.
  await expect.poll(() => f.redis.xlen('cli'), { timeout: 20_000, interval: 5 }).toBeGreaterThan(0);
  f.server.pause();
  child.kill('SIGTERM');
  // The default command timeout (5 s) bounds it.
  const code = await within(8000, exited);
  if (code === 'still waiting') child.kill('SIGKILL');
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toMatchObject({ state: 'stopped' });
});
