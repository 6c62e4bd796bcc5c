/**
 * MetaStore on LevelDB (`level`, which is classic-level in Node). A commit
 * is one `batch` with `sync: true`.
 */
import { Level } from 'level';
import { fromIoError } from '../errors.js';
import type { MetaOp, MetaStore } from './meta-store.js';
import { plainBytes, prefixEnd } from './meta-store.js';

export class LevelMetaStore implements MetaStore {
  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string): Promise<LevelMetaStore> {
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      throw fromIoError((error as { cause?: unknown }).cause ?? error, dir);
    }
    return new LevelMetaStore(db);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await this.db.get(key);
    return value === undefined ? undefined : plainBytes(value);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) })) yield [key, plainBytes(value)];
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    await this.db.batch(
      ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })),
      { sync: true },
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
