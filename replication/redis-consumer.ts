/**
 * RedisConsumer: the remote side of replication, for a process (on any
 * machine) that reads a replicated stream through a Redis consumer group.
 *
 *   const reader = await RedisConsumer.open({ url, stream, group, consumer });
 *   for (;;) {
 *     const records = await reader.read({ max: 100, waitMs: 1000 });
 *     ...                                   // process them
 *     await reader.ack(records);             // XACK
 *   }
 *
 * `open` creates the group if it is missing (from the stream's start, or
 * `from: '$'` for new entries only). `read` gives, in this order: entries
 * this consumer name was given and did not acknowledge (a restart of the
 * same reader), entries another reader of the group has left unacknowledged
 * for `claimIdleMs` (XAUTOCLAIM: it died holding them), then new entries
 * (XREADGROUP `>`), at most `max` in all. Records come back decoded from
 * the entry's `record` field, shaped like a fanlog consumer's
 * DeliveredRecord (plain objects). Delivery is at least once, as Redis
 * groups give it: a reader acknowledges after its own work is durable.
 */
import type { Redis } from 'ioredis';
import type { DeliveredRecord } from '../consumers/consumer.js';
import { FanlogError, invalid } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import { checkRedisUrl, connect } from './connect.js';
import { recordOfEntry } from './entry.js';

export interface RedisConsumerOptions {
  url: string;
  stream: string;
  /** The consumer group. */
  group: string;
  /** This reader's name in the group. */
  consumer: string;
  /** Claim entries another reader left unacknowledged this long (ms); default 30,000. */
  claimIdleMs?: number;
  /** Where a new group starts: '0' (the stream's start, default) or '$' (new entries only). */
  from?: '0' | '$';
}

type Entry = [id: Buffer, fields: Buffer[]];

export class RedisConsumer {
  /** Whether this reader's own unacknowledged entries were read back since it opened. */
  #ownPendingRead = false;

  private constructor(
    private readonly redis: Redis,
    private readonly options: Required<RedisConsumerOptions>,
  ) {}

  static async open(options: RedisConsumerOptions): Promise<RedisConsumer> {
    const opts = checkOptions<RedisConsumerOptions>('options', options, ['url', 'stream', 'group', 'consumer', 'claimIdleMs', 'from']);
    for (const name of ['url', 'stream', 'group', 'consumer'] as const) {
      if (typeof opts[name] !== 'string' || opts[name]!.length === 0) throw invalid(`${name} must be a non-empty string`);
    }
    checkRedisUrl(opts.url);
    const checked: Required<RedisConsumerOptions> = {
      url: opts.url!,
      stream: opts.stream!,
      group: opts.group!,
      consumer: opts.consumer!,
      claimIdleMs: checkInteger('claimIdleMs', opts.claimIdleMs ?? 30_000, 1, 2 ** 31 - 1),
      from: opts.from === '$' ? '$' : '0',
    };
    const redis = await connect(checked.url);
    try {
      await redis.xgroup('CREATE', checked.stream, checked.group, checked.from, 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) {
        redis.disconnect();
        throw remote(error, checked.url);
      }
    }
    return new RedisConsumer(redis, checked);
  }

  /** Up to `max` records: this reader's own unacknowledged ones first, then claimed ones, then new ones (waiting up to `waitMs`). */
  async read({ max = 100, waitMs = 0 }: { max?: number; waitMs?: number } = {}): Promise<DeliveredRecord[]> {
    checkInteger('max', max, 1, 100_000);
    checkInteger('waitMs', waitMs, 0, 2 ** 31 - 1);
    const { stream, group, consumer, claimIdleMs, url } = this.options;
    const entries: Entry[] = [];
    try {
      if (!this.#ownPendingRead) {
        const own = (await this.redis.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max, 'STREAMS', stream, '0')) as [Buffer, Entry[]][] | null;
        const pending = own?.[0]?.[1] ?? [];
        entries.push(...pending);
        if (pending.length < max) this.#ownPendingRead = true;
      }
      if (entries.length < max) {
        const [, claimed] = (await this.redis.callBuffer('XAUTOCLAIM', stream, group, consumer, claimIdleMs, '0-0', 'COUNT', max - entries.length)) as [Buffer, Entry[]];
        entries.push(...claimed.filter((entry) => entry !== null && entry[1] !== null));
      }
      if (entries.length < max) {
        const count = max - entries.length;
        const fresh = (
          entries.length === 0 && waitMs > 0
            ? await this.redis.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', waitMs, 'STREAMS', stream, '>')
            : await this.redis.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, '>')
        ) as [Buffer, Entry[]][] | null;
        entries.push(...(fresh?.[0]?.[1] ?? []));
      }
    } catch (error) {
      throw remote(error, url);
    }
    return entries.map(([id, fields]) => recordOfEntry(id.toString(), fields));
  }

  /** Acknowledges records (XACK): the group will not give them to anyone again. */
  async ack(records: readonly { seq: bigint }[]): Promise<number> {
    if (records.length === 0) return 0;
    try {
      return (await this.redis.xack(this.options.stream, this.options.group, ...records.map((record) => `${record.seq}-0`))) as number;
    } catch (error) {
      throw remote(error, this.options.url);
    }
  }

  close(): void {
    this.redis.disconnect();
  }
}

function remote(error: unknown, url: string): FanlogError {
  if (error instanceof FanlogError) return error;
  return new FanlogError('EREMOTE', `redis at ${url}: ${(error as Error).message ?? String(error)}`, { cause: error });
}
