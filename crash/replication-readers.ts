/**
 * The remote readers of a `replication` run (replication-run.ts): each a
 * RedisConsumer of group `g` in a loop of its own, reading and
 * acknowledging as a backup reader would (an ack that fails is tried
 * again: acks are idempotent), and remembering what it acknowledged and
 * what it was told is lost (ELOST) or not fanlog's (EFOREIGN), by entry ID.
 * Redis down or frozen is waited out. Any other error is a finding.
 *
 * The run can make one hold its next batch without acknowledging it,
 * restart it under the same name (its own pending entries are then read
 * again, and those trimmed meanwhile must be told as lost), or kill it for
 * good (another reader must claim what it held: `claimIdleMs` is short).
 * Connections are dropped only between a read and the next, never with an
 * ack in flight: an ack the server applied and whose reply was cut off
 * would be missing from `acked`, and the check would blame the reader.
 */
import type { DeliveredRecord } from '../consumers/consumer.js';
import type { FanlogError } from '../errors.js';
import type { Prng } from '../journal/prng.js';
import { RedisConsumer } from '../replication/redis-consumer.js';

/** How long a reader's pending entries may idle before another reader of the group claims them. */
const CLAIM_IDLE_MS = 100;
const COMMAND_TIMEOUT_MS = 200;
/** Errors a reader waits out: Redis down, restarting, frozen. */
const TRANSIENT = new Set(['EREMOTE', 'ETIMEDOUT']);

export class RemoteReader {
  /** IDs this reader acknowledged (XACK resolved). */
  readonly acked = new Set<string>();
  /** IDs it was told of: lost (trimmed before acknowledged) or foreign, with the code. */
  readonly told = new Map<string, 'ELOST' | 'EFOREIGN'>();
  /** Errors a reader must never see. */
  readonly unexpected: string[] = [];
  #reader: RedisConsumer | null = null;
  #running = true;
  #dead = false;
  /** Set by restart(): done by the loop between two reads. */
  #restart: 'reopen' | 'die' | null = null;
  #dying = false;
  #hold: ((ids: string[]) => void) | null = null;
  readonly #loop: Promise<void>;

  readonly #url: string;
  readonly #stream: string;
  readonly #prng: Prng;
  constructor(
    url: string,
    stream: string,
    readonly name: string,
    prng: Prng,
  ) {
    this.#prng = prng;
    this.#stream = stream;
    this.#url = url;
    this.#loop = this.#run();
  }

  /** Holds the next batch unacknowledged; resolves with its IDs ([] when none came within `ms`). */
  holdNext(ms: number): Promise<string[]> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#hold = null;
        resolve([]);
      }, ms);
      this.#hold = (ids) => {
        clearTimeout(timer);
        resolve(ids);
      };
    });
  }

  /**
   * Drops the connection (and whatever it holds unacknowledged) between two
   * reads, so that no ack is in flight; the loop opens a new one under the
   * same name, unless `forGood`.
   */
  restart(forGood = false): void {
    this.#restart = forGood ? 'die' : 'reopen';
    if (forGood) this.#dying = true;
  }

  get alive(): boolean {
    return !this.#dying;
  }

  /**
   * Stops the loop, then closes the connection: a read or an ack in flight
   * ends first (within its wait and the command timeout), so that an ack
   * the server applied is never missing from `acked`.
   */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    this.#reader?.close();
  }

  async #run(): Promise<void> {
    while (this.#running && !this.#dead) {
      if (this.#restart !== null) {
        this.#dead = this.#restart === 'die';
        this.#restart = null;
        this.#reader?.close();
        this.#reader = null;
        continue;
      }
      const reader = this.#reader ?? (await this.#open());
      if (reader === null) continue;
      let batch: DeliveredRecord[];
      try {
        batch = await reader.read({ max: this.#prng.between(1, 40), waitMs: 20 });
      } catch (error) {
        if (this.#heard(error as FanlogError, reader)) await sleep(20);
        continue;
      }
      if (batch.length === 0) continue;
      const ids = batch.map((record) => `${record.seq}-0`);
      if (this.#hold !== null) {
        const held = this.#hold;
        this.#hold = null;
        held(ids);
        continue;
      }
      await this.#ack(reader, batch, ids);
    }
  }

  async #open(): Promise<RedisConsumer | null> {
    try {
      const reader = await RedisConsumer.open({
        url: this.#url,
        stream: this.#stream,
        group: 'g',
        consumer: this.name,
        claimIdleMs: CLAIM_IDLE_MS,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
      });
      // Stopped (or killed) while it connected: a connection left open would reconnect forever and hold the process.
      if (!this.#running || this.#dead) {
        reader.close();
        return null;
      }
      this.#reader = reader;
      return reader;
    } catch (error) {
      this.#heard(error as FanlogError, null);
      await sleep(20);
      return null;
    }
  }

  /** Acknowledges until it works, or until this connection is dropped (a restart: the batch is pending again). */
  async #ack(reader: RedisConsumer, batch: DeliveredRecord[], ids: string[]): Promise<void> {
    while (this.#running && this.#reader === reader) {
      try {
        await reader.ack(batch);
        for (const id of ids) this.acked.add(id);
        return;
      } catch (error) {
        if (this.#heard(error as FanlogError, reader)) await sleep(20);
      }
    }
  }

  /** Records what an error tells; whether to wait a moment before the next try (Redis is down, frozen or gone). */
  #heard(error: FanlogError, reader: RedisConsumer | null): boolean {
    if (error.code === 'ELOST' || error.code === 'EFOREIGN') {
      for (const id of error.ids ?? []) this.told.set(id, error.code);
      return false;
    }
    // A connection dropped on purpose (restart, stop) fails what it had in flight.
    if ((reader !== null && reader !== this.#reader) || !this.#running || TRANSIENT.has(error.code)) return true;
    this.unexpected.push(`${this.name}: ${error.code ?? ''} ${error.message}`);
    return true;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
