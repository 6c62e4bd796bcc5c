/**
 * The replicator at its edges (issue 26, attack 3): foreign deletions of
 * acknowledged entries (XDEL) and foreign content in `<stream>:fanlog`
 * stop it with a typed error, never retried; final errors met outside a
 * Redis call (an eviction, the engine closing) are heard like the others;
 * a first replicator after a checkpoint starts a new stream cleanly; and
 * the application cannot open the consumer a replicator reads through.
 */
import { expect, it } from 'vitest';
import { Engine, type FanlogError } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { RedisConsumer } from '../../replication/index.js';
import { rejection } from '../helpers.js';
import { deliverable, outcome, streamIds, useRedis, work } from './fixture.js';

const f = useRedis();

/** `count` creates replicated into `stream` and caught up; errors heard are collected. */
async function replicated(count: number, stream = 'changes', engine?: Engine) {
  engine ??= await f.engine();
  await work(engine, 0, count);
  const heard: string[] = [];
  const replicator = await engine.replicate({
    url: f.server.url,
    stream,
    batchRecords: 10,
    commandTimeoutMs: 1000,
    onError: (error, final) => heard.push(`${error.code}${final ? '!' : ''}`),
  });
  await replicator.caughtUp();
  return { engine, replicator, heard, ours: await streamIds(f.redis, stream) };
}

it('stops with ELOST naming the entry when someone XDELs an acknowledged entry, in the middle or the last, idle or busy', async () => {
  for (const [stream, which, busy] of [
    ['middle', 0.5, false],
    ['last', 1, false],
    ['busy', 0.5, true],
  ] as const) {
    const { engine, replicator, heard, ours } = await replicated(30, stream);
    const gone = ours[Math.min(ours.length - 1, Math.floor(ours.length * which))]!;
    const cursor = engine.consumers.get(`redis:${stream}`).cursor;
    await f.redis.xdel(stream, gone);
    if (busy) await work(engine, 30, 10);
    const error = await outcome(replicator.caughtUp());
    expect(error?.code, stream).toBe('ELOST');
    expect(error?.ids, stream).toEqual([gone]);
    expect(error?.lost?.toSeq, stream).toBe(BigInt(gone.split('-')[0]!));
    expect(heard, stream).toEqual(['ELOST!']);
    expect(engine.consumers.get(`redis:${stream}`).cursor, stream).toBe(cursor);
    expect(await streamIds(f.redis, stream), stream).toEqual(ours.filter((id) => id !== gone));
  }
});

it('stops with EFOREIGN, retrying nothing, when <stream>:fanlog holds what fanlog did not write', async () => {
  const faults: Record<string, () => Promise<unknown>> = {
    garbage: () => f.redis.hset('garbage:fanlog', 'lastSeq', 'abc'),
    empty: () => f.redis.hset('empty:fanlog', 'lastSeq', ''),
    added: () => f.redis.hset('added:fanlog', 'entriesAdded', 'zz'),
    string: async () => {
      await f.redis.del('string:fanlog');
      await f.redis.set('string:fanlog', 'hello');
    },
  };
  for (const [stream, fault] of Object.entries(faults)) {
    const { engine, replicator, heard } = await replicated(10, stream);
    await fault();
    await work(engine, 10, 3);
    const error = await outcome(replicator.caughtUp());
    expect(error?.code, stream).toBe('EFOREIGN');
    expect(error?.message, stream).toContain(`'${stream}:fanlog'`);
    expect(replicator.stats(), stream).toMatchObject({ state: 'failed', retries: 0 });
    expect(heard, stream).toEqual(['EFOREIGN!']);
  }
});

it('gives a remote reader EFOREIGN when the stream key holds something else', async () => {
  await f.redis.set('text', 'hello');
  const error = await rejection(() => RedisConsumer.open({ url: f.url, stream: 'text', group: 'g', consumer: 'c' }));
  expect(error.code).toBe('EFOREIGN');
  await f.redis.del('text');
  const reader = await RedisConsumer.open({ url: f.url, stream: 'text', group: 'g', consumer: 'c' });
  await f.redis.del('text');
  await f.redis.set('text', 'hello');
  expect((await rejection(() => reader.read({ max: 10 }))).code).toBe('EFOREIGN');
  reader.close();
});

it('hears a final error met outside Redis (an eviction, the engine closing) in onError, lastError and the metrics', async () => {
  const engine = await Engine.open('/evict', { io: new MemoryIo(), store: 'files', consumerIdleMsMax: 100 });
  try {
    const { replicator, heard } = await replicated(10, 'evicted', engine);
    const error = (await outcome(replicator.done)) as FanlogError;
    expect(error.code).toBe('EEVICTED');
    // Everything was delivered before the eviction: no range is named as lost, least of all an inverted one.
    expect(error.message).not.toMatch(/(\d+)\.\.(\d+)/);
    expect(heard).toEqual(['EEVICTED!']);
    expect(replicator.stats().lastError?.code).toBe('EEVICTED');
    expect((await engine.metrics()).replicators?.find((r) => r.stream === 'evicted')?.lastErrorCode).toBe('EEVICTED');
  } finally {
    await engine.close();
  }
  const closing = await f.engine('/closing');
  const { replicator, heard } = await replicated(5, 'closing', closing);
  await closing.close();
  expect((await outcome(replicator.done))?.code).toBe('ECLOSED');
  expect(heard).toEqual(['ECLOSED!']);
  expect(replicator.stats().lastError?.code).toBe('ECLOSED');
});

it('replicates into a new stream right after a checkpoint, from the oldest record the engine retains', async () => {
  const engine = await f.engine();
  await work(engine, 0, 200);
  await engine.checkpoint();
  await work(engine, 200, 5);
  const replicator = await engine.replicate({ url: f.server.url, stream: 'fresh' });
  await replicator.caughtUp();
  const retained = await deliverable(engine);
  expect(await streamIds(f.redis, 'fresh')).toEqual(retained.map((record) => `${record.seq}-0`));
  // The stream then holds what fanlog acknowledged: deleting it is ELOST, as for any stream.
  await f.redis.del('fresh', 'fresh:fanlog');
  expect((await outcome(replicator.caughtUp()))?.code).toBe('ELOST');
});

it('refuses the application the consumer a running replicator reads through (EBUSY), and gives it back once stopped', async () => {
  const { engine, replicator } = await replicated(5);
  expect((await rejection(() => engine.consumers.open('redis:changes'))).code).toBe('EBUSY');
  // Nor deregistered under it (the fourth attack: it stopped the replicator with ENOENT).
  expect((await rejection(() => engine.consumers.deregister('redis:changes'))).code).toBe('EBUSY');
  expect(engine.consumers.list().map((info) => info.name)).toContain('redis:changes');
  await replicator.stop();
  expect(engine.consumers.get('redis:changes').name).toBe('redis:changes');
  const consumer = await engine.consumers.open('redis:changes');
  expect(consumer.cursor).toBe(replicator.stats().replicatedSeq);
});
