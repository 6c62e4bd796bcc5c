/**
 * Replication into a real redis-server (test/redis-server.ts): the stream
 * holds exactly the records a fanlog consumer delivers, as `<seq>-0`, in
 * order, once; a re-send of what a crashed replicator appended is skipped;
 * a stream that lost acknowledged records is ELOST with the range and
 * nothing is written; Redis unreachable is EREMOTE and the engine goes on;
 * a Redis SIGKILL and restart costs retries, not records; bad options are
 * EINVAL; trimming never drops what a group has not acknowledged.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { type DeliveredRecord, Engine, FAN_CREATE, FanlogError } from '../../index.js';
import { decodeRecord } from '../../interop/index.js';
import { MemoryIo } from '../../testing.js';
import { entryFields } from '../../replication/entry.js';
import { encodedOf } from '../../engine/record/view.js';
import { RedisConsumer } from '../../replication/index.js';
import { fileURLToPath } from 'node:url';
import { rejection, startNodeChild } from '../helpers.js';
import { type RedisServer, startRedis } from '../redis-server.js';

let server: RedisServer;
let redis: Redis;
const engines: Engine[] = [];

beforeEach(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { lazyConnect: true });
  redis.on('error', () => undefined);
  await redis.connect();
});

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
  redis.disconnect();
  await server.stop();
});

async function opened(): Promise<Engine> {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  engines.push(engine);
  return engine;
}

async function work(engine: Engine, from: number, count: number): Promise<void> {
  if (from === 0) await engine.fs.mkdir('/d');
  for (let i = from; i < from + count; i++) await engine.fs.create(`/d/f${i}`, { size: i }, { pid: 7, uid: 1000, gid: 100 });
}

/** Every record a fresh consumer from the oldest delivers. */
async function deliverable(engine: Engine, name: string): Promise<DeliveredRecord[]> {
  const consumer = await engine.consumers.register(name);
  const all: DeliveredRecord[] = [];
  for (let batch = await consumer.read({ max: 10_000 }); batch.length > 0; batch = await consumer.read({ max: 10_000 })) all.push(...batch);
  await engine.consumers.deregister(name);
  return all;
}

async function streamIds(stream: string): Promise<string[]> {
  return (await redis.xrange(stream, '-', '+')).map(([id]) => id);
}

it('appends exactly the records a consumer delivers, as <seq>-0, each once, with the fields the README lists', async () => {
  const engine = await opened();
  await work(engine, 0, 30);
  const replicator = await engine.replicate({ url: server.url, stream: 'changes', batchRecords: 7 });
  await replicator.caughtUp();
  const expected = await deliverable(engine, 'reference');
  expect(await streamIds('changes')).toEqual(expected.map((record) => `${record.seq}-0`));
  const [id, fields] = (await redis.xrangeBuffer('changes', '-', '+', 'COUNT', 2))[1]!;
  const map = new Map<string, Buffer>();
  for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!.toString(), fields[i + 1]!);
  const record = expected[1]!;
  expect(id.toString()).toBe(`${record.seq}-0`);
  expect(map.get('seq')!.toString()).toBe(String(record.seq));
  expect(map.get('kind')!.toString()).toBe('event');
  expect(map.get('maskNames')!.toString()).toBe('CREATE');
  expect(map.get('mask')!.toString()).toBe(`0x${FAN_CREATE.toString(16)}`);
  expect(map.get('path')!.toString()).toBe(record.path);
  expect(map.get('gid')!.toString()).toBe('100');
  expect(decodeRecord(new Uint8Array(map.get('record')!))).toEqual(decodeRecord(encodedOf(record)));
  expect(replicator.stats()).toMatchObject({ replicatedSeq: engine.journal.durableSeq, lagRecords: 0n, records: expected.length, retries: 0, lastError: null });
  // It goes on with what comes next.
  await work(engine, 30, 5);
  await replicator.caughtUp();
  expect(await streamIds('changes')).toEqual((await deliverable(engine, 'again')).map((r) => `${r.seq}-0`));
  await replicator.stop();
});

it('skips what a crashed replicator appended before its ack, and appends the rest once', async () => {
  const engine = await opened();
  await work(engine, 0, 20);
  const expected = await deliverable(engine, 'reference');
  // A replicator appended the first 12 and died before its fanlog ack: the consumer's cursor is still 0.
  await engine.consumers.register('redis:changes');
  await redis.hset('changes:fanlog', 'journalId', engine.journal.journalId.toString());
  for (const record of expected.slice(0, 12)) await redis.xadd('changes', `${record.seq}-0`, ...entryFields(record, encodedOf(record)));
  const replicator = await engine.replicate({ url: server.url, stream: 'changes' });
  await replicator.caughtUp();
  expect(await streamIds('changes')).toEqual(expected.map((record) => `${record.seq}-0`));
  expect(replicator.stats().records).toBe(expected.length - 12);
  await replicator.stop();
});

it('refuses, ELOST with the missing range and writing nothing, a stream that lost acknowledged records', async () => {
  const engine = await opened();
  await work(engine, 0, 10);
  let replicator = await engine.replicate({ url: server.url, stream: 'changes' });
  await replicator.caughtUp();
  const acked = replicator.stats().replicatedSeq;
  await replicator.stop();
  await redis.del('changes');
  await work(engine, 10, 5);
  const heard: string[] = [];
  replicator = await engine.replicate({ url: server.url, stream: 'changes', onError: (error, final) => heard.push(`${error.code} ${final}`) });
  const error = (await replicator.done.then(
    () => null,
    (e: unknown) => e,
  )) as FanlogError;
  expect(error.code).toBe('ELOST');
  expect(error.lost).toEqual({ fromSeq: 1n, toSeq: acked });
  expect(error.message).toMatch(/records 1\.\.\d+ are gone from the stream/);
  expect(heard).toEqual(['ELOST true']);
  expect(await redis.exists('changes')).toBe(0);
  // A stream restored from an older copy: its last id is below the cursor.
  await redis.xadd('changes', '1-0', 'seq', '1');
  const again = await engine.replicate({ url: server.url, stream: 'changes' });
  expect(
    (
      (await again.done.then(
        () => null,
        (e: unknown) => e,
      )) as FanlogError
    ).lost,
  ).toEqual({ fromSeq: 2n, toSeq: acked });
  expect(await streamIds('changes')).toEqual(['1-0']);
});

it('refuses, EJOURNALID and writing nothing, a stream that replicates another journal or none', async () => {
  const first = await opened();
  await work(first, 0, 5);
  const replicator = await first.replicate({ url: server.url, stream: 'shared' });
  await replicator.caughtUp();
  await replicator.stop();
  const before = await streamIds('shared');
  const other = await Engine.open('/other', { io: new MemoryIo(), store: 'files' });
  engines.push(other);
  await work(other, 0, 5);
  const refused = await other.replicate({ url: server.url, stream: 'shared' });
  const error = (await refused.done.then(
    () => null,
    (e: unknown) => e,
  )) as FanlogError;
  expect(error.code).toBe('EJOURNALID');
  expect(error.message).toContain(`journal ${first.journal.journalId}`);
  expect(await streamIds('shared')).toEqual(before);
  // A stream someone else wrote (no sibling key) is refused the same way.
  await redis.xadd('foreign', '*', 'x', '1');
  const foreign = await other.replicate({ url: server.url, stream: 'foreign', consumer: 'to-foreign' });
  expect(
    (
      (await foreign.done.then(
        () => null,
        (e: unknown) => e,
      )) as FanlogError
    ).code,
  ).toBe('EJOURNALID');
  expect(await redis.xlen('foreign')).toBe(1);
});

it('is EREMOTE, naming the URL, when Redis cannot be reached, and the engine goes on', async () => {
  const engine = await opened();
  const url = server.url;
  await server.stop();
  const error = await rejection(() => engine.replicate({ url, stream: 'changes' }));
  expect(error.code).toBe('EREMOTE');
  expect(error.message).toContain(url);
  await engine.fs.mkdir('/still-working');
  expect(await engine.fs.readdir('/')).toEqual(['still-working']);
  await server.restart();
});

it('retries through a Redis SIGKILL and restart, and loses nothing', async () => {
  const engine = await opened();
  await work(engine, 0, 10);
  const replicator = await engine.replicate({ url: server.url, stream: 'changes', batchRecords: 5 });
  await replicator.caughtUp();
  await server.kill();
  await work(engine, 10, 20);
  // While Redis is down the replicator retries, with backoff.
  await expect.poll(() => replicator.stats().retries, { timeout: 10_000 }).toBeGreaterThan(0);
  await server.restart();
  redis.disconnect();
  redis = new Redis(server.url, { lazyConnect: true });
  redis.on('error', () => undefined);
  await redis.connect();
  await replicator.caughtUp();
  expect(await streamIds('changes')).toEqual((await deliverable(engine, 'reference')).map((record) => `${record.seq}-0`));
  expect(replicator.stats().lastError?.code).toBe('EREMOTE');
  await replicator.stop();
});

it('refuses bad options with EINVAL', async () => {
  const engine = await opened();
  for (const options of [
    { url: 'http://x', stream: 's' },
    { url: server.url, stream: '' },
    { url: server.url, stream: 's', batchRecords: 0 },
    { url: server.url, stream: 's', trim: { maxLen: -1 } },
    { url: server.url, stream: 's', colour: 'red' },
  ]) {
    expect((await rejection(() => engine.replicate(options as never))).code, JSON.stringify(options)).toBe('EINVAL');
  }
  expect((await rejection(() => RedisConsumer.open({ url: server.url, stream: '', group: 'g', consumer: 'c' }))).code).toBe('EINVAL');
});

it('trims, with trim: acked, only what every group acknowledged', async () => {
  const engine = await opened();
  await work(engine, 0, 20);
  const slow = await RedisConsumer.open({ url: server.url, stream: 'changes', group: 'slow', consumer: 'a' });
  const fast = await RedisConsumer.open({ url: server.url, stream: 'changes', group: 'fast', consumer: 'b' });
  const replicator = await engine.replicate({ url: server.url, stream: 'changes', trim: 'acked' });
  await replicator.caughtUp();
  const all = await streamIds('changes');
  await fast.ack(await fast.read({ max: 1000 }));
  const read = await slow.read({ max: 5 });
  await slow.ack(read.slice(0, 3));
  // Another batch trims: the slow group's oldest unacknowledged entry is the 4th.
  await work(engine, 20, 1);
  await replicator.caughtUp();
  const left = await streamIds('changes');
  expect(left[0]).toBe(all[3]);
  expect(left).toContain(all[4]);
  slow.close();
  fast.close();
  await replicator.stop();
});

it("gives a remote reader's unacknowledged entries to another reader of its group once it died holding them", async () => {
  const engine = await opened();
  await work(engine, 0, 10);
  const replicator = await engine.replicate({ url: server.url, stream: 'changes' });
  await replicator.caughtUp();
  let held: string[] = [];
  const child = await startNodeChild(fileURLToPath(new URL('./reader-child.mjs', import.meta.url)), [server.url, 'changes', 'backup', 'dies', '4'], (words) => {
    if (words[0] === 'ready') held = words.slice(2);
  });
  child.child.kill('SIGKILL');
  await child.exited;
  expect(held.length).toBe(4);
  const survivor = await RedisConsumer.open({ url: server.url, stream: 'changes', group: 'backup', consumer: 'lives', claimIdleMs: 1 });
  // XAUTOCLAIM takes entries idle for claimIdleMs (1 ms): the dead reader's, first.
  const claimed = await survivor.read({ max: 4 });
  expect(claimed.map((record) => String(record.seq))).toEqual(held);
  expect(await redis.xpending('changes', 'backup', '-', '+', 10, 'dies')).toEqual([]);
  const rest = await survivor.read({ max: 1000 });
  const seen = new Set([...held, ...rest.map((record) => String(record.seq))]);
  expect([...seen].sort((a, b) => Number(a) - Number(b))).toEqual((await deliverable(engine, 'reference')).map((record) => String(record.seq)));
  expect(await survivor.ack([...seen].map((seq) => ({ seq: BigInt(seq) })))).toBe(seen.size);
  survivor.close();
  await replicator.stop();
});

it('replicates only what its mask and filter keep', async () => {
  const engine = await opened();
  await engine.fs.mkdir('/keep');
  await engine.fs.mkdir('/skip');
  for (let i = 0; i < 5; i++) {
    await engine.fs.create(`/keep/f${i}`);
    await engine.fs.create(`/skip/f${i}`);
    await engine.fs.chmod(`/keep/f${i}`, 0o600);
  }
  const replicator = await engine.replicate({ url: server.url, stream: 'creates', mask: FAN_CREATE, filter: { name: 'path-prefix', argument: '/keep' } });
  await replicator.caughtUp();
  const paths = (await redis.xrange('creates', '-', '+')).map(([, fields]) => fields[fields.indexOf('path') + 1]);
  // The creates under /keep, its own mkdir among them; no chmod, nothing under /skip.
  expect(paths).toEqual(['/keep', ...Array.from({ length: 5 }, (_, i) => `/keep/f${i}`)]);
  await replicator.stop();
});

it('acknowledges in fanlog only once waitReplicas replicas have the batch', async () => {
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(server.port)]);
  try {
    const engine = await opened();
    await work(engine, 0, 5);
    // The replica may still be syncing: the first batches wait (WAIT) or retry until it has them.
    const replicator = await engine.replicate({ url: server.url, stream: 'replicated', waitReplicas: 1 });
    await replicator.caughtUp();
    const onReplica = new Redis(replica.url);
    expect((await onReplica.xrange('replicated', '-', '+')).length).toBe((await deliverable(engine, 'reference')).length);
    onReplica.disconnect();
    // Without the replica, nothing more is acknowledged: the batch is retried.
    await replica.stop();
    await work(engine, 5, 2);
    await expect.poll(() => replicator.stats().lastError?.message ?? '', { timeout: 15_000 }).toMatch(/replicas have the batch|redis:/);
    const stuck = replicator.stats().replicatedSeq;
    expect(stuck).toBeLessThan(engine.journal.durableSeq);
    await replica.restart();
    await replicator.caughtUp();
    expect(replicator.stats().replicatedSeq).toBe(engine.journal.durableSeq);
    await replicator.stop();
  } finally {
    await replica.stop();
  }
});
