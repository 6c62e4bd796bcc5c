/**
 * EngineServer: the engine's holder serves it to other processes of its
 * user on a Unix socket (protocol.ts says where, and what goes over it),
 * so that they can consume, acknowledge and register while the application
 * holds the lock.
 *
 * What a client can do, each with the errors of the call in process:
 *
 *   consumers.register { name, options }   consumers.deregister { name }
 *   consumers.list                         metrics
 *   mark { label }                         changesSince { since, options }
 *   consumer.attach { name, register? }    consumer.detach { name }
 *   consumer.read { name, max, waitMs }    consumer.ack { name, seq | head }
 *   consumer.rewind { name }               consumer.info { name }
 *   consumer.attachFilter { name, filter, argument }
 *   consumer.detachFilter { name }
 *
 * At least once across a client's death. A client reads a consumer only
 * once it attached it. Attaching holds the name (the application's
 * `consumers.open` and `deregister` of it are EBUSY, as beside a
 * replicator, naming the client's pid) and rewinds the read position to
 * the cursor, so the client is given every record not acknowledged. When
 * the client detaches or goes away, its calls are let finish, the
 * consumer is rewound again (what it read and did not acknowledge is
 * delivered again to the next reader, as after a restart), and the name
 * is let go. An acknowledgement is answered only once it is durable.
 *
 * Bounds, so that a slow or dead client can neither block the engine nor
 * grow its memory without limit:
 *   - CLIENTS_MAX clients; the next is told EBUSY and closed;
 *   - request lines of at most LINE_BYTES_MAX; a longer one drops the client;
 *   - IN_FLIGHT_MAX calls of one client at a time: the server stops
 *     reading its socket until one finishes;
 *   - replies it has not read: past PAUSE_BYTES the server stops reading
 *     its requests, past DROP_BYTES it is dropped;
 *   - a read waits READ_WAIT_MS_MAX at most, and gives READ_RECORDS_MAX
 *     records at most (the client asks again).
 * The server's own waits are cut short when the client goes away, so a
 * dead client lets its consumer go at once.
 */
import { chmodSync, lstatSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Consumer, ConsumerOptions } from '../consumers/consumer.js';
import type { Consumers } from '../consumers/consumer-registry.js';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import type { EngineMetrics } from '../metrics.js';
import type { Changes, ChangesOptions } from '../engine/changes-since.js';
import { checkBoolean, checkInteger, checkName } from '../validate.js';
import { Session } from './session.js';
import {
  decodeMessage,
  encodeMessage,
  errorOnWire,
  PROTOCOL_VERSION,
  type Reply,
  type Request,
  RUN_DIR_NAME,
  SOCKET_PATH_BYTES_MAX,
  socketPath,
} from './protocol.js';

/** The bounds the header names (a test may start a server with smaller ones). */
export interface ServerLimits {
  clientsMax: number;
  inFlightMax: number;
  pauseBytes: number;
  dropBytes: number;
}

export const CLIENTS_MAX = 64;
export const IN_FLIGHT_MAX = 16;
export const PAUSE_BYTES = 1024 * 1024;
export const DROP_BYTES = 4 * 1024 * 1024;
const LIMITS: ServerLimits = { clientsMax: CLIENTS_MAX, inFlightMax: IN_FLIGHT_MAX, pauseBytes: PAUSE_BYTES, dropBytes: DROP_BYTES };
export const READ_WAIT_MS_MAX = 30_000;
export const READ_RECORDS_MAX = 10_000;
/** How long a new client has to say hello. */
const HELLO_MS = 5000;

/** What the server needs of the engine (fanlog.ts composes it with the Engine). */
export interface ServedEngine {
  readonly dir: string;
  readonly consumers: Consumers;
  readonly journal: { readonly durableSeq: bigint };
  metrics(): Promise<EngineMetrics>;
  mark(label: string): Promise<bigint>;
  changesSince(since: bigint, options?: ChangesOptions): Promise<Changes>;
  checkUsable(): void;
}

type Handler = (session: Session, args: Record<string, unknown>) => Promise<unknown>;

export class EngineServer {
  readonly path: string;
  readonly #engine: ServedEngine;
  readonly #server: net.Server;
  readonly #sessions = new Set<Session>();
  /** Each client's release (its calls finished, its consumers rewound and let go), until done. */
  readonly #releases = new Set<Promise<void>>();
  readonly #ops: Record<string, Handler>;
  readonly #limits: ServerLimits;
  #closing = false;
  #connections = 0;

  private constructor(engine: ServedEngine, file: string, limits: ServerLimits) {
    this.#engine = engine;
    this.path = file;
    this.#limits = limits;
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#ops = this.#handlers();
  }

  /**
   * Serves `engine` on its socket (protocol.ts): resolves once it listens,
   * the socket 0600 in a 0700 directory. ENAMETOOLONG when the socket's
   * path is over Linux's limit (open the engine with `serve: false`, or
   * from a shorter path).
   */
  static async start(engine: ServedEngine, limits: ServerLimits = LIMITS): Promise<EngineServer> {
    const file = socketPath(engine.dir);
    const bytes = Buffer.byteLength(file);
    if (bytes > SOCKET_PATH_BYTES_MAX) {
      throw new FanlogError(
        'ENAMETOOLONG',
        `the engine's socket ${file} is ${bytes} bytes, over the ${SOCKET_PATH_BYTES_MAX} a Unix socket's path may have: open the engine with serve: false, or from a shorter path`,
        { file },
      );
    }
    const runDir = path.join(engine.dir, RUN_DIR_NAME);
    try {
      mkdirSync(runDir, { mode: 0o700 });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw fromIoError(error, runDir);
    }
    try {
      // A run directory made before (or by someone else) is made private again, and must be a directory.
      if (!lstatSync(runDir).isDirectory()) throw new FanlogError('ENOTDIR', `${runDir} is not a directory`, { file: runDir });
      chmodSync(runDir, 0o700);
      // The lock is ours, so a socket there is a dead holder's.
      rmSync(file, { force: true });
    } catch (error) {
      throw fromIoError(error, runDir);
    }
    const server = new EngineServer(engine, file, limits);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', (error) => reject(fromIoError(error, file)));
      server.#server.listen(file, () => resolve());
    });
    chmodSync(file, 0o600);
    // The server must not keep the application alive: the engine's close ends it.
    server.#server.unref();
    return server;
  }

  /** @internal What the server holds for its clients now: their number, and the most one has of each kind. */
  stats(): { clients: number; backlogLines: number; inFlight: number; unreadBytes: number; paused: number } {
    const most = (of: (session: Session) => number): number => Math.max(0, ...[...this.#sessions].map(of));
    return {
      clients: this.#sessions.size,
      backlogLines: most((session) => session.backlog.length),
      inFlight: most((session) => session.running.size),
      unreadBytes: most((session) => session.socket.writableLength),
      paused: [...this.#sessions].filter((session) => session.socket.isPaused()).length,
    };
  }

  /** Stops serving: no new clients, every client closed (its consumers rewound and let go), the socket and its directory removed. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) session.socket.destroy();
    await stopped;
    while (this.#releases.size > 0) await Promise.allSettled([...this.#releases]);
    rmSync(this.path, { force: true });
    // The directory goes too, unless something else was put there: a closed engine leaves no trace of its serving.
    try {
      rmdirSync(path.dirname(this.path));
    } catch {
      // not empty, or gone: left as it is
    }
  }

  #accept(socket: net.Socket): void {
    if (this.#closing || this.#sessions.size >= this.#limits.clientsMax) {
      const why = this.#closing ? 'the engine is closing' : `the engine serves ${this.#limits.clientsMax} clients already`;
      // Closed once the answer is written, whatever the client does then.
      socket.on('error', () => undefined);
      socket.end(encodeMessage({ id: null, ok: false, error: { code: 'EBUSY', message: `EBUSY: ${why}` } } satisfies Reply), () => socket.destroy());
      return;
    }
    const session = new Session(socket, ++this.#connections);
    this.#sessions.add(session);
    // A client says hello at once, or its place is given back: idle connections cannot take every place.
    const helloTimer = setTimeout(() => {
      if (session.holder === null) this.#drop(session, invalid(`no hello within ${HELLO_MS} ms`));
    }, HELLO_MS);
    helloTimer.unref();
    void session.closed.then(() => clearTimeout(helloTimer));
    socket.on('data', (chunk: Buffer) => this.#received(session, chunk));
    socket.on('drain', () => this.#pump(session));
    socket.on('error', () => undefined); // 'close' follows, and does the work
    socket.on('close', () => {
      session.markClosed();
      this.#sessions.delete(session);
      const release = this.#release(session).finally(() => this.#releases.delete(release));
      this.#releases.add(release);
    });
  }

  #received(session: Session, chunk: Buffer): void {
    let lines: string[];
    try {
      lines = session.splitter.push(chunk);
    } catch (error) {
      return this.#drop(session, error);
    }
    session.backlog.push(...lines);
    this.#pump(session);
  }

  /** Starts what the client sent while it may have calls in flight, and reads its socket only while it may send more. */
  #pump(session: Session): void {
    const { socket } = session;
    const { inFlightMax, pauseBytes } = this.#limits;
    while (session.backlog.length > 0 && session.running.size < inFlightMax && socket.writableLength <= pauseBytes && !session.gone) {
      const line = session.backlog.shift()!;
      let request: Request;
      try {
        request = checkRequest(decodeMessage(line));
      } catch (error) {
        // Not JSON, nested past what the parser can take (a RangeError), or not a request: the client is told so, and dropped.
        return this.#drop(session, error instanceof FanlogError ? error : invalid(`a message that is not JSON: ${(error as Error).message}`));
      }
      const call = this.#call(session, request).finally(() => {
        session.running.delete(call);
        this.#pump(session);
      });
      session.running.add(call);
    }
    const full = session.backlog.length > 0 || session.running.size >= inFlightMax || socket.writableLength > pauseBytes;
    if (full) socket.pause();
    else socket.resume();
  }

  async #call(session: Session, { id, op, args }: Request): Promise<void> {
    let reply: Reply;
    try {
      if (session.holder === null && op !== 'hello') throw invalid(`'${op}' before 'hello': a client says hello first`);
      const handler = Object.hasOwn(this.#ops, op) ? this.#ops[op]! : null;
      if (handler === null) throw invalid(`unknown operation '${op}' (${Object.keys(this.#ops).join(', ')})`);
      if (op !== 'hello') this.#engine.checkUsable();
      reply = { id, ok: true, value: (await handler(session, args)) ?? null };
    } catch (error) {
      reply = { id, ok: false, error: errorOnWire(error) };
    }
    this.#send(session, reply);
  }

  #send(session: Session, reply: Reply): void {
    const { socket } = session;
    if (session.gone || socket.destroyed) return;
    // A client that reads none of its replies is dropped before it holds more than DROP_BYTES of them.
    if (socket.writableLength > this.#limits.dropBytes) return void socket.destroy();
    socket.write(encodeMessage(reply));
  }

  /** Answers a message the server cannot read, then closes the client: after a bad line the stream cannot be trusted. */
  #drop(session: Session, error: unknown): void {
    session.backlog.length = 0;
    const { socket } = session;
    if (!session.gone) socket.end(encodeMessage({ id: null, ok: false, error: errorOnWire(error) } satisfies Reply), () => socket.destroy());
    session.gone = true;
  }

  /** After a client went away: its calls finish, then each consumer it attached is rewound and let go. */
  async #release(session: Session): Promise<void> {
    while (session.running.size > 0) await Promise.allSettled([...session.running]);
    for (const name of [...session.attached.keys()]) await this.#detach(session, name);
  }

  /**
   * Lets `name` go: no read of the client's starts on it after this, the
   * reads in flight end (their waits within WAIT_SLICE_MS), the consumer it
   * attached is rewound (what it was given and did not acknowledge goes to
   * the next reader), and the name is free.
   */
  async #detach(session: Session, name: string): Promise<void> {
    const consumer = session.attached.get(name);
    session.attached.delete(name);
    while ((session.reading.get(name)?.size ?? 0) > 0) await Promise.allSettled([...session.reading.get(name)!]);
    session.reading.delete(name);
    const { consumers } = this.#engine;
    // (A consumer evicted, replaced or deregistered meanwhile, or an engine closed, has nothing to rewind.)
    await Promise.resolve()
      .then(() => consumer?.rewind())
      .catch(() => undefined);
    if (consumers.held.get(name) === session.holder) consumers.held.delete(name);
  }

  /** The consumer `name` this client attached (the object it attached): EINVAL when it did not. */
  #attachedConsumer(session: Session, args: Record<string, unknown>): Consumer {
    const name = checkName('consumer', args.name);
    const consumer = session.attached.get(name);
    if (consumer === undefined) throw invalid(`consumer '${name}' is not attached by this client: attach it first (LocalConsumer.open)`);
    return consumer;
  }

  #handlers(): Record<string, Handler> {
    const engine = this.#engine;
    const { consumers } = engine;
    const named = (args: Record<string, unknown>): string => checkName('consumer', args.name);
    return {
      hello: async (session, args) => {
        if (session.holder !== null) throw invalid('hello again: a client says hello once');
        if (args.version !== PROTOCOL_VERSION) throw invalid(`protocol version ${String(args.version)}, the engine speaks ${PROTOCOL_VERSION}`);
        session.greet(checkInteger('pid', args.pid, 1, 2 ** 31 - 1));
        return { version: PROTOCOL_VERSION, pid: process.pid, dir: engine.dir };
      },
      metrics: async () => engine.metrics(),
      // The arguments go to the calls as they came: their checks, and their errors, are the ones in process.
      mark: async (_session, args) => engine.mark(args.label as string),
      changesSince: async (_session, args) => engine.changesSince(args.since as bigint, args.options as ChangesOptions | undefined),
      'consumers.list': async () => consumers.list(),
      'consumers.register': async (_session, args) => (await consumers.register(named(args), args.options as ConsumerOptions | undefined)).info(),
      'consumers.deregister': async (_session, args) => {
        await consumers.deregister(named(args));
      },
      'consumer.attach': async (session, args) => {
        const name = named(args);
        if (session.attached.has(name)) throw new FanlogError('EBUSY', `consumer '${name}' is attached by this client already`);
        const holder = consumers.held.get(name);
        if (holder !== undefined) throw new FanlogError('EBUSY', `consumer '${name}' is read by ${holder}: stop or close it first, or use another name`);
        const consumer = args.register === undefined ? consumers.get(name) : await consumers.open(name, args.register as ConsumerOptions);
        // Checked again: the open above waited its turn, and another client may have attached meanwhile.
        const now = consumers.held.get(name);
        if (now !== undefined) throw new FanlogError('EBUSY', `consumer '${name}' is read by ${now}: stop or close it first, or use another name`);
        if (session.gone) throw new FanlogError('ECLOSED', 'the client went away');
        consumers.held.set(name, session.holder!);
        session.attached.set(name, consumer);
        await consumer.rewind();
        return consumer.info();
      },
      'consumer.detach': async (session, args) => {
        this.#attachedConsumer(session, args);
        await this.#detach(session, named(args));
      },
      'consumer.info': async (_session, args) => consumers.get(named(args)).info(),
      'consumer.read': async (session, args) => {
        const consumer = this.#attachedConsumer(session, args);
        const max = checkInteger('max', args.max ?? 1000, 1, READ_RECORDS_MAX);
        const waitMs = checkInteger('waitMs', args.waitMs ?? 0, 0, READ_WAIT_MS_MAX);
        const name = consumer.name;
        const read = session.read(consumer, max, waitMs, (ms) => this.#engine.consumers.waitForRecords(ms));
        const reading = session.reading.get(name) ?? new Set<Promise<unknown>>();
        session.reading.set(name, reading);
        reading.add(read);
        try {
          return await read;
        } finally {
          reading.delete(read);
        }
      },
      'consumer.ack': async (_session, args) => {
        const consumer = consumers.get(named(args));
        const head = args.head === undefined ? false : checkBoolean('head', args.head);
        if (head === (args.seq !== undefined)) throw invalid('consumer.ack takes a seq, or head: true (not both)');
        // head: everything durable now, as Lustre's `changelog_clear MDT ID 0`.
        const seq = head ? engine.journal.durableSeq : (args.seq as bigint);
        await consumer.ack(seq);
        return { seq, cursor: consumer.cursor };
      },
      'consumer.rewind': async (session, args) => this.#attachedConsumer(session, args).rewind(),
      // The arguments go to the call as they came: its checks, and its errors, are the ones in process.
      'consumer.attachFilter': async (_session, args) => consumers.get(named(args)).attachFilter(args.filter as string, args.argument as string),
      'consumer.detachFilter': async (_session, args) => consumers.get(named(args)).detachFilter(),
    };
  }
}

/** A decoded message as a request: EINVAL when it is not one. */
function checkRequest(message: unknown): Request {
  const { id, op, args } = (message ?? {}) as Partial<Request>;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw invalid('a request without an integer id');
  if (typeof op !== 'string') throw invalid(`request ${id} names no operation`);
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) throw invalid(`request ${id}: args must be an object`);
  return { id, op, args: args ?? {} };
}
