/**
 * `fanlog replicate` and `fanlog redis-tail`: replication from the command
 * line (replication/).
 *
 * `replicate --redis URL --stream S [--follow] [--json]` opens the engine
 * (it takes the lock: `--wait`), replicates until caught up with what was
 * durable when it started (the stream checked whole once more at the end),
 * or with `--follow` until SIGINT or SIGTERM, and prints the replicator's
 * stats; a progress bar on a terminal. SIGINT and SIGTERM stop it in
 * either mode within the replicator's command timeout (5 s), even when
 * Redis does not answer; a final error (ELOST, EFOREIGN, ...) exits 1.
 * Nothing it prints holds the URL's credentials.
 *
 * `redis-tail --redis URL --stream S [--group G --consumer C [--ack]]`
 * prints the stream's entries in `tail`'s formats: without a group, every
 * entry (XRANGE, nothing changes on the server); with one, through it
 * (RedisConsumer), acknowledging with `--ack`, until a read finds nothing
 * more (pending entries are paged through, so a run without --ack ends
 * too). Entries trimmed before the group acknowledged them (ELOST) and
 * entries fanlog did not write (EFOREIGN) are reported on stderr with
 * their ids, the rest is printed, and it exits 1.
 */
import { Redis } from 'ioredis';
import { FanlogError } from '../errors.js';
import { COMMAND_TIMEOUT_MS_DEFAULT, connect, redactUrl, remoteError, timed } from '../replication/connect.js';
import { recordOfEntry } from '../replication/entry.js';
import { RedisConsumer } from '../replication/redis-consumer.js';
import type { ReplicatorStats } from '../replication/replicator.js';
import { changelogLine, type CommonOptions, toJson } from './commands.js';
import { openEngine } from './open-engine.js';
import { progressBar } from './progress.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** What `fanlog replicate` takes beyond the engine's options (main.ts parses them). */
export interface ReplicateCommand extends CommonOptions {
  redis: string;
  stream: string;
  follow?: boolean;
  mask?: bigint;
  filter?: { name: string; argument: string };
  batch?: number;
  trim?: 'acked' | { maxLen: number };
}

export async function replicateCommand(options: ReplicateCommand): Promise<void> {
  const engine = await openEngine(options);
  try {
    const consumer = `redis:${options.stream}`;
    const firstUse = !engine.consumers.list().some((info) => info.name === consumer);
    const replicator = await engine.replicate({
      url: options.redis,
      stream: options.stream,
      ...(options.mask === undefined ? {} : { mask: options.mask }),
      ...(options.filter === undefined ? {} : { filter: options.filter }),
      ...(options.batch === undefined ? {} : { batchRecords: options.batch }),
      ...(options.trim === undefined ? {} : { trim: options.trim }),
    });
    // Said once, on stderr: the consumer outlives the command, and holds the journal until it is deregistered.
    if (firstUse) {
      process.stderr.write(
        `fanlog: registered the durable consumer '${consumer}' for this stream; it holds the journal (no record it has not replicated is purged) until \`fanlog consumers deregister ${consumer}\`\n`,
      );
    }
    const start = replicator.stats();
    const total = Number(start.lagRecords);
    const bar = options.json === true ? null : progressBar('records', Math.max(total, 1), { stream: process.stderr, quietOnPipe: true });
    const timer = bar === null ? null : setInterval(() => bar.update(Math.min(total, replicator.stats().records)), 200);
    let signalled: () => void = () => undefined;
    const signal = new Promise<void>((resolve) => (signalled = resolve));
    process.once('SIGINT', signalled);
    process.once('SIGTERM', signalled);
    try {
      await Promise.race([signal, options.follow === true ? replicator.done : replicator.caughtUp()]);
    } finally {
      process.off('SIGINT', signalled);
      process.off('SIGTERM', signalled);
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
  out(
    `replicated through seq ${stats.replicatedSeq} into stream '${options.stream}': ${stats.records} records appended in ${stats.batches} batches, ${stats.retries} retries, lag ${stats.lagRecords} records`,
  );
  if (stats.lastError !== null) out(`last error: ${stats.lastError.message}`);
}

export async function redisTail(options: { redis: string; stream: string; group?: string; consumer?: string; ack?: boolean; json?: boolean }): Promise<void> {
  const print = (record: { seq: bigint } & Parameters<typeof changelogLine>[1]): void =>
    out(options.json === true ? toJson(record) : changelogLine(record.seq, record));
  if (options.group === undefined) {
    const redis: Redis = await connect(options.redis);
    try {
      let from = '-';
      for (;;) {
        const entries = (await timed(
          redis.xrangeBuffer(options.stream, from, '+', 'COUNT', 1000),
          COMMAND_TIMEOUT_MS_DEFAULT,
          () => `XRANGE to Redis at ${redactUrl(options.redis)}`,
        ).catch((error: unknown) => {
          throw remoteError(error, options.redis, undefined, redis);
        })) as [Buffer, Buffer[]][];
        for (const [id, fields] of entries) {
          try {
            print(recordOfEntry(id.toString(), fields));
          } catch (error) {
            // An entry fanlog did not write is told, and the tail goes on.
            if (!(error instanceof FanlogError)) throw error;
            process.stderr.write(`fanlog: EFOREIGN: ${error.message.replace(/^ECORRUPT: /, '')}\n`);
            process.exitCode = 1;
          }
        }
        if (entries.length < 1000) return;
        from = `(${entries[entries.length - 1]![0].toString()}`;
      }
    } finally {
      redis.disconnect();
    }
  }
  const reader = await RedisConsumer.open({ url: options.redis, stream: options.stream, group: options.group, consumer: options.consumer ?? 'redis-tail' });
  try {
    for (;;) {
      const batch = await reader.read({ max: 1000 }).catch((error: unknown) => {
        // A typed loss, or an entry fanlog did not write, is told, and the tail goes on with what is left.
        if ((error as FanlogError).code !== 'ELOST' && (error as FanlogError).code !== 'EFOREIGN') throw error;
        process.stderr.write(`fanlog: ${(error as FanlogError).message}\n`);
        process.exitCode = 1;
        return null;
      });
      if (batch === null) continue;
      if (batch.length === 0) return;
      for (const record of batch) print(record);
      if (options.ack === true) await reader.ack(batch);
    }
  } finally {
    reader.close();
  }
}
