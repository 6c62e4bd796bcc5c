/**
 * LocalConsumer: a durable consumer read from another process of the
 * engine's user, through the holder's socket (server.ts), beside
 * RedisConsumer for a replicated stream.
 *
 *   const reader = await LocalConsumer.open('/var/lib/hsm/fanlog', 'backup', { register: { from: 'next' } });
 *   for (;;) {
 *     const records = await reader.read({ max: 100, waitMs: 1000 });
 *     ...                                              // process them
 *     if (records.length > 0) await reader.ack(records.at(-1)!.seq);
 *   }
 *
 * The semantics are the consumer's in process: at least once, records in
 * seq order, an ack durable when it resolves, EEVICTED with `error.lost`.
 * While it is open the consumer is this reader's: the application's
 * `consumers.open` and `deregister` of the name are EBUSY, and a second
 * LocalConsumer of it is EBUSY. Opening rewinds the consumer to its
 * cursor; closing it, or losing the connection (this process died, or the
 * holder did), rewinds it again, so what was read and not acknowledged is
 * delivered again. A lost connection is ESERVER on every call after: open
 * again (the engine's next holder, or the same one).
 *
 * Records arrive decoded from their journal bytes: plain objects with
 * every field a delivered record has (`DeliveredRecord`), as RedisConsumer
 * gives them.
 */
import type { ConsumerInfo, ConsumerOptions, DeliveredRecord } from '../consumers/consumer.js';
import { decodeDelivered } from '../consumers/delivered.js';
import { FanlogError } from '../errors.js';
import { checkInteger, checkName, checkOptions } from '../validate.js';
import { checkOpenOptions, EngineClient } from './client.js';
import { READ_RECORDS_MAX, READ_WAIT_MS_MAX } from './server.js';

export class LocalConsumer {
  readonly name: string;
  readonly #client: EngineClient;
  /** Whether closing this reader closes the connection too (it made it). */
  readonly #ownsClient: boolean;
  #closed = false;

  private constructor(client: EngineClient, name: string, ownsClient: boolean) {
    this.#client = client;
    this.name = name;
    this.#ownsClient = ownsClient;
  }

  /**
   * Attaches consumer `name` of the engine in `dir`, through its holder.
   * ENOENT when there is none, unless `register` is given: then it is
   * registered with those options if missing (as `consumers.open` does,
   * EEXIST when the one registered has other options). The errors of
   * EngineClient.connect when nobody serves the engine; `timeoutMs` is its
   * bound on the holder's answers (ETIMEDOUT past it).
   */
  static async open(dir: string, name: string, options?: { register?: ConsumerOptions; timeoutMs?: number }): Promise<LocalConsumer> {
    checkName('consumer', name);
    const { timeoutMs } = checkOpenOptions(options);
    const client = await EngineClient.connect(dir, timeoutMs === undefined ? {} : { timeoutMs });
    try {
      return await LocalConsumer.#attach(client, name, options, true);
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  /** @internal As `open`, on a connection the caller has (and closes). */
  static async attach(client: EngineClient, name: string, options?: { register?: ConsumerOptions }): Promise<LocalConsumer> {
    checkName('consumer', name);
    return LocalConsumer.#attach(client, name, options, false);
  }

  static async #attach(client: EngineClient, name: string, options: { register?: ConsumerOptions } | undefined, owns: boolean): Promise<LocalConsumer> {
    const { register } = checkOpenOptions(options);
    await client.request('consumer.attach', register === undefined ? { name } : { name, register });
    return new LocalConsumer(client, name, owns);
  }

  /** The pid of the process that holds the engine. */
  get holderPid(): number {
    return this.#client.holderPid;
  }

  /**
   * Up to `max` durable records after the read position, in seq order;
   * with none, waits up to `waitMs` and resolves as soon as some are
   * durable (as `Consumer.read`).
   */
  async read(options?: { max?: number; waitMs?: number }): Promise<DeliveredRecord[]> {
    const { max = 1000, waitMs = 0 } = checkOptions<{ max: number; waitMs: number }>('options', options, ['max', 'waitMs']);
    checkInteger('max', max, 1, 1_000_000);
    checkInteger('waitMs', waitMs, 0, 3_600_000);
    if (this.#closed) throw new FanlogError('ECLOSED', `the reader of consumer '${this.name}' was closed`);
    // The server gives READ_RECORDS_MAX and waits READ_WAIT_MS_MAX at most: a longer wait is asked for in turns.
    const deadline = Date.now() + waitMs;
    for (;;) {
      const wait = Math.min(READ_WAIT_MS_MAX, Math.max(0, deadline - Date.now()));
      const { records } = (await this.#client.request('consumer.read', { name: this.name, max: Math.min(max, READ_RECORDS_MAX), waitMs: wait })) as {
        records: { seq: bigint; bytes: string }[];
      };
      // A read that waits while its reader closes ends with nothing: the server stopped it.
      if (records.length > 0 || Date.now() >= deadline || this.#closed)
        return records.map(({ seq, bytes }) => decodeDelivered(seq, new Uint8Array(Buffer.from(bytes, 'base64'))));
    }
  }

  /** Moves the cursor forward to `seq`, durable when it resolves (as `Consumer.ack`). */
  async ack(seq: bigint): Promise<void> {
    await this.#client.ack(this.name, seq);
  }

  /** Moves the read position back to the cursor: the next read delivers again what was not acknowledged. */
  async rewind(): Promise<void> {
    await this.#client.request('consumer.rewind', { name: this.name });
  }

  /** The consumer's state now, as the holder has it. */
  async info(): Promise<ConsumerInfo> {
    return (await this.#client.request('consumer.info', { name: this.name })) as ConsumerInfo;
  }

  /** Lets the consumer go (rewound) and closes the connection (one it made). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed || this.#client.closed) return;
    this.#closed = true;
    await this.#client.request('consumer.detach', { name: this.name }).catch(() => undefined);
    if (this.#ownsClient) await this.#client.close();
  }
}
