/**
 * Replicator: the changelog, appended to a Redis stream exactly once by
 * fanlog seq (`engine.replicate(options)`), or stopped with a typed error
 * that says why it cannot be (design invariant 9).
 *
 * It is an ordinary fanlog consumer (default name `redis:<stream>`), so
 * retention, lag and eviction apply to it as to any other. Its loop:
 *
 *   read a batch (at most `batchRecords`) through the consumer
 *   → append it with the script (script.ts), which first checks that the
 *     stream holds nothing fanlog did not write and has lost nothing it
 *     acknowledged, then skips what this consumer appended before (a
 *     crashed replicator) and adds the rest as `<seq>-0`
 *   → WAIT `waitReplicas` replicas, when asked
 *   → ack the batch's last seq in fanlog (durable)
 *   → trim, when asked
 *   and when the read finds nothing more: the script's check alone, before
 *   `caughtUp()` resolves and at least every 200 ms while idle, so that a
 *   Redis restored from an older copy, or written by someone else, is
 *   noticed while the engine is idle too.
 *
 * A crash anywhere costs a re-read that the script skips: never a loss,
 * never a duplicate. Every Redis command has a deadline
 * (`commandTimeoutMs`, default 5 s; WAIT gets its own 5 s on top): a
 * frozen server is ETIMEDOUT, not a hang. Redis errors (down, restarting,
 * frozen, refusing the password, a failed WAIT) are retried with
 * exponential backoff (50 ms to 5 s), the batch kept; they count in
 * `stats().retries`, the last in `lastError`, and `stats().stalledMs` says
 * how long the replicator has gone without an answer. The script's
 * refusals (ELOST, EFOREIGN, EJOURNALID, EBUSY) and the consumer's end
 * (EEVICTED, ECLOSED...) stop it: `done` rejects with them, `caughtUp()`
 * too, and `onError` hears them.
 *
 * States: running ⇄ retrying (a Redis error, until the next success);
 * running or retrying → stopping (stop()) → stopped; any → failed (a
 * final error). `stop()` lets the batch in hand finish for up to
 * `commandTimeoutMs`, then drops the connection (what was not acked is
 * re-sent by the next start and skipped), so it resolves within
 * `commandTimeoutMs` plus one local ack.
 *
 * One engine runs at most one replicator per stream and per consumer name
 * (EBUSY): two of them would share one consumer's cursor and skip each
 * other's batches.
 */
import type { Redis } from 'ioredis';
import type { Consumer, DeliveredRecord } from '../consumers/consumer.js';
import type { Consumers } from '../consumers/consumer-registry.js';
import { encodedOf } from '../engine/record/view.js';
import { FanlogError } from '../errors.js';
import type { ReplicatorMetrics } from '../metrics.js';
import { connect, redactUrl, remoteError, timed } from './connect.js';
import { entryFields } from './entry.js';
import { type CheckedOptions, checkReplicateOptions, type ReplicateOptions } from './replicate-options.js';
import { claim } from './claim.js';
import { isFinal, replicatorsView } from './replicator-errors.js';
import { APPEND_SCRIPT, scriptRefusal } from './script.js';
import { trimStream } from './trim.js';

export type { ReplicateOptions } from './replicate-options.js';

export type ReplicatorState = 'running' | 'retrying' | 'stopping' | 'stopped' | 'failed';

export interface ReplicatorStats {
  state: ReplicatorState;
  /** The last seq appended and acknowledged in fanlog. */
  replicatedSeq: bigint;
  /** Records durable in fanlog and not replicated yet. */
  lagRecords: bigint;
  batches: number;
  /** Records appended (skipped re-sends not counted). */
  records: number;
  retries: number;
  /** How long (ms) the replicator has gone without a successful answer from Redis, since the first attempt that failed or timed out; 0 when the last one succeeded. */
  stalledMs: number;
  lastError: FanlogError | null;
}

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 5000;
/** How long the loop waits for new records when idle, and so how old the last check of the stream may be. */
const IDLE_WAIT_MS = 200;
/** WAIT's own timeout: how long replicas may take to confirm a batch. */
const WAIT_REPLICAS_MS = 5000;

export class Replicator {
  /** The Redis URL, its credentials redacted. */
  readonly url: string;
  readonly stream: string;
  /** The fanlog consumer's name. */
  readonly consumer: string;
  /** Settles when the loop ends: resolves on stop(), rejects on a final error. */
  readonly done: Promise<void>;
  readonly #redis: Redis;
  readonly #consumer: Consumer;
  readonly #options: CheckedOptions;
  readonly #head: () => bigint;
  readonly #journalId: bigint;
  readonly #release: () => void;
  #state: ReplicatorState = 'running';
  /** The consumer was registered by this start and has acknowledged nothing yet: its cursor is where it begins, not what it acknowledged into a stream. */
  #fresh: boolean;
  #stopping = false;
  #sha: string | null = null;
  #stats = { replicatedSeq: 0n, batches: 0, records: 0, retries: 0, lastError: null as FanlogError | null };
  /**
   * Every record through this seq is replicated or not for the stream (its
   * mask or filter dropped it): the last batch's seq, or the durable head
   * when a read found nothing more. What `caughtUp` and the lag go by.
   */
  #covered = 0n;
  /** Script calls (each one checks the stream) started, and the last that passed; when it started (ms). */
  #checks = { started: 0, passed: 0, passedAt: 0, wanted: 0 };
  /** When the first attempt of the current run of failures started (ms); null after a success. */
  #stalledSince: number | null = null;
  #wakeSleep: () => void = () => undefined;
  #wakeIdle: () => void = () => undefined;
  #caughtUp: (() => void)[] = [];

  private constructor(
    redis: Redis,
    consumer: Consumer,
    consumers: Consumers,
    options: CheckedOptions,
    journal: { durableSeq: bigint; journalId: bigint },
    release: () => void,
    fresh: boolean,
  ) {
    this.#redis = redis;
    this.#fresh = fresh;
    this.#consumer = consumer;
    this.#options = options;
    this.#head = () => journal.durableSeq;
    this.#journalId = journal.journalId;
    this.#release = release;
    this.url = redactUrl(options.url);
    this.stream = options.stream;
    this.consumer = consumer.name;
    this.#stats.replicatedSeq = consumer.cursor;
    this.#covered = consumer.cursor;
    this.done = this.#run(consumers);
    this.done.catch(() => undefined);
  }

  /** @internal `engine.replicate` starts one: checks the options, claims the stream and the name (EBUSY), connects (EREMOTE, EAUTH, ETIMEDOUT), opens the consumer. */
  static async start(consumers: Consumers, journal: { durableSeq: bigint; journalId: bigint }, options: ReplicateOptions): Promise<Replicator> {
    const checked = checkReplicateOptions(options);
    const name = checked.consumer ?? `redis:${checked.stream}`;
    let release = claim(consumers, checked.url, checked.stream, name);
    try {
      const redis = await connect(checked.url, checked.commandTimeoutMs);
      try {
        const fresh = !consumers.list().some((info) => info.name === name && info.evicted === null);
        const consumer = await consumers.open(name, checked.mask === undefined ? {} : { mask: checked.mask });
        // From now on the application cannot open this consumer beside the replicator (EBUSY): it would move the cursor under it.
        consumers.held.set(name, 'a running replicator of this engine');
        const releaseName = release;
        release = () => {
          consumers.held.delete(name);
          releaseName();
        };
        // What an earlier replicator of this process read and did not ack is sent again (the script skips what it appended).
        await consumer.rewind();
        const filter = consumer.info().filter;
        if (checked.filter !== undefined && (filter?.name !== checked.filter.name || filter.argument !== checked.filter.argument)) {
          if (filter !== null) await consumer.detachFilter();
          await consumer.attachFilter(checked.filter.name, checked.filter.argument);
        }
        return new Replicator(redis, consumer, consumers, checked, journal, release, fresh);
      } catch (error) {
        redis.disconnect();
        throw error;
      }
    } catch (error) {
      release();
      throw error;
    }
  }

  stats(): ReplicatorStats {
    const head = this.#head();
    return {
      state: this.#state,
      ...this.#stats,
      lagRecords: head > this.#covered ? head - this.#covered : 0n,
      stalledMs: this.#stalledSince === null ? 0 : Date.now() - this.#stalledSince,
    };
  }

  /** @internal What engine.metrics() shows of this replicator. */
  metrics(): ReplicatorMetrics {
    const { state, replicatedSeq, lagRecords, stalledMs, retries, lastError } = this.stats();
    return {
      stream: this.stream,
      consumer: this.consumer,
      url: this.url,
      state,
      replicatedSeq,
      lagRecords,
      stalledMs,
      retries,
      lastErrorCode: lastError?.code ?? null,
    };
  }

  /**
   * Resolves once everything durable in fanlog when it was called is
   * replicated, and a check of the stream that started after the call
   * found it whole; rejects if the replicator stops first (with its error).
   */
  caughtUp(): Promise<void> {
    const target = this.#head();
    const need = this.#checks.started + 1;
    this.#checks.wanted = Math.max(this.#checks.wanted, need);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#covered >= target && this.#checks.passed >= need) resolve();
        else this.#caughtUp.push(check);
      };
      this.#caughtUp.push(check);
      this.done.then(() => reject(new FanlogError('ECLOSED', 'the replicator stopped before it caught up')), reject);
      // The loop looks now rather than at its next idle tick.
      this.#wakeIdle();
    });
  }

  /** Stops after the batch in hand (given up to `commandTimeoutMs`); resolves once the loop ended and Redis is disconnected. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#state === 'running' || this.#state === 'retrying') this.#state = 'stopping';
    this.#wakeSleep();
    this.#wakeIdle();
    const ended = await timed(this.done, this.#options.commandTimeoutMs, () => 'stopping').then(
      () => true,
      (error: unknown) => (error as FanlogError).code !== 'ETIMEDOUT',
    );
    // Redis does not answer: what is in flight fails at once, and the next start re-sends what was not acked.
    if (!ended) this.#redis.disconnect();
    await this.done.catch(() => undefined);
  }

  async #run(consumers: Consumers): Promise<void> {
    try {
      while (!this.#stopping) {
        const durable = this.#head();
        const batch = await this.#consumer.read({ max: this.#options.batchRecords });
        if (batch.length > 0) {
          await this.#replicate(batch);
          continue;
        }
        // Everything durable when the read began was delivered (and acked) before, or dropped by the mask or filter.
        if (durable > this.#covered) this.#covered = durable;
        // Nothing to send: look at the stream anyway before saying so (a restored or foreign-written stream).
        const stale = this.#checks.passed < this.#checks.wanted || Date.now() - this.#checks.passedAt >= IDLE_WAIT_MS;
        if (stale && !(await this.#withRetries(() => this.#append([]).then(() => undefined)))) continue;
        this.#notifyCaughtUp();
        if (this.#head() === durable && !this.#stopping && this.#checks.passed >= this.#checks.wanted) await this.#idle(consumers);
      }
      this.#state = 'stopped';
    } catch (error) {
      this.#state = 'failed';
      // A final error the loop met outside #withRetries (the consumer's read: EEVICTED, ECLOSED...) is heard too.
      if (error instanceof FanlogError && error !== this.#stats.lastError) throw this.#heard(replicatorsView(error, this.consumer), true);
      throw error;
    } finally {
      this.#redis.disconnect();
      this.#release();
    }
  }

  /** Appends, waits for replicas, acks: again and again with backoff until it succeeds or must stop. */
  async #replicate(batch: DeliveredRecord[]): Promise<void> {
    const last = batch[batch.length - 1]!.seq;
    const done = await this.#withRetries(async () => {
      const [appended] = await this.#append(batch);
      if (this.#options.waitReplicas > 0) await this.#waitReplicas();
      await this.#consumer.ack(last);
      this.#fresh = false;
      this.#stats.replicatedSeq = last;
      if (last > this.#covered) this.#covered = last;
      this.#stats.batches++;
      this.#stats.records += appended;
    });
    if (!done) return;
    if (this.#options.trim !== undefined) {
      await trimStream(this.#redis, this.#options.stream, this.#options.trim, (command, what) => this.#send(command, what)).catch((error: unknown) =>
        this.#heard(error, false),
      );
    }
    this.#notifyCaughtUp();
  }

  /** `work` until it succeeds (true), or until stop() (false); a final error is thrown. */
  async #withRetries(work: () => Promise<void>): Promise<boolean> {
    for (let backoff = BACKOFF_MIN_MS; ; backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)) {
      const started = Date.now();
      try {
        await work();
        this.#stalledSince = null;
        if (this.#state === 'retrying') this.#state = 'running';
        return true;
      } catch (error) {
        const failure = this.#heard(error, isFinal(error));
        if (isFinal(failure)) throw failure;
        this.#stats.retries++;
        this.#stalledSince ??= started;
        if (this.#state === 'running') this.#state = 'retrying';
        if (this.#stopping) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff);
          this.#wakeSleep = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (this.#stopping) return false;
      }
    }
  }

  /** One script call (the check, then the batch's entries): [appended, skipped]. */
  async #append(batch: DeliveredRecord[]): Promise<[number, number]> {
    const args: (string | Buffer)[] = [
      this.#consumer.cursor.toString(),
      this.#journalId.toString(),
      this.consumer,
      this.#head().toString(),
      this.#fresh ? '1' : '0',
      String(batch.length),
    ];
    for (const record of batch) {
      const fields = entryFields(record, encodedOf(record));
      args.push(record.seq.toString(), String(fields.length / 2), ...fields);
    }
    const stream = this.#options.stream;
    const check = ++this.#checks.started;
    const startedAt = Date.now();
    try {
      this.#sha ??= (await this.#send(this.#redis.script('LOAD', APPEND_SCRIPT), 'SCRIPT LOAD')) as string;
      const reply = (await this.#send(this.#redis.evalsha(this.#sha, 2, stream, `${stream}:fanlog`, ...args), 'EVALSHA')) as [number, number];
      this.#checks.passed = check;
      this.#checks.passedAt = startedAt;
      return reply;
    } catch (error) {
      const message = (error as Error).message ?? '';
      // A restarted server forgot the script: load it again on the next try.
      if (message.startsWith('NOSCRIPT')) this.#sha = null;
      throw scriptRefusal(message, stream, this.#journalId, this.consumer) ?? error;
    }
  }

  async #waitReplicas(): Promise<void> {
    const acked = await this.#send<number>(this.#redis.wait(this.#options.waitReplicas, WAIT_REPLICAS_MS), 'WAIT', WAIT_REPLICAS_MS);
    if (acked < this.#options.waitReplicas)
      throw new FanlogError('EREMOTE', `only ${acked} of ${this.#options.waitReplicas} replicas have the batch after ${WAIT_REPLICAS_MS / 1000} s`);
  }

  /** A command with its deadline: `commandTimeoutMs`, plus what it may block for. */
  #send<T>(command: Promise<T>, what: string, blockMs = 0): Promise<T> {
    return timed(command, this.#options.commandTimeoutMs + blockMs, () => `${what} to Redis at ${this.url}`);
  }

  /** Waits for new durable records, for at most IDLE_WAIT_MS, or until caughtUp() or stop() wakes it. */
  async #idle(consumers: Consumers): Promise<void> {
    await Promise.race([consumers.waitForRecords(IDLE_WAIT_MS), new Promise<void>((resolve) => (this.#wakeIdle = resolve))]);
    this.#wakeIdle = () => undefined;
  }

  #notifyCaughtUp(): void {
    const waiting = this.#caughtUp.splice(0);
    for (const check of waiting) check();
  }

  #heard(error: unknown, final: boolean): FanlogError {
    const failure = remoteError(error, this.#options.url, `Redis at ${this.url}`, this.#redis);
    this.#stats.lastError = failure;
    this.#options.onError?.(failure, final);
    return failure;
  }
}
