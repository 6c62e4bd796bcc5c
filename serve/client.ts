/**
 * EngineClient: another process of the engine's user, talking to the
 * process that holds the engine through its socket (protocol.ts, server.ts).
 *
 *   const client = await EngineClient.connect('/var/lib/hsm/fanlog');
 *   await client.register('backup', { from: 'next' });
 *   console.log(await client.list());
 *   await client.close();
 *
 * Each call resolves when the holder answered, with the value, or rejects
 * with the error, that the call in process gives. Connecting is ESERVER
 * where nobody serves the directory (no socket: no holder, or a holder
 * opened with `serve: false`; a socket nobody accepts on: its holder
 * died), EPERM when the socket is another user's. A call whose connection
 * is lost before its answer rejects with ESERVER: it may or may not have
 * been done, so what it was to acknowledge is delivered again, never lost.
 * A holder that answers a call (the hello of a connect included) in no
 * more than `timeoutMs` (default 60 s) past the call's own wait, if it has
 * one (a read's `waitMs`), is taken for stopped or hung: the connection is
 * dropped, and that call and every one after reject with ETIMEDOUT, as
 * after a lost connection. Consumers are read with LocalConsumer
 * (local-consumer.ts).
 */
import net from 'node:net';
import type { ConsumerInfo, ConsumerOptions } from '../consumers/consumer.js';
import { FanlogError, reason } from '../errors.js';
import type { EngineMetrics } from '../metrics.js';
import type { Changes, ChangesOptions } from '../engine/changes-since.js';
import { checkHostPath } from '../journal/io.js';
import { checkBigint, checkInteger, checkName, checkOptions } from '../validate.js';
import { decodeMessage, encodeMessage, errorFromWire, LineSplitter, PROTOCOL_VERSION, type Reply, socketPath } from './protocol.js';

/** How long a holder may take to answer a call, past the call's own wait, before it is taken for stopped or hung. */
const TIMEOUT_MS_DEFAULT = 60_000;

export interface ClientOptions {
  /** How long the holder may take to answer a call, past a read's own wait (1 to 3,600,000; default 60,000): then ETIMEDOUT. */
  timeoutMs?: number;
}

/** A connect's options, checked (EINVAL). @internal */
export function checkClientOptions(options: unknown): Required<ClientOptions> {
  const { timeoutMs = TIMEOUT_MS_DEFAULT } = checkOptions<ClientOptions>('options', options, ['timeoutMs']);
  return { timeoutMs: checkInteger('timeoutMs', timeoutMs, 1, 3_600_000) };
}

/** The longest reply line a client reads: a read of READ_RECORDS_MAX records of the longest paths, with room. */
const REPLY_BYTES_MAX = 512 * 1024 * 1024;

export class EngineClient {
  /** The engine directory served. */
  readonly dir: string;
  /** The pid of the process that holds the engine. */
  readonly holderPid: number;
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void; timer: NodeJS.Timeout }>();
  readonly #timeoutMs: number;
  #nextId = 1;
  /** Why the connection is over; null while it is open. */
  #lost: FanlogError | null = null;

  private constructor(dir: string, socket: net.Socket, holderPid: number, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.dir = dir;
    this.#socket = socket;
    this.holderPid = holderPid;
  }

  /** Connects to the holder of the engine in `dir`: see the header for the errors. */
  static async connect(dir: string, options?: ClientOptions): Promise<EngineClient> {
    checkHostPath('dir', dir);
    const { timeoutMs } = checkClientOptions(options);
    const file = socketPath(dir);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const connecting = net.createConnection(file);
      connecting.once('connect', () => resolve(connecting));
      connecting.once('error', (error) => reject(connectError(dir, file, error)));
    });
    const client = new EngineClient(dir, socket, 0, timeoutMs);
    client.#listen();
    try {
      const hello = (await client.request('hello', { version: PROTOCOL_VERSION, pid: process.pid })) as { pid: number };
      (client as { holderPid: number }).holderPid = hello.pid;
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return client;
  }

  #listen(): void {
    const splitter = new LineSplitter(REPLY_BYTES_MAX);
    this.#socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        return this.#lose(new FanlogError('ESERVER', `the engine's server sent a reply over ${REPLY_BYTES_MAX} bytes`, { cause: error }));
      }
      for (const line of lines) this.#answer(line);
    });
    this.#socket.on('error', (error) => this.#lose(new FanlogError('ESERVER', `lost the engine's server at ${this.dir}: ${reason(error)}`, { cause: error })));
    this.#socket.on('close', () =>
      this.#lose(
        new FanlogError(
          'ESERVER',
          `the engine's server at ${this.dir} went away (its holder closed the engine, or died): a call it did not answer may or may not have been done`,
        ),
      ),
    );
  }

  #answer(line: string): void {
    let reply: Reply;
    try {
      reply = decodeMessage(line) as Reply;
    } catch (error) {
      return this.#lose(new FanlogError('ESERVER', `the engine's server sent a line that is not JSON`, { cause: error }));
    }
    if (reply.id === null) {
      // The server's word on the connection itself (too many clients, a line it could not read): every call ends with it.
      return this.#lose(reply.ok ? new FanlogError('ESERVER', "the engine's server closed the connection") : errorFromWire(reply.error));
    }
    const waiting = this.#pending.get(reply.id);
    if (waiting === undefined) return;
    this.#pending.delete(reply.id);
    clearTimeout(waiting.timer);
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(errorFromWire(reply.error));
  }

  #lose(why: FanlogError): void {
    this.#lost ??= why;
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(this.#lost);
    }
    this.#pending.clear();
    this.#socket.destroy();
  }

  /** @internal One call of the protocol (protocol.ts): its value, or its error. */
  request(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#lost !== null) return Promise.reject(this.#lost);
    const id = this.#nextId++;
    const boundMs = this.#timeoutMs + (typeof args.waitMs === 'number' ? args.waitMs : 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#lose(this.#timedOut(op, boundMs)), boundMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.write(encodeMessage({ id, op, args }));
    });
  }

  #timedOut(op: string, boundMs: number): FanlogError {
    const holder = this.holderPid === 0 ? 'holder' : `holder (pid ${this.holderPid})`;
    return new FanlogError(
      'ETIMEDOUT',
      `the engine's ${holder} at ${this.dir} did not answer ${op} within ${boundMs} ms: it is stopped or hung; the connection is dropped, and a call it did not answer may or may not have been done`,
    );
  }

  /** Whether the connection is over (closed, or lost). */
  get closed(): boolean {
    return this.#lost !== null;
  }

  /** As `engine.consumers.register(name, options)`. */
  async register(name: string, options?: ConsumerOptions): Promise<ConsumerInfo> {
    checkName('consumer', name);
    return (await this.request('consumers.register', options === undefined ? { name } : { name, options })) as ConsumerInfo;
  }

  /** As `engine.consumers.deregister(name)`. */
  async deregister(name: string): Promise<void> {
    checkName('consumer', name);
    await this.request('consumers.deregister', { name });
  }

  /** As `engine.consumers.list()`. */
  async list(): Promise<ConsumerInfo[]> {
    return (await this.request('consumers.list')) as ConsumerInfo[];
  }

  /**
   * As `engine.consumers.get(name).ack(seq)`; `'head'` acknowledges
   * everything durable now. Resolves with the seq acknowledged and the
   * cursor, once durable.
   */
  async ack(name: string, seq: bigint | 'head'): Promise<{ seq: bigint; cursor: bigint }> {
    checkName('consumer', name);
    if (seq !== 'head') checkBigint('seq', seq, 0n, 2n ** 64n - 1n);
    return (await this.request('consumer.ack', seq === 'head' ? { name, head: true } : { name, seq })) as { seq: bigint; cursor: bigint };
  }

  /** As `engine.consumers.get(name).attachFilter(filter, argument)`. */
  async attachFilter(name: string, filter: string, argument: string): Promise<void> {
    checkName('consumer', name);
    await this.request('consumer.attachFilter', { name, filter, argument });
  }

  /** As `engine.mark(label)`: the mark's seq, once durable. */
  async mark(label: string): Promise<bigint> {
    return (await this.request('mark', { label })) as bigint;
  }

  /** As `engine.changesSince(since, options)`. */
  async changesSince(since: bigint, options?: ChangesOptions): Promise<Changes> {
    return (await this.request('changesSince', options === undefined ? { since } : { since, options })) as Changes;
  }

  /** As `engine.metrics()`. */
  async metrics(): Promise<EngineMetrics> {
    return (await this.request('metrics')) as EngineMetrics;
  }

  /** Ends the connection; calls not answered yet reject with ESERVER. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#lost !== null) return;
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    this.#lost = new FanlogError('ECLOSED', `the connection to the engine at ${this.dir} was closed`);
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(this.#lost);
    }
    this.#pending.clear();
    this.#socket.end();
    await closed;
  }
}

/** Why a connect failed, typed: see the header. */
function connectError(dir: string, file: string, error: unknown): FanlogError {
  const code = (error as { code?: string }).code;
  if (code === 'EACCES' || code === 'EPERM') return new FanlogError('EPERM', `${file}: the engine's socket is its owner's alone`, { file, cause: error });
  const why =
    code === 'ENOENT'
      ? 'no process holds it, or its holder serves no socket (serve: false)'
      : code === 'ECONNREFUSED'
        ? 'nobody accepts on its socket: its holder died'
        : reason(error);
  return new FanlogError('ESERVER', `nobody serves the engine in ${dir} (${file}): ${why}`, { file, cause: error });
}

/** Options of `LocalConsumer.open` checked; exported for it. @internal */
export function checkOpenOptions(options: unknown): { register?: ConsumerOptions; timeoutMs?: number } {
  const checked = checkOptions<{ register: ConsumerOptions; timeoutMs: number }>('options', options, ['register', 'timeoutMs']);
  if (checked.timeoutMs !== undefined) checkClientOptions({ timeoutMs: checked.timeoutMs });
  return checked;
}
