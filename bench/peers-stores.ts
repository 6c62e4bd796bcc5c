/**
 * The peers suite's stores (bench/peers.ts), one shape for each: fanlog's
 * journal, better-sqlite3 in WAL mode with `synchronous=FULL` and with
 * `NORMAL`, hypercore, and the physical limit (raw `node:fs` appends, each
 * followed by fdatasync). Every store writes the same 200-byte payloads.
 *
 * What each write means for durability, as the peers document it:
 *   fanlog       `sync: 'always'`: a promise resolves once its records are fdatasynced
 *   fanlog_blocking  the same, with blocking commits (`new NodeIo({ blocking: true })`:
 *                the write and fdatasync on the main thread, as better-sqlite3 runs its own)
 *   sqlite_full  WAL, synchronous=FULL: each commit fsyncs the WAL
 *   sqlite_normal WAL, synchronous=NORMAL: a commit is not synced (only checkpoints are);
 *                a power loss can take the last commits, never corrupt the database
 *   hypercore    no fsync per append (the fsync count stays flat however many appends)
 *   limit        one write and one fdatasync of the same bytes to a growing file
 *
 * better-sqlite3 and hypercore ship no types: the few methods used here are
 * declared below, and the modules are loaded with `createRequire`.
 */
import { createRequire } from 'node:module';
import { mkdirSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Journal } from '../journal/journal.js';
import { NodeIo } from '../journal/node-io.js';

const require = createRequire(import.meta.url);

interface SqliteStatement {
  run(...values: unknown[]): unknown;
  pluck(): SqliteStatement;
  all(...values: unknown[]): unknown[];
  get(...values: unknown[]): unknown;
  iterate(...values: unknown[]): IterableIterator<unknown>;
}
export interface SqliteDatabase {
  pragma(text: string): unknown;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  transaction<A extends unknown[]>(work: (...args: A) => void): (...args: A) => void;
  close(): void;
}
interface HypercoreCore {
  ready(): Promise<void>;
  append(blocks: Uint8Array | Uint8Array[]): Promise<unknown>;
  createReadStream(options: { start: number; end: number }): AsyncIterable<Uint8Array>;
  readonly length: number;
  close(): Promise<void>;
}

export const PEER_NAMES = ['fanlog', 'fanlog_blocking', 'sqlite_full', 'sqlite_normal', 'hypercore', 'limit'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** One store under test, written durably as its peer allows. */
export interface PeerStore {
  /** `payloads` in one commit. */
  appendBatch(payloads: readonly Uint8Array[], bytes: Uint8Array): Promise<unknown>;
  /** One record, committed on its own. */
  appendOne(payload: Uint8Array): Promise<unknown>;
  /** 64 appenders at once, each awaiting its record (SQLite, one writer, commits them one after another). */
  append64(payloads: readonly Uint8Array[], bytes: Uint8Array): Promise<unknown>;
  /** Reads every record in the store; resolves with how many. */
  readAll(): Promise<number>;
  close(): Promise<void>;
}

/** Opens the store of `peer` in `dir` (made if missing). `durable` false prepares data quickly, without syncs. */
export async function openPeer(peer: PeerName, dir: string, durable = true): Promise<PeerStore> {
  mkdirSync(dir, { recursive: true });
  switch (peer) {
    case 'fanlog':
    case 'fanlog_blocking':
      return openFanlog(dir, durable, peer === 'fanlog_blocking');
    case 'sqlite_full':
    case 'sqlite_normal':
      return openSqliteStore(dir, durable ? (peer === 'sqlite_full' ? 'FULL' : 'NORMAL') : 'OFF');
    case 'hypercore':
      return openHypercore(dir);
    case 'limit':
      return openLimit(dir, durable);
  }
}

async function openFanlog(dir: string, durable: boolean, blocking: boolean): Promise<PeerStore> {
  const journal = await Journal.open(dir, { sync: durable ? 'always' : 'never', io: new NodeIo({ blocking }) });
  return {
    appendBatch: (payloads) => journal.appendEntry(payloads),
    appendOne: (payload) => journal.append(payload),
    append64: (payloads) => Promise.all(payloads.map((payload) => journal.append(payload))),
    readAll: async () => {
      let count = 0;
      for await (const record of journal.read()) count += record.payload.length > 0 ? 1 : 0;
      return count;
    },
    close: () => journal.close(),
  };
}

/** A better-sqlite3 database in WAL mode at `synchronous` level, with a `log` table of blobs. */
export function openSqlite(file: string, synchronous: 'FULL' | 'NORMAL' | 'OFF'): SqliteDatabase {
  const Database = require('better-sqlite3') as new (file: string) => SqliteDatabase;
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec('CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  return db;
}

function openSqliteStore(dir: string, synchronous: 'FULL' | 'NORMAL' | 'OFF'): PeerStore {
  const db = openSqlite(path.join(dir, 'log.db'), synchronous);
  const insert = db.prepare('INSERT INTO log (payload) VALUES (?)');
  const insertAll = db.transaction((payloads: readonly Uint8Array[]) => {
    for (const payload of payloads) insert.run(payload);
  });
  const scan = db.prepare('SELECT payload FROM log ORDER BY id').pluck();
  return {
    appendBatch: async (payloads) => insertAll(payloads),
    appendOne: async (payload) => insert.run(payload),
    // SQLite has one writer and better-sqlite3 is synchronous: 64 callers' commits run one after another.
    append64: async (payloads) => {
      for (const payload of payloads) insert.run(payload);
    },
    readAll: async () => {
      let count = 0;
      for (const payload of scan.iterate()) count += (payload as Uint8Array).length > 0 ? 1 : 0;
      return count;
    },
    close: async () => {
      // A truncating checkpoint leaves the records in the database file, so its size is what they take.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

async function openHypercore(dir: string): Promise<PeerStore> {
  const Hypercore = require('hypercore') as new (dir: string) => HypercoreCore;
  const core = new Hypercore(dir);
  await core.ready();
  return {
    appendBatch: (payloads) => core.append([...payloads]),
    appendOne: (payload) => core.append(payload),
    append64: (payloads) => Promise.all(payloads.map((payload) => core.append(payload))),
    readAll: async () => {
      let count = 0;
      for await (const block of core.createReadStream({ start: 0, end: core.length })) count += block.length > 0 ? 1 : 0;
      return count;
    },
    close: () => core.close(),
  };
}

/** The physical limit: the same bytes written with one positioned write to a growing file, then fdatasync. */
async function openLimit(dir: string, durable: boolean): Promise<PeerStore> {
  const file = path.join(dir, 'raw.log');
  const handle = await fsp.open(file, 'a+');
  let position = (await handle.stat()).size;
  const write = async (bytes: Uint8Array): Promise<void> => {
    await handle.write(bytes, 0, bytes.length, position);
    position += bytes.length;
    if (durable) await handle.datasync();
  };
  const chunk = Buffer.alloc(1 << 20);
  return {
    appendBatch: (_payloads, bytes) => write(bytes),
    appendOne: (payload) => write(payload),
    append64: (_payloads, bytes) => write(bytes),
    // Fixed-size records: reading the bytes is all a reader of this file can do.
    readAll: async () => {
      let bytesRead = 0;
      for (;;) {
        const { bytesRead: n } = await handle.read(chunk, 0, chunk.length, bytesRead);
        if (n === 0) break;
        bytesRead += n;
      }
      return bytesRead / 200;
    },
    close: () => handle.close(),
  };
}

/** Bytes of every file under `dir`, apparent size. */
export function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    total += entry.isDirectory() ? bytesUnder(child) : entry.isFile() ? statSync(child).size : 0;
  }
  return total;
}
