/**
 * `fanlog replicate` and `fanlog redis-tail`: replication from the command
 * line (replication/).
 *
 * `replicate --redis URL --stream S [--follow] [--json]` opens the engine
 * (it takes the lock: `--wait`), replicates until caught up with what was
 * durable when it started, or with `--follow` until SIGINT or SIGTERM, and
 * prints the replicator's stats; a progress bar on a terminal.
 *
 * `redis-tail --redis URL --stream S [--group G --consumer C [--ack]]`
 * prints the stream's entries in `tail`'s formats: without a group, every
 * entry (XRANGE, nothing changes on the server); with one, through it
 * (RedisConsumer), acknowledging with `--ack`.
 */
import { Redis } from 'ioredis';
import { connect } from '../replication/connect.js';
import { recordOfEntry } from '../replication/entry.js';
import { RedisConsumer } from '../replication/redis-consumer.js';
import type { ReplicatorStats } from '../replication/replicator.js';
import { changelogLine, type CommonOptions, toJson } from './commands.js';
import { openEngine } from './open-engine.js';
import { progressBar } from './progress.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function replicateCommand(options: CommonOptions & { redis: string; stream: string; follow?: boolean }): Promise<void> {
  const engine = await openEngine(options);
  try {
    const replicator = await engine.replicate({ url: options.redis, stream: options.stream });
    const start = replicator.stats();
    const total = Number(start.lagRecords);
    const bar = options.json === true ? null : progressBar('records', Math.max(total, 1), { stream: process.stderr, quietOnPipe: true });
    const timer = bar === null ? null : setInterval(() => bar.update(Math.min(total, replicator.stats().records)), 200);
    try {
      if (options.follow === true) {
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
          replicator.done.then(resolve, resolve);
        });
      } else {
        await Promise.race([replicator.caughtUp(), replicator.done]);
      }
    } finally {
      if (timer !== null) clearInterval(timer);
      bar?.update(Math.min(total, replicator.stats().records));
      bar?.stop();
      await replicator.stop();
    }
    await replicator.done;
    report(replicator.stats(), options);
  } finally {
    await engine.close();
  }
}

function report(stats: ReplicatorStats, options: { json?: boolean; stream: string }): void {
  if (options.json === true) return out(toJson(stats));
  out(`replicated through seq ${stats.replicatedSeq} into stream '${options.stream}': ${stats.records} records appended in ${stats.batches} batches, ${stats.retries} retries, lag ${stats.lagRecords} records`);
  if (stats.lastError !== null) out(`last error: ${stats.lastError.message}`);
}

export async function redisTail(options: { redis: string; stream: string; group?: string; consumer?: string; ack?: boolean; json?: boolean }): Promise<void> {
  const print = (record: { seq: bigint } & Parameters<typeof changelogLine>[1]): void => out(options.json === true ? toJson(record) : changelogLine(record.seq, record));
  if (options.group === undefined) {
    const redis: Redis = await connect(options.redis);
    try {
      let from = '-';
      for (;;) {
        const entries = (await redis.xrangeBuffer(options.stream, from, '+', 'COUNT', 1000)) as [Buffer, Buffer[]][];
        for (const [id, fields] of entries) print(recordOfEntry(id.toString(), fields));
        if (entries.length < 1000) return;
        from = `(${entries[entries.length - 1]![0].toString()}`;
      }
    } finally {
      redis.disconnect();
    }
  }
  const reader = await RedisConsumer.open({ url: options.redis, stream: options.stream, group: options.group, consumer: options.consumer ?? 'redis-tail' });
  try {
    for (let batch = await reader.read({ max: 1000 }); batch.length > 0; batch = await reader.read({ max: 1000 })) {
      for (const record of batch) print(record);
      if (options.ack === true) await reader.ack(batch);
    }
  } finally {
    reader.close();
  }
}
