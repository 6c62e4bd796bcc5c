/**
 * One client of the engine's server (server.ts): what it sent and the
 * server has not started yet, its calls in flight, the consumers it
 * attached, and whether it is gone.
 */
import type net from 'node:net';
import { LINE_BYTES_MAX, LineSplitter } from './protocol.js';

/** One connected client. */
export class Session {
  readonly splitter = new LineSplitter(LINE_BYTES_MAX);
  /** Lines read and not yet started (while IN_FLIGHT_MAX calls run). */
  readonly backlog: string[] = [];
  readonly running = new Set<Promise<void>>();
  /** Names this client attached. */
  readonly attached = new Set<string>();
  pid: number | null = null;
  greeted = false;
  gone = false;
  /** Resolves when the socket closed: cuts the server's waits short. */
  readonly closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  markClosed(): void {
    this.gone = true;
    this.#markClosed();
  }

  get holder(): string {
    return `a client of the engine's socket (pid ${this.pid ?? 'unknown'})`;
  }
}
