/**
 * One client of the engine's server (server.ts): what it sent and the
 * server has not started yet, its calls in flight, the consumers it
 * attached, and whether it is gone.
 */
import type net from 'node:net';
import type { Consumer } from '../consumers/consumer.js';
import { LINE_BYTES_MAX, LineSplitter } from './protocol.js';

/** One connected client. */
export class Session {
  readonly splitter = new LineSplitter(LINE_BYTES_MAX);
  /** Lines read and not yet started (while IN_FLIGHT_MAX calls run). */
  readonly backlog: string[] = [];
  readonly running = new Set<Promise<void>>();
  /** The consumers this client attached, the objects it attached: a consumer registered again in its place is EREPLACED to it, as in process. */
  readonly attached = new Map<string, Consumer>();
  /** The reads in flight of each consumer it attached: a detach lets them end before it rewinds. */
  readonly reading = new Map<string, Set<Promise<unknown>>>();
  pid: number | null = null;
  gone = false;
  /** Who holds what this client attached, as the EBUSY of another says: set once, at hello. */
  holder: string | null = null;
  /** Resolves when the socket closed: cuts the server's waits short. */
  readonly closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  constructor(
    readonly socket: net.Socket,
    /** The server's number for the connection, so that two of one process are told apart. */
    readonly number: number,
  ) {
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  /** Takes the client's hello: once. */
  greet(pid: number): void {
    this.pid = pid;
    this.holder = `a client of the engine's socket (pid ${pid}, connection ${this.number})`;
  }

  markClosed(): void {
    this.gone = true;
    this.#markClosed();
  }
}
