/**
 * One client of the engine's server (server.ts): what it sent and the
 * server has not started yet, its calls in flight, the consumers it
 * attached and its reads of them, and whether it is gone.
 */
import type net from 'node:net';
import type { Consumer } from '../consumers/consumer.js';
import { encodedOf } from '../engine/record/view.js';
import { LINE_BYTES_MAX, LineSplitter } from './protocol.js';

/** What one read's reply holds at most, in encoded record bytes (and one batch of READ_BATCH records past it): a reply's size is bounded, not only its records. */
const REPLY_BYTES_MAX = 1024 * 1024;
const READ_BATCH = 100;
/** A read's wait is made of waits this long at most, each cut short when the client goes away. */
const WAIT_SLICE_MS = 1000;

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

  /**
   * A read for this client: records in batches until `max`, or past
   * REPLY_BYTES_MAX of them, or none after waiting `waitMs`; each batch
   * only while the client still has the consumer attached (a detach stops
   * it) and is there.
   */
  async read(
    consumer: Consumer,
    max: number,
    waitMs: number,
    waitForRecords: (ms: number) => Promise<void>,
  ): Promise<{ records: { seq: bigint; bytes: string }[] }> {
    const deadline = Date.now() + waitMs;
    const out: { seq: bigint; bytes: string }[] = [];
    let bytes = 0;
    const attached = (): boolean => !this.gone && this.attached.get(consumer.name) === consumer;
    while (attached() && out.length < max && bytes < REPLY_BYTES_MAX) {
      const records = await consumer.read({ max: Math.min(READ_BATCH, max - out.length) });
      for (const record of records) {
        const encoded = encodedOf(record);
        bytes += encoded.length;
        out.push({ seq: record.seq, bytes: Buffer.from(encoded).toString('base64') });
      }
      if (records.length > 0) continue;
      if (out.length > 0 || Date.now() >= deadline) break;
      await Promise.race([waitForRecords(Math.min(WAIT_SLICE_MS, deadline - Date.now())), this.closed]);
    }
    return { records: out };
  }
}
