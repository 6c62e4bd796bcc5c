/**
 * What the commands that work on the engine's consumers and marks
 * (`consumers register | deregister | ack`, `tail --consumer`, `trigger`,
 * `mark`, `changes`) work through, one way whoever holds the engine:
 *
 *   nobody holds it       this process opens it (open-engine.ts), and
 *                         calls the consumers in process
 *   another process does  its socket (serve/): the same calls, with the
 *                         same semantics and errors
 *   the holder serves no socket (or died holding it)
 *                         EBUSY, as before, or with `--wait` the command
 *                         waits until it can do one or the other
 */
import type { ConsumerInfo, ConsumerOptions, DeliveredRecord } from '../consumers/consumer.js';
import type { Changes, ChangesOptions } from '../engine/changes-since.js';
import { FanlogError } from '../errors.js';
import type { Engine } from '../fanlog.js';
import { EngineClient } from '../serve/client.js';
import { LocalConsumer } from '../serve/local-consumer.js';
import { type OpenOptions, openEngine, whileBusy } from './open-engine.js';

/** A consumer read by this command: in process, or through the socket. */
export interface ConsumerReader {
  read(options: { max: number; waitMs?: number }): Promise<DeliveredRecord[]>;
  ack(seq: bigint): Promise<void>;
  close(): Promise<void>;
}

export interface EngineAccess {
  /** Who serves the calls: 'this process', or the holder's pid. */
  readonly via: string;
  register(name: string, options: ConsumerOptions, filter?: { name: string; argument: string }): Promise<ConsumerInfo>;
  deregister(name: string): Promise<void>;
  /** Acknowledges through `seq` ('head': everything durable now): the seq, and the cursor before and after. */
  ack(name: string, seq: bigint | 'head'): Promise<{ seq: bigint; before: bigint; cursor: bigint }>;
  /** The consumer `name` (registered with `register` when it is missing, if given). */
  reader(name: string, register?: ConsumerOptions): Promise<ConsumerReader>;
  mark(label: string): Promise<bigint>;
  changesSince(since: bigint, options: ChangesOptions): Promise<Changes>;
  close(): Promise<void>;
}

/**
 * Runs `use` with the consumers of the engine in `options.dir`, as the
 * header says; the engine, or the connection, is closed after.
 */
export async function withEngineAccess<T>(options: OpenOptions & { holderOnly?: boolean }, use: (access: EngineAccess) => Promise<T>): Promise<T> {
  // holderOnly: through a holder's socket or not at all (ESERVER), never taking the lock.
  const access = options.holderOnly === true ? throughSocket(await EngineClient.connect(options.dir)) : await whileBusy(options, () => attach(options));
  try {
    return await use(access);
  } finally {
    await access.close();
  }
}

async function attach(options: OpenOptions): Promise<EngineAccess> {
  try {
    return inProcess(await openEngine({ ...options, wait: undefined }));
  } catch (busy) {
    if ((busy as { code?: string }).code !== 'EBUSY') throw busy;
    let client: EngineClient;
    try {
      client = await EngineClient.connect(options.dir);
    } catch (error) {
      // Nobody serves it: the holder's EBUSY is what the user needs to hear, told once by whileBusy (the open's own telling is its cause).
      if (error instanceof FanlogError && error.code === 'ESERVER') throw (busy as Error).cause ?? busy;
      throw error;
    }
    return throughSocket(client);
  }
}

function inProcess(engine: Engine): EngineAccess {
  return {
    via: 'this process',
    async register(name, options, filter) {
      const consumer = await engine.consumers.register(name, options);
      if (filter !== undefined) await consumer.attachFilter(filter.name, filter.argument);
      return consumer.info();
    },
    deregister: (name) => engine.consumers.deregister(name),
    async ack(name, seq) {
      const consumer = engine.consumers.get(name);
      const before = consumer.cursor;
      // 'head': everything durable now, as Lustre's `changelog_clear MDT ID 0`.
      const through = seq === 'head' ? engine.journal.durableSeq : seq;
      await consumer.ack(through);
      return { seq: through, before, cursor: consumer.cursor };
    },
    async reader(name, register) {
      const consumer = register === undefined ? engine.consumers.get(name) : await engine.consumers.open(name, register);
      return { read: (options) => consumer.read(options), ack: (seq) => consumer.ack(seq), close: async () => undefined };
    },
    mark: (label) => engine.mark(label),
    changesSince: (since, options) => engine.changesSince(since, options),
    close: () => engine.close(),
  };
}

function throughSocket(client: EngineClient): EngineAccess {
  return {
    via: `the engine's holder, pid ${client.holderPid}`,
    async register(name, options, filter) {
      const info = await client.register(name, options);
      if (filter === undefined) return info;
      await client.attachFilter(name, filter.name, filter.argument);
      return { ...info, filter };
    },
    deregister: (name) => client.deregister(name),
    async ack(name, seq) {
      const before = (await client.list()).find((info) => info.name === name)?.cursor;
      const done = await client.ack(name, seq);
      return { ...done, before: before ?? done.cursor };
    },
    reader: (name, register) => LocalConsumer.attach(client, name, register === undefined ? {} : { register }),
    mark: (label) => client.mark(label),
    changesSince: (since, options) => client.changesSince(since, options),
    close: () => client.close(),
  };
}
