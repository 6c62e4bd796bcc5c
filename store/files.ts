/**
 * MetaStore `files`: dependency-free, built on a Journal through the same
 * `Io`, so that simulated power cuts, torn writes and injected faults cover
 * the store exactly as they cover the journal.
 *
 * Layout: a journal directory whose records are, each one journal entry:
 *
 *   batch     [1] u32 opCount, then per op: u8 type (1 put, 2 del),
 *             u32 keyBytes, key, and for a put u32 valueBytes, value
 *   snapshot  [2] u32 pairCount then pairs as in a put, in chunks of at most
 *             1 MiB; a snapshot is the entries from a `begin` [3] record to
 *             an `end` [4] record holding its u32 total pair count
 *
 * Every commit is one entry, so it is atomic; it resolves when the journal
 * entry is durable. The whole map lives in memory; open replays the journal.
 * When the bytes written since the last snapshot exceed twice the live size
 * (and at least 1 MiB), a snapshot is written after a commit and, once its
 * end is durable, everything before its begin is purged. A snapshot cut
 * short by a crash has no end and is ignored: the commits before it still
 * hold the state, because nothing is purged until the end is durable.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../errors.js';
import type { Io } from '../journal/io.js';
import { Journal } from '../journal/journal.js';
import { parseSegmentFileName } from '../journal/segment.js';
import type { MetaOp, MetaStore, StoreOpenOptions } from './meta-store.js';

const BATCH = 1;
const SNAPSHOT_PAIRS = 2;
const SNAPSHOT_BEGIN = 3;
const SNAPSHOT_END = 4;
const SNAPSHOT_CHUNK_BYTES = 1 << 20;
const COMPACT_BYTES_MIN = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function undecodable(what: string): FanlogError {
  return new FanlogError('ECORRUPT', `files store record undecodable: ${what}`);
}

/** One record of the files store, as described above; `result` checks it holds the count its header declares. */
class Encoder {
  readonly #parts: Uint8Array[] = [];
  readonly #header: Uint8Array;
  readonly #count: number;
  /** Ops (batch) or pairs (snapshot) added so far. */
  #added = 0;
  #length = 5;

  constructor(kind: number, count: number) {
    this.#header = new Uint8Array(5);
    this.#header[0] = kind;
    new DataView(this.#header.buffer).setUint32(1, count, true);
    this.#count = count;
  }

  /** A u32 length, then the bytes. */
  #field(value: Uint8Array): void {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, value.length, true);
    this.#parts.push(length, value);
    this.#length += 4 + value.length;
  }

  op(type: number, key: string, value?: Uint8Array): void {
    this.#parts.push(Uint8Array.of(type));
    this.#length += 1;
    this.pair(key, value);
  }

  /** A key and, unless it is a delete's, its value. */
  pair(key: string, value?: Uint8Array): void {
    this.#field(encoder.encode(key));
    if (value !== undefined) this.#field(value);
    this.#added++;
  }

  /** The record. Checked before it is written, as the Decoder checks it after it is read: the count its header declares, and every byte. */
  result(): Uint8Array {
    const record = Buffer.concat([this.#header, ...this.#parts]);
    if (this.#added !== this.#count || record.length !== this.#length) {
      assert.fail(`a files store record declares ${this.#count} entries and holds ${this.#added}, in ${record.length} of ${this.#length} bytes`);
    }
    return record;
  }
}

class Decoder {
  #at = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  u8(): number {
    if (this.#at + 1 > this.#bytes.length) throw undecodable('ends early');
    return this.#bytes[this.#at++]!;
  }

  u32(): number {
    if (this.#at + 4 > this.#bytes.length) throw undecodable('ends early');
    const value = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return value;
  }

  raw(): Uint8Array {
    const length = this.u32();
    if (length > this.#bytes.length - this.#at) throw undecodable('length beyond the record');
    return this.#bytes.slice(this.#at, (this.#at += length));
  }

  key(): string {
    return decoder.decode(this.raw());
  }

  get done(): boolean {
    return this.#at === this.#bytes.length;
  }
}

/** Whether `dir` holds a files store: a journal segment (a directory that is missing, or holds none, does not). */
async function holdsSegments(io: Io, dir: string): Promise<boolean> {
  try {
    return (await io.readdir(dir)).some((name) => parseSegmentFileName(name) !== null);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw error;
  }
}

export class FilesMetaStore implements MetaStore {
  #bytesSinceSnapshot = 0;
  #chain: Promise<void> = Promise.resolve();
  readonly #journal: Journal;
  readonly #map: Map<string, Uint8Array>;

  private constructor(journal: Journal, map: Map<string, Uint8Array>, bytesSinceSnapshot: number) {
    this.#journal = journal;
    this.#map = map;
    this.#bytesSinceSnapshot = bytesSinceSnapshot;
  }

  static async open(dir: string, io: Io, { readOnly = false, create = !readOnly }: StoreOpenOptions = {}): Promise<FilesMetaStore> {
    if (!create && !readOnly && !(await holdsSegments(io, dir))) throw new FanlogError('ENOENT', `no files store in ${dir}`, { file: dir });
    const journal = await Journal.open(dir, { io, segmentBytesMax: 4 * 2 ** 20, readOnly });
    let map = new Map<string, Uint8Array>();
    let snapshot: Map<string, Uint8Array> | null = null;
    let bytesSinceSnapshot = 0;
    try {
      for await (const { payload } of journal.read()) {
        const d = new Decoder(payload);
        const kind = d.u8();
        const count = d.u32();
        bytesSinceSnapshot += payload.length;
        if (kind === BATCH) {
          for (let i = 0; i < count; i++) {
            const type = d.u8();
            const key = d.key();
            if (type === 1) map.set(key, d.raw());
            else if (type === 2) map.delete(key);
            else throw undecodable(`op type ${type}`);
          }
        } else if (kind === SNAPSHOT_BEGIN) {
          snapshot = new Map();
        } else if (kind === SNAPSHOT_PAIRS) {
          for (let i = 0; i < count; i++) {
            const key = d.key();
            snapshot?.set(key, d.raw());
          }
        } else if (kind === SNAPSHOT_END) {
          if (snapshot === null || snapshot.size !== count) throw undecodable('snapshot end without its pairs');
          map = snapshot;
          snapshot = null;
          bytesSinceSnapshot = 0;
        } else {
          throw undecodable(`record kind ${kind}`);
        }
        if (!d.done) throw undecodable('trailing bytes');
      }
    } catch (error) {
      await journal.close();
      throw error;
    }
    return new FilesMetaStore(journal, map, bytesSinceSnapshot);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#map.get(key);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    const keys = [...this.#map.keys()].filter((key) => key.startsWith(prefix)).sort(compareBytes);
    for (const key of keys) {
      const value = this.#map.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Commits run one at a time, so a snapshot never interleaves with a batch. */
  commit(ops: readonly MetaOp[]): Promise<void> {
    const run = this.#chain.then(async () => {
      const e = new Encoder(BATCH, ops.length);
      for (const op of ops) {
        if (op.type === 'put') e.op(1, op.key, op.value);
        else e.op(2, op.key);
      }
      const payload = e.result();
      await this.#journal.append(payload);
      for (const op of ops) {
        if (op.type === 'put') this.#map.set(op.key, new Uint8Array(op.value));
        else this.#map.delete(op.key);
      }
      this.#bytesSinceSnapshot += payload.length;
      if (this.#bytesSinceSnapshot > Math.max(COMPACT_BYTES_MIN, 2 * this.#liveBytes())) await this.#snapshot();
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #liveBytes(): number {
    let total = 0;
    for (const [key, value] of this.#map) total += key.length + value.length + 9;
    return total;
  }

  async #snapshot(): Promise<void> {
    const begin = await this.#journal.append(Uint8Array.of(SNAPSHOT_BEGIN, 0, 0, 0, 0));
    let chunk: [string, Uint8Array][] = [];
    let chunkBytes = 0;
    let written = 0;
    const flush = async (): Promise<void> => {
      const e = new Encoder(SNAPSHOT_PAIRS, chunk.length);
      for (const [key, value] of chunk) e.pair(key, value);
      await this.#journal.append(e.result());
      written += chunk.length;
      chunk = [];
      chunkBytes = 0;
    };
    for (const pair of this.#map) {
      chunk.push(pair);
      chunkBytes += pair[0].length + pair[1].length + 8;
      if (chunkBytes >= SNAPSHOT_CHUNK_BYTES) await flush();
    }
    if (chunk.length > 0) await flush();
    // Commits wait for the snapshot (one chain): its end counts exactly the pairs written, as open checks.
    if (written !== this.#map.size) assert.fail(`a snapshot of ${this.#map.size} pairs wrote ${written}`);
    const end = new Uint8Array(5);
    end[0] = SNAPSHOT_END;
    new DataView(end.buffer).setUint32(1, this.#map.size, true);
    await this.#journal.append(end);
    this.#bytesSinceSnapshot = 0;
    await this.#journal.purge(begin - 1n);
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#journal.close();
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
