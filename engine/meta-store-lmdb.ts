/**
 * MetaStore on LMDB (lmdb-js). A commit is one write transaction, and it
 * resolves after `flushed`: lmdb-js commits with overlapping sync by default
 * on Linux, so a transaction's promise alone means committed, not durable.
 */
import { open, type RootDatabase } from 'lmdb';
import { fromIoError } from '../errors.js';
import type { MetaOp, MetaStore } from './meta-store.js';
import { plainBytes, prefixEnd } from './meta-store.js';

export class LmdbMetaStore implements MetaStore {
  private constructor(private readonly db: RootDatabase<Uint8Array, string>) {}

  static async open(dir: string): Promise<LmdbMetaStore> {
    try {
      return new LmdbMetaStore(open<Uint8Array, string>({ path: dir, encoding: 'binary', cache: false }));
    } catch (error) {
      throw fromIoError(error, dir);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = this.db.getBinary(key);
    return value === undefined ? undefined : plainBytes(value);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    for (const { key, value } of this.db.getRange({ start: prefix, end: prefixEnd(prefix) })) {
      yield [key, plainBytes(value)];
    }
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    await this.db.transaction(() => {
      for (const op of ops) {
        if (op.type === 'put') void this.db.put(op.key, op.value);
        else void this.db.remove(op.key);
      }
    });
    await this.db.flushed;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
