/**
 * A redis-server started with `--requirepass` (issue 26, R5): a wrong or
 * missing password is EAUTH saying that authentication failed, from the
 * replicator, a remote reader and the CLI; and no credential is ever
 * printed: not in errors, stats, metrics, the Prometheus text or the CLI's
 * output, whatever the URL's shape.
 */
import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine, prometheusText } from '../../index.js';
import { RedisConsumer } from '../../replication/index.js';
import { redactUrl } from '../../replication/connect.js';
import { rejection, tempDir } from '../helpers.js';
import { useRedis, work } from './fixture.js';

const PASSWORD = 'Pa55word';
const f = useRedis({ password: PASSWORD });
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const wrong = (): string => f.server.url.replace('://', '://:wrong-Pa55word@');

it('is EAUTH, saying authentication failed and printing no password, for a wrong or missing password', async () => {
  const engine = await f.engine();
  for (const url of [wrong(), f.server.url, f.server.url.replace('://', '://bob:wrong-Pa55word@')]) {
    const error = await rejection(() => engine.replicate({ url, stream: 'changes' }));
    expect(error.code, url).toBe('EAUTH');
    expect(error.message).toMatch(/authentication failed/);
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).toContain(`127.0.0.1:${f.server.port}`);
    const reading = await rejection(() => RedisConsumer.open({ url, stream: 'changes', group: 'g', consumer: 'c' }));
    expect(reading.code).toBe('EAUTH');
    expect(reading.message).not.toContain(PASSWORD);
  }
});

it('prints no password in stats, metrics or the Prometheus text of a replicator that authenticated', async () => {
  const engine = await f.engine();
  await work(engine, 0, 3);
  const replicator = await engine.replicate({ url: f.url, stream: 'changes' });
  await replicator.caughtUp();
  expect(replicator.url).toBe(`redis://***@127.0.0.1:${f.server.port}`);
  const everything = JSON.stringify({ stats: replicator.stats(), metrics: await engine.metrics(), url: replicator.url }, (_key, value: unknown) =>
    typeof value === 'bigint' ? String(value) : value,
  );
  expect(everything).not.toContain(PASSWORD);
  expect(prometheusText(await engine.metrics(), '/d')).not.toContain(PASSWORD);
  await replicator.stop();
});

it('redacts every credential of a URL, and an invalid URL is EINVAL without it', async () => {
  expect(redactUrl('redis://:s3cret@host:6379/2')).toBe('redis://***@host:6379/2');
  expect(redactUrl('rediss://user:s3cret@host:6379')).toBe('rediss://***@host:6379');
  expect(redactUrl('redis://host:6379')).toBe('redis://host:6379');
  expect(redactUrl('redis://a@b:c@host:1')).toBe('redis://***@host:1');
  const engine = await f.engine();
  for (const url of ['redis://:s3cret@host:6379/x', 'http://:s3cret@host', 'redis://:s3cret@']) {
    const error = await rejection(() => engine.replicate({ url, stream: 's' }));
    expect(error.code).toBe('EINVAL');
    expect(error.message).not.toContain('s3cret');
  }
});

it('fanlog replicate and redis-tail say EAUTH and print no password', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.close();
  for (const args of [
    ['replicate', '--redis', wrong(), '--stream', 's', '--dir', dir],
    ['redis-tail', '--redis', wrong(), '--stream', 's'],
    ['redis-tail', '--redis', wrong(), '--stream', 's', '--group', 'g'],
  ]) {
    const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, args.join(' ')).toBe(1);
    expect(run.stderr).toMatch(/^fanlog: EAUTH: .*authentication failed/);
    expect(run.stderr + run.stdout).not.toContain(PASSWORD);
  }
  const ok = spawnSync(process.execPath, [CLI, 'replicate', '--redis', f.url, '--stream', 's', '--dir', dir, '--json'], { encoding: 'utf8', timeout: 60_000 });
  expect(ok.status, ok.stderr).toBe(0);
  expect(ok.stdout + ok.stderr).not.toContain(PASSWORD);
});

it('prints no password given in the query (?password=), in the url, stats, metrics, errors or an inspected reader', async () => {
  const engine = await f.engine();
  await work(engine, 0, 3);
  const url = `${f.server.url}?password=${PASSWORD}`;
  const replicator = await engine.replicate({ url, stream: 'changes', commandTimeoutMs: 300 });
  await replicator.caughtUp();
  expect(replicator.url).toBe(`${f.server.url}?password=***`);
  // A frozen server: the retried errors name the URL too.
  f.server.pause();
  try {
    await work(engine, 3, 2);
    await expect.poll(() => replicator.stats().lastError?.code, { timeout: 20_000 }).toBe('ETIMEDOUT');
  } finally {
    f.server.resume();
  }
  const shown = inspect({ stats: replicator.stats(), metrics: await engine.metrics(), replicator }, { depth: 6, showHidden: true });
  expect(shown).toContain('?password=***');
  expect(shown).not.toContain(PASSWORD);
  await replicator.stop();
  const reader = await RedisConsumer.open({ url: f.url, stream: 'changes', group: 'g', consumer: 'c' });
  expect(inspect(reader, { depth: 6, showHidden: true })).not.toContain(PASSWORD);
  reader.close();
  expect(redactUrl('redis://h:1?password=s3cret&db=2#frag')).toBe('redis://h:1?password=***&db=***#***');
});

it('is EINVAL, without the password, for URLs the URL parser refuses, and the CLI prints no stack', async () => {
  const engine = await f.engine();
  const bad = [
    'redis://:s3cret@ho|st:6379',
    'redis://:s3cret@127.0.0.1:99999',
    'redis://:s3cret@[::1:6379',
    'redis://:s3cret@host:port',
    'redis://:s3/cr?e#t@127.0.0.1:6379',
  ];
  for (const url of bad) {
    const error = await rejection(() => engine.replicate({ url, stream: 's' }));
    expect(error.code, url).toBe('EINVAL');
    expect(inspect(error, { depth: 6 }), url).not.toMatch(/s3cret|s3\/cr/);
    expect((await rejection(() => RedisConsumer.open({ url, stream: 's', group: 'g', consumer: 'c' }))).code, url).toBe('EINVAL');
  }
  const dir = path.join(tempDir(), 'engine');
  await (await Engine.open(dir, { store: 'lmdb' })).close();
  for (const args of [
    ['replicate', '--redis', bad[0]!, '--stream', 's', '--dir', dir],
    ['redis-tail', '--redis', bad[1]!, '--stream', 's'],
    ['replicate', '--redis', 'redis://127.0.0.1:1?password=s3cret', '--stream', 's', '--dir', dir],
  ]) {
    const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, args.join(' ')).toBe(1);
    expect(run.stderr, args.join(' ')).toMatch(/^fanlog: E[A-Z]+: /);
    expect(run.stderr + run.stdout, args.join(' ')).not.toMatch(/s3cret|^\s+at /m);
  }
});
