/**
 * The holder's socket: where it is, and what goes over it.
 *
 * Where. `<dir>/run/fanlog.sock`, a Unix stream socket. `run/` is made mode
 * 0700 and the socket is chmodded 0600 before the server accepts anyone,
 * so only the engine's owner (and root) can connect: another user's
 * connect fails with EACCES at the directory, whatever the socket's own
 * mode was between bind and chmod. Only the process that holds the
 * engine's lock serves, so a socket found at open is a dead holder's and
 * is unlinked before the bind.
 *
 * What. Newline-delimited JSON, one message per line, UTF-8:
 *
 *   client -> server   { "id": 7, "op": "consumer.read", "args": { ... } }
 *   server -> client   { "id": 7, "ok": true, "value": ... }
 *                      { "id": 7, "ok": false, "error": { "code": "EEVICTED", "message": "...", "lost": ... } }
 *
 * Ids are the client's (integers), and replies may come in any order.
 * Bigints travel as `{ "$bigint": "123" }`, both ways, so that seqs and
 * masks arrive exact. A record travels as `{ seq, bytes }`: its encoded
 * bytes in base64, which the client decodes with the record codec, so a
 * record read through the socket is the record read in process, every
 * field. An error keeps its code and its details (file, offset, lost,
 * key, seq). A message the server cannot read (not JSON, no id, a line
 * over LINE_BYTES_MAX) is answered with id null and the client is
 * dropped: after a bad line the stream cannot be trusted to resync.
 *
 * The first request of a client is `hello` with its protocol version and
 * pid; the server answers with its own, and a client of another version
 * is refused (EINVAL) before it can misread anything.
 */
import path from 'node:path';
import { FanlogError, type FanlogErrorCode } from '../errors.js';

export const PROTOCOL_VERSION = 1;

/** The longest request line the server reads (bytes, without the newline); a longer one drops the client. */
export const LINE_BYTES_MAX = 64 * 1024;

/** The directory the socket is made in, inside the engine directory (mode 0700). */
export const RUN_DIR_NAME = 'run';

/** The socket of the engine in `dir`. */
export function socketPath(dir: string): string {
  return path.join(dir, RUN_DIR_NAME, 'fanlog.sock');
}

/** Linux's sun_path holds 108 bytes, the terminating NUL included. */
export const SOCKET_PATH_BYTES_MAX = 107;

export interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

export interface WireError {
  code: FanlogErrorCode;
  message: string;
  file?: string;
  offset?: number;
  key?: string;
  seq?: bigint;
  lost?: { fromSeq: bigint; toSeq: bigint };
}

export type Reply = { id: number | null; ok: true; value: unknown } | { id: number | null; ok: false; error: WireError };

/** One message as its line, bigints tagged. */
export function encodeMessage(message: unknown): string {
  return `${JSON.stringify(message, (_key, value: unknown) => (typeof value === 'bigint' ? { $bigint: value.toString() } : value))}\n`;
}

/** A line's message, tagged bigints made bigints again; a SyntaxError when it is not JSON. */
export function decodeMessage(line: string): unknown {
  return JSON.parse(line, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const tagged = (value as { $bigint?: unknown }).$bigint;
      if (typeof tagged === 'string' && Object.keys(value).length === 1 && /^-?\d+$/.test(tagged)) return BigInt(tagged);
    }
    return value;
  });
}

/** What goes over the wire of an error: a FanlogError's code and details; anything else (a bug in the server) as EFAILED, saying so. */
export function errorOnWire(error: unknown): WireError {
  if (!(error instanceof FanlogError)) {
    return { code: 'EFAILED', message: `EFAILED: the engine's server failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  const wire: WireError = { code: error.code, message: error.message };
  if (error.file !== undefined) wire.file = error.file;
  if (error.offset !== undefined) wire.offset = error.offset;
  if (error.key !== undefined) wire.key = error.key;
  if (error.seq !== undefined) wire.seq = error.seq;
  if (error.lost !== undefined) wire.lost = error.lost;
  return wire;
}

/** The FanlogError a reply's error stands for, with its code and details. */
export function errorFromWire(wire: WireError): FanlogError {
  const { code, message, ...details } = wire;
  return new FanlogError(code, message, details);
}

/**
 * Splits a byte stream into lines: `push` a chunk, get the complete lines
 * it finished. A line longer than `bytesMax` is E2BIG, and the splitter
 * holds no more than that while it waits for a newline.
 */
export class LineSplitter {
  readonly #bytesMax: number;
  #parts: Buffer[] = [];
  #bytes = 0;

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.#add(chunk.subarray(start, newline));
      lines.push(Buffer.concat(this.#parts).toString('utf8'));
      this.#parts = [];
      this.#bytes = 0;
      start = newline + 1;
    }
    if (start < chunk.length) this.#add(chunk.subarray(start));
    return lines;
  }

  #add(part: Buffer): void {
    this.#bytes += part.length;
    if (this.#bytes > this.#bytesMax) throw new FanlogError('E2BIG', `a message line is over ${this.#bytesMax} bytes`);
    this.#parts.push(part);
  }
}
