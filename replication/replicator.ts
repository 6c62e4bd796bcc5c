/**
 * Replicator: the changelog, appended to a Redis stream exactly once by
 * fanlog seq (`engine.replicate(options)`).
 *
 * It is an ordinary fanlog consumer (default name `redis:<stream>`), so
 * retention, lag and eviction apply to it as to any other. Its loop:
 *
 *   read a batch (at most `batchRecords`) through the consumer
 *   → append it with the script (script.ts): entries at or below the
 *     stream's last id are skipped (a crashed replicator appended them),
 *     the others added as `<seq>-0`; a stream whose last id is below the
 *     consumer's cursor lost acknowledged records: ELOST, nothing written
 *   → WAIT `waitReplicas` replicas, when asked
 *   → ack the batch's last seq in fanlog (durable)
 *   → trim, when asked
 *
 * A crash anywhere costs a re-read that the script skips: never a loss,
 * never a duplicate. Redis errors (down, restarting, a failed WAIT) are
 * retried with exponential backoff (50 ms to 5 s), the batch kept; they
 * count in `stats().retries`, the last in `lastError`. ELOST and an
 * eviction of the consumer stop the replicator: `done` rejects with them,
 * and `onError` hears them.
 *
 * States: running → stopping (stop()) → stopped; running → failed (ELOST,
 * EEVICTED). `stop()` lets the batch in hand finish (appended and acked,
 * or left for the next start to re-send).
 */
import { Redis } from 'ioredis';
import type { Consumer, DeliveredRecord } from '../consumers/consumer.js';
import type { Consumers } from '../consumers/consumer-registry.js';
import { encodedOf } from '../engine/record/view.js';
import { FanlogError, invalid } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import { entryFields } from './entry.js';
import { checkRedisUrl, connect } from './connect.js';
import { APPEND_SCRIPT } from './script.js';

export interface ReplicateOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** The stream's key. */
  stream: string;
  /** The fanlog consumer's name; default `redis:<stream>`. */
  consumer?: string;
  /** Only records with one of these bits (records without a mask always). */
  mask?: bigint;
  /** A registered filter to attach to the consumer, with its argument. */
  filter?: { name: string; argument: string };
  /** Records per batch (one script call, one ack); default 1000. */
  batchRecords?: number;
  /** Replicas that must have each batch (Redis WAIT) before fanlog acks it; default 0. */
  waitReplicas?: number;
  /** After each batch: trim what every group acknowledged ('acked'), or to a length. */
  trim?: 'acked' | { maxLen: number };
  /** Hears errors: retried ones (the replicator goes on) and final ones (it stops). */
  onError?: (error: FanlogError, final: boolean) => void;
}

export interface ReplicatorStats {
  /** The last seq appended and acknowledged in fanlog. */
  replicatedSeq: bigint;
  /** Records durable in fanlog and not replicated yet. */
  lagRecords: bigint;
  batches: number;
  /** Records appended (skipped re-sends not counted). */
  records: number;
  retries: number;
  lastError: FanlogError | null;
}

/** The options, checked, with their defaults. */
type CheckedOptions = ReplicateOptions & { batchRecords: number; waitReplicas: number };

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 5000;
/** How long a read waits for new records before the loop looks at `stop` again. */
const READ_WAIT_MS = 200;

export class Replicator {
  readonly #redis: Redis;
  readonly #consumer: Consumer;
  readonly #options: CheckedOptions;
  readonly #head: () => bigint;
  readonly #journalId: bigint;
  #stopping = false;
  #sha: string | null = null;
  #stats: ReplicatorStats = { replicatedSeq: 0n, lagRecords: 0n, batches: 0, records: 0, retries: 0, lastError: null };
  /**
   * Every record through this seq is replicated or not for the stream (its
   * mask or filter dropped it): the last batch's seq, or the durable head
   * when a read found nothing more. What `caughtUp` and the lag go by.
   */
  #covered = 0n;
  #wake: () => void = () => undefined;
  #caughtUp: (() => void)[] = [];
  /** Settles when the loop ends: resolves on stop(), rejects on a final error. */
  readonly done: Promise<void>;

  private constructor(redis: Redis, consumer: Consumer, options: CheckedOptions, head: () => bigint, journalId: bigint) {
    this.#redis = redis;
    this.#journalId = journalId;
    this.#consumer = consumer;
    this.#options = options;
    this.#head = head;
    this.#stats.replicatedSeq = consumer.cursor;
    this.#covered = consumer.cursor;
    this.done = this.#run();
    this.done.catch(() => undefined);
  }

  /** @internal `engine.replicate` starts one: checks the options, connects (EREMOTE), opens the consumer. */
  static async start(consumers: Consumers, journal: { durableSeq: bigint; journalId: bigint }, options: ReplicateOptions): Promise<Replicator> {
    const checked = checkReplicateOptions(options);
    const redis = await connect(checked.url);
    try {
      const name = checked.consumer ?? `redis:${checked.stream}`;
      const consumer = await consumers.open(name, checked.mask === undefined ? {} : { mask: checked.mask });
      // What an earlier replicator of this process read and did not ack is sent again (the script skips what it appended).
      await consumer.rewind();
      const filter = consumer.info().filter;
      if (checked.filter !== undefined && (filter?.name !== checked.filter.name || filter.argument !== checked.filter.argument)) {
        if (filter !== null) await consumer.detachFilter();
        await consumer.attachFilter(checked.filter.name, checked.filter.argument);
      }
      return new Replicator(redis, consumer, checked, () => journal.durableSeq, journal.journalId);
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }

  stats(): ReplicatorStats {
    const head = this.#head();
    return { ...this.#stats, lagRecords: head > this.#covered ? head - this.#covered : 0n };
  }

  /** Resolves once everything durable in fanlog when it was called is replicated (rejects if the replicator stops first). */
  caughtUp(): Promise<void> {
    const target = this.#head();
    if (this.#covered >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#covered >= target) resolve();
        else this.#caughtUp.push(check);
      };
      this.#caughtUp.push(check);
      this.done.then(() => reject(new FanlogError('ECLOSED', 'the replicator stopped before it caught up')), reject);
    });
  }

  /** Stops after the batch in hand; resolves once the loop ended and Redis is disconnected. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.done.catch(() => undefined);
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopping) {
        const durable = this.#head();
        const batch = await this.#consumer.read({ max: this.#options.batchRecords, waitMs: READ_WAIT_MS });
        if (batch.length === 0) {
          // Everything durable when the read began was delivered (and acked) before, or dropped by the mask or filter.
          if (durable > this.#covered) this.#covered = durable;
          this.#notifyCaughtUp();
          continue;
        }
        await this.#replicate(batch);
      }
    } finally {
      this.#redis.disconnect();
    }
  }

  /** Appends, waits for replicas, acks: again and again with backoff until it succeeds or must stop. */
  async #replicate(batch: DeliveredRecord[]): Promise<void> {
    const last = batch[batch.length - 1]!.seq;
    for (let backoff = BACKOFF_MIN_MS; ; backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)) {
      try {
        const [appended] = await this.#append(batch);
        if (this.#options.waitReplicas > 0) await this.#waitReplicas();
        await this.#consumer.ack(last);
        this.#stats.replicatedSeq = last;
        if (last > this.#covered) this.#covered = last;
        this.#stats.batches++;
        this.#stats.records += appended;
        if (this.#options.trim !== undefined) await this.#trim().catch((error: unknown) => this.#heard(error, false));
        this.#notifyCaughtUp();
        return;
      } catch (error) {
        const final = isFinal(error);
        this.#heard(error, final);
        if (final) throw this.#stats.lastError;
        this.#stats.retries++;
        if (this.#stopping) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (this.#stopping) return;
      }
    }
  }

  /** One script call: [appended, skipped]. */
  async #append(batch: DeliveredRecord[]): Promise<[number, number]> {
    const args: (string | Buffer)[] = [this.#consumer.cursor.toString(), this.#journalId.toString(), String(batch.length)];
    for (const record of batch) {
      const fields = entryFields(record, encodedOf(record));
      args.push(record.seq.toString(), String(fields.length / 2), ...fields);
    }
    const stream = this.#options.stream;
    try {
      this.#sha ??= (await this.#redis.script('LOAD', APPEND_SCRIPT)) as string;
      return (await this.#redis.evalsha(this.#sha, 2, stream, `${stream}:fanlog`, ...args)) as [number, number];
    } catch (error) {
      const message = (error as Error).message ?? '';
      // A restarted server forgot the script: load it again on the next try.
      if (message.startsWith('NOSCRIPT')) this.#sha = null;
      const other = /EJOURNALID (\S+)/.exec(message);
      if (other !== null) {
        throw new FanlogError('EJOURNALID', `stream '${stream}' is a replica of ${other[1] === 'none' ? 'no fanlog journal (it has entries, and no ' + stream + ':fanlog)' : `journal ${other[1]}`}, not of this journal ${this.#journalId}: nothing was appended; replicate into another stream`);
      }
      const lost = /ELOST (\d+) (\d+)/.exec(message);
      if (lost !== null) {
        const fromSeq = BigInt(lost[1]!) + 1n;
        const toSeq = BigInt(lost[2]!);
        throw new FanlogError('ELOST', `stream '${stream}' ends at ${lost[1]}, but fanlog acknowledged records through ${toSeq} into it: records ${fromSeq}..${toSeq} are gone from the stream (deleted, reset or restored from an older copy); nothing was appended`, { lost: { fromSeq, toSeq } });
      }
      throw error;
    }
  }

  async #waitReplicas(): Promise<void> {
    const acked = (await this.#redis.wait(this.#options.waitReplicas, 5000)) as number;
    if (acked < this.#options.waitReplicas) throw new FanlogError('EREMOTE', `only ${acked} of ${this.#options.waitReplicas} replicas have the batch after 5 s`);
  }

  /** Trims below what every group acknowledged (never an entry some group has not), or to a length. */
  async #trim(): Promise<void> {
    const { stream, trim } = this.#options;
    if (trim === undefined) return;
    if (trim !== 'acked') {
      await this.#redis.xtrim(stream, 'MAXLEN', trim.maxLen);
      return;
    }
    const minId = await lowestUnacknowledged(this.#redis, stream);
    if (minId !== null) await this.#redis.xtrim(stream, 'MINID', minId);
  }

  #notifyCaughtUp(): void {
    const waiting = this.#caughtUp.splice(0);
    for (const check of waiting) check();
  }

  #heard(error: unknown, final: boolean): void {
    const failure = error instanceof FanlogError ? error : new FanlogError('EREMOTE', `redis: ${(error as Error).message ?? String(error)}`, { cause: error });
    this.#stats.lastError = failure;
    this.#options.onError?.(failure, final);
  }
}

/** ELOST and an eviction stop the replicator; anything else (Redis down, a failed WAIT) is retried. */
function isFinal(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ELOST' || code === 'EJOURNALID' || code === 'EEVICTED' || code === 'EREPLACED' || code === 'ECLOSED' || code === 'EFAILED';
}

/**
 * The lowest ID some group has not acknowledged: for each group, its oldest
 * pending entry, else the entry after the last it was delivered; null when
 * the stream has no group (then nothing is known acknowledged).
 */
export async function lowestUnacknowledged(redis: Redis, stream: string): Promise<string | null> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  if (groups.length === 0) return null;
  let lowest: [bigint, bigint] | null = null;
  for (const group of groups) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < group.length; i += 2) info.set(String(group[i]), group[i + 1]);
    let id: string;
    if (Number(info.get('pending')) > 0) {
      const summary = (await redis.xpending(stream, String(info.get('name')))) as [number, string, string, unknown];
      id = summary[1];
    } else {
      const [ms, seq] = String(info.get('last-delivered-id')).split('-').map(BigInt) as [bigint, bigint];
      id = `${ms}-${seq + 1n}`;
    }
    const [ms, seq] = id.split('-').map(BigInt) as [bigint, bigint];
    if (lowest === null || ms < lowest[0] || (ms === lowest[0] && seq < lowest[1])) lowest = [ms, seq];
  }
  return `${lowest![0]}-${lowest![1]}`;
}

function checkReplicateOptions(options: ReplicateOptions): CheckedOptions {
  const opts = checkOptions<ReplicateOptions>('options', options, ['url', 'stream', 'consumer', 'mask', 'filter', 'batchRecords', 'waitReplicas', 'trim', 'onError']);
  const url = checkRedisUrl(opts.url);
  if (typeof opts.stream !== 'string' || opts.stream.length === 0 || opts.stream.length > 512) throw invalid('stream must be a name of 1 to 512 characters');
  if (opts.trim !== undefined && opts.trim !== 'acked') {
    if (typeof opts.trim !== 'object' || opts.trim === null) throw invalid("trim must be 'acked' or { maxLen }");
    checkInteger('trim.maxLen', opts.trim.maxLen, 1, Number.MAX_SAFE_INTEGER);
  }
  if (opts.onError !== undefined && typeof opts.onError !== 'function') throw invalid('onError must be a function');
  return {
    ...opts,
    url,
    stream: opts.stream!,
    batchRecords: checkInteger('batchRecords', opts.batchRecords ?? 1000, 1, 100_000),
    waitReplicas: checkInteger('waitReplicas', opts.waitReplicas ?? 0, 0, 1000),
  };
}
