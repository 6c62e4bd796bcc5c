/**
 * A store as one commit left it, held in memory: what a read-only engine
 * opened beside the process that holds it reads (engine/engine-open.ts).
 *
 * Why whole, and in one read. A read-only engine learns its durable state
 * from many keys: the checkpoint's header and its pages, which must hold
 * the inodes the header counts; each catalog and the keys it lists; the
 * high-water mark; every consumer's cursor. Read one key at a time beside
 * a holder that commits, they would come from different commits: a
 * checkpoint header over the pages of the next one, a catalog that misses
 * the consumer registered after it was read, each one damage that is not
 * there. So the lmdb store is read whole, in one consistent read of its
 * file (lmdb-reader.ts `snapshot`), and the engine reads that copy: every
 * key of it from the same commit. The price is memory: the store's values
 * are held until the engine closes (an open reads every checkpoint page
 * anyway). Loaded only for an lmdb store: it loads lmdb.ts, and with it
 * LMDB's native module.
 *
 * Only lmdb is read so: a level store cannot be opened beside its holder
 * (LevelDB's LOCK), and a files store is consistent only under the
 * engine's lock; both are read under it.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../errors.js';
import { LmdbFileReader } from './lmdb-reader.js';
import { LmdbMetaStore } from './lmdb.js';
import { type MetaOp, type MetaStore } from './meta-store.js';

export class StoreSnapshot implements MetaStore {
  readonly #keys: string[];
  readonly #values: Map<string, Uint8Array>;
  readonly #dir: string;

  /** `entries` in ascending key order, as a backend's scan gives them. */
  constructor(
    dir: string,
    entries: readonly [string, Uint8Array][],
    /** The store's id of the commit the entries are of. */
    readonly commitId: bigint,
  ) {
    this.#dir = dir;
    this.#keys = entries.map(([key]) => key);
    this.#values = new Map(entries);
  }

  /** Reads the lmdb store in `dir` whole (see the header), without opening LMDB; its file is checked first, as for any read-only open. */
  static async ofLmdb(dir: string): Promise<StoreSnapshot> {
    const reader = await LmdbMetaStore.open(dir, { readOnly: true });
    assert(reader instanceof LmdbFileReader, `a read-only lmdb store opened as ${reader.constructor.name}, not from its file`);
    try {
      const { commitId, entries } = await reader.snapshot();
      return new StoreSnapshot(dir, entries, commitId);
    } finally {
      await reader.close();
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#values.get(key);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    for (const key of this.#keys) if (key.startsWith(prefix)) yield [key, this.#values.get(key)!];
  }

  async commit(_ops: readonly MetaOp[]): Promise<void> {
    throw new FanlogError('EROFS', `${this.#dir} was opened read-only`);
  }

  async close(): Promise<void> {}
}

/** The id of the newest commit of the lmdb store in `dir`; null when it cannot be read now (the open that reads it says why). */
export async function lmdbCommitId(dir: string): Promise<bigint | null> {
  try {
    const reader = await LmdbMetaStore.open(dir, { readOnly: true });
    try {
      return reader instanceof LmdbFileReader ? await reader.commitId() : null;
    } finally {
      await reader.close();
    }
  } catch {
    return null;
  }
}
