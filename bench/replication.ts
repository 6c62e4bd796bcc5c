/**
 * `npm run bench -- replication`: the changelog into a local redis-server
 * (started here, `--appendonly yes --appendfsync always`, stopped by pid).
 *
 *   replication   the Replicator: R event records (the consumers suite's),
 *                 written straight through the journal, replicated in
 *                 batches of 1,000 until caught up; records/s
 *   raw_xadd      what a user would otherwise do: the same entries (the
 *                 same fields, `record` included), pipelined XADD in
 *                 batches of 1,000, one pipeline at a time; records/s
 *   target        replication / raw_xadd ≥ 0.7, side by side: the two
 *                 alternate, three rounds (one with --quick), fresh
 *                 streams each, and the median ratio is reported
 *   latency       from a filesystem operation durable in fanlog to its
 *                 entry visible in the stream (XREAD BLOCK), one at a
 *                 time, p50 and p99
 *   redis_read    RedisConsumer reading the replicated stream through a
 *                 group, 1,000 at a time, acknowledging each batch
 */
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import type { DeliveredRecord } from '../consumers/consumer.js';
import { encodedOf } from '../engine/record/view.js';
import { Engine } from '../fanlog.js';
import { entryFields } from '../replication/entry.js';
import { RedisConsumer } from '../replication/redis-consumer.js';
import { writeChangelog } from './consumers.js';
import { formatRate, percentile, type BenchSettings } from './harness.js';
import { startRedis } from '../crash/redis-server.js';

const BATCH = 1000;

export async function replicationSuite(settings: BenchSettings): Promise<Record<string, unknown>> {
  const records = settings.quick ? 20_000 : 200_000;
  const rounds = settings.quick ? 1 : 3;
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-replication-'));
  const server = await startRedis();
  const redis = new Redis(server.url);
  try {
    const dir = path.join(root, 'engine');
    await writeChangelog(path.join(dir, 'journal'), records, settings);
    const engine = await Engine.open(dir, { store: 'lmdb' });
    const entries = await entriesOf(engine);
    const rates = { replication: [] as number[], raw_xadd: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      rates.replication.push(await replicate(engine, server.url, `fanlog-${round}`, records));
      rates.raw_xadd.push(await rawXadd(redis, `raw-${round}`, entries));
      settings.log(
        `  round ${round + 1}: replication ${formatRate(rates.replication[round]!)} records/s, raw_xadd ${formatRate(rates.raw_xadd[round]!)} records/s`,
      );
    }
    const median = (values: number[]): number =>
      percentile(
        [...values].sort((a, b) => a - b),
        0.5,
      );
    const ratio = median(rates.replication.map((rate, i) => rate / rates.raw_xadd[i]!));
    settings.log(`  replication / raw_xadd             ${ratio.toFixed(2)}x  (target >= 0.7x: ${ratio >= 0.7 ? 'met' : 'NOT met'})`);
    const latency = await measureLatency(engine, server.url, settings.quick ? 200 : 2000);
    settings.log(`  latency, durable in fanlog to visible in the stream: p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms`);
    const readRate = await redisRead(server.url, 'fanlog-0', records);
    settings.log(`  redis_read (RedisConsumer, batches of 1,000, acked)  ${formatRate(readRate)} records/s`);
    await engine.close();
    return {
      suite: 'replication',
      recordsPerSecond: { replication: median(rates.replication), raw_xadd: median(rates.raw_xadd), redis_read: readRate },
      latencyMs: latency,
      targets: { 'replication/raw_xadd': { ratio, target: 0.7 } },
    };
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** The stream entries of every record, as the replicator makes them. */
async function entriesOf(engine: Engine): Promise<{ seq: bigint; fields: (string | Buffer)[] }[]> {
  const consumer = await engine.consumers.register('entries');
  const out: { seq: bigint; fields: (string | Buffer)[] }[] = [];
  for (let batch: DeliveredRecord[] = await consumer.read({ max: 10_000 }); batch.length > 0; batch = await consumer.read({ max: 10_000 })) {
    for (const record of batch) out.push({ seq: record.seq, fields: entryFields(record, encodedOf(record)) });
  }
  await engine.consumers.deregister('entries');
  return out;
}

async function replicate(engine: Engine, url: string, stream: string, records: number): Promise<number> {
  const started = performance.now();
  const replicator = await engine.replicate({ url, stream, consumer: `bench-${stream}`, batchRecords: BATCH });
  await replicator.caughtUp();
  const seconds = (performance.now() - started) / 1000;
  await replicator.stop();
  await engine.consumers.deregister(`bench-${stream}`);
  return records / seconds;
}

async function rawXadd(redis: Redis, stream: string, entries: { seq: bigint; fields: (string | Buffer)[] }[]): Promise<number> {
  const started = performance.now();
  for (let at = 0; at < entries.length; at += BATCH) {
    const pipeline = redis.pipeline();
    for (const { seq, fields } of entries.slice(at, at + BATCH)) pipeline.xadd(stream, `${seq}-0`, ...fields);
    await pipeline.exec();
  }
  return entries.length / ((performance.now() - started) / 1000);
}

/** One operation at a time: from its durable resolution to its entry seen by a blocked XREAD. */
async function measureLatency(engine: Engine, url: string, operations: number): Promise<{ p50: number; p99: number }> {
  const reader = new Redis(url);
  const replicator = await engine.replicate({ url, stream: 'latency', consumer: 'bench-latency', batchRecords: BATCH });
  await replicator.caughtUp();
  let last: string;
  const samples: number[] = [];
  await engine.fs.mkdir('/latency');
  await replicator.caughtUp();
  last = (await reader.xrevrange('latency', '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
  for (let i = 0; i < operations; i++) {
    await engine.fs.create(`/latency/f${i}`);
    const durable = performance.now();
    const target = engine.journal.durableSeq;
    for (;;) {
      const got = await reader.xread('BLOCK', 5000, 'STREAMS', 'latency', last);
      const entries = got?.[0]?.[1] ?? [];
      if (entries.length === 0) continue;
      last = entries[entries.length - 1]![0];
      if (BigInt(last.split('-')[0]!) >= target) break;
    }
    samples.push(performance.now() - durable);
  }
  await replicator.stop();
  reader.disconnect();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

async function redisRead(url: string, stream: string, records: number): Promise<number> {
  const reader = await RedisConsumer.open({ url, stream, group: 'bench', consumer: 'reader' });
  const started = performance.now();
  let read = 0;
  while (read < records) {
    const batch = await reader.read({ max: BATCH });
    if (batch.length === 0) break;
    await reader.ack(batch);
    read += batch.length;
  }
  const rate = read / ((performance.now() - started) / 1000);
  reader.close();
  return rate;
}
