/**
 * MetaStore on LMDB (lmdb-js).
 *
 * A commit is one synchronous write transaction, then `flushed` for its
 * durability: lmdb-js commits with overlapping sync by default on Linux, so
 * the transaction alone means committed, not durable. The transaction is
 * synchronous because lmdb-js's asynchronous writes, when a commit fails,
 * reject a promise of their own that nobody can handle, and an unhandled
 * rejection ends a Node process: a full disk must fail the engine, never the
 * process. It blocks the event loop for the page writes, not for the fsync.
 *
 * Only a writer opens an LMDB environment, and fanlog writes a store only
 * under the engine's lock: a read-only open reads the data file without
 * LMDB (lmdb-reader.ts, which says why: an environment opened beside
 * another process's can break that process's open, or its own). The engine
 * closes its environment before it releases the lock (engine.ts), so no two
 * of fanlog's processes have one open at once.
 *
 * Before the file is mapped its header is checked (lmdb-file.ts), and
 * before LMDB is opened at all the disk must have room: LMDB maps its lock
 * file and crashes the process with SIGBUS when a full tmpfs cannot back a
 * page it touches. A full disk under a write surfaces from LMDB as EIO (a
 * short write); when the store's file system has less room than the commit
 * needs plus a margin, it is reported as ENOSPC, which is what it is.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { FanlogError, fromIoError } from '../errors.js';
import { checkLmdbStore } from './lmdb-check.js';
import { checkLmdbFile } from './lmdb-file.js';
import { LmdbFileReader } from './lmdb-reader.js';
import type { MetaOp, MetaStore, StoreOpenOptions } from './meta-store.js';
import { plainBytes, prefixEnd } from './meta-store.js';

/** Free space below which a write failure is a full disk, and an open is refused. */
const ROOM_BYTES_MIN = 1 << 20;

/** lmdb-js errors carry LMDB's return code as a number: an errno, or LMDB's own negative codes. */
const ERRNO_NAMES: Record<number, string> = { 5: 'EIO', 28: 'ENOSPC', 13: 'EACCES', 30: 'EROFS', 2: 'ENOENT', 122: 'EDQUOT' };
/** LMDB's codes for a file whose structure is damaged: a page not found, of the wrong type, an invalid or mismatched file, a checksum. */
const DAMAGE_CODES = new Set([-30797, -30796, -30795, -30794, -30793, -30784, -30778]);

/** An LMDB error from reading: ECORRUPT when LMDB found its file damaged, else as an I/O error. */
function readError(error: unknown, dir: string): FanlogError {
  const status = (error as { code?: unknown }).code;
  if (typeof status === 'number' && DAMAGE_CODES.has(status)) {
    return new FanlogError('ECORRUPT', `lmdb store ${dir}: ${(error as Error).message}`, { file: dir, cause: error });
  }
  return fromIoError(typeof status === 'number' ? Object.assign(new Error((error as Error).message), { code: ERRNO_NAMES[status] ?? 'EIO' }) : error, dir);
}

export class LmdbMetaStore implements MetaStore {
  readonly #db: RootDatabase<Uint8Array, string>;
  readonly #dir: string;

  private constructor(db: RootDatabase<Uint8Array, string>, dir: string) {
    this.#db = db;
    this.#dir = dir;
  }

  /** Opens the store in `dir`: read-only, from its file (lmdb-reader.ts); otherwise an LMDB environment, made when `create` allows. */
  static async open(dir: string, { readOnly = false, create = !readOnly }: StoreOpenOptions = {}): Promise<MetaStore> {
    try {
      const dataFile = path.join(dir, 'data.mdb');
      if (readOnly || !create) await fsp.access(dataFile);
      else await fsp.mkdir(dir, { recursive: true });
      await checkLmdbFile(dataFile);
      if (readOnly) return await LmdbFileReader.open(dir);
      // LMDB crashes the process on a damaged page: every page it may reach is checked first (lmdb-check.ts).
      checkLmdbStore(dataFile);
      const room = await freeBytes(dir);
      if (room < ROOM_BYTES_MIN) throw new FanlogError('ENOSPC', `${dir}: only ${room} bytes free; lmdb needs room to map its files safely`, { file: dir });
      return new LmdbMetaStore(open<Uint8Array, string>({ path: dir, noSubdir: false, encoding: 'binary', cache: false }), dir);
    } catch (error) {
      throw readError(error, dir);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    let value;
    try {
      value = this.#db.getBinary(key);
    } catch (error) {
      throw readError(error, this.#dir);
    }
    return value === undefined ? undefined : plainBytes(value);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    const entries = this.#db.getRange({ start: prefix, end: prefixEnd(prefix) })[Symbol.iterator]();
    for (;;) {
      let next;
      try {
        next = entries.next();
      } catch (error) {
        throw readError(error, this.#dir);
      }
      if (next.done === true) return;
      yield [next.value.key, plainBytes(next.value.value)];
    }
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    try {
      this.#db.transactionSync(() => {
        for (const op of ops) {
          if (op.type === 'put') this.#db.putSync(op.key, op.value);
          else this.#db.removeSync(op.key);
        }
      });
      await this.#db.flushed;
    } catch (error) {
      throw await this.#writeError(error, ops);
    }
  }

  /** What a failed write was: LMDB's errno, with a short write on a full disk told apart as ENOSPC. */
  async #writeError(error: unknown, ops: readonly MetaOp[]): Promise<FanlogError> {
    const status = (error as { code?: unknown }).code;
    let code = typeof status === 'number' ? (ERRNO_NAMES[status] ?? 'EIO') : typeof status === 'string' ? status : 'EIO';
    if (code === 'EIO') {
      const needed = ops.reduce((total, op) => total + op.key.length + (op.type === 'put' ? op.value.length : 0), 0);
      const room = await freeBytes(this.#dir).catch(() => Number.POSITIVE_INFINITY);
      if (room < needed + ROOM_BYTES_MIN) code = 'ENOSPC';
    }
    return fromIoError(Object.assign(new Error(`lmdb commit failed: ${(error as Error).message}`), { code, cause: error }), this.#dir);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

async function freeBytes(dir: string): Promise<number> {
  const stats = await fsp.statfs(dir);
  return stats.bavail * stats.bsize;
}
