/**
 * MetaStore: the small, atomic, durable key-value store beside the journal.
 * It holds group and mark configuration and filesystem checkpoints (and, in
 * later issues, consumer cursors and filter attachments).
 *
 * Contract, the same for every backend (test/engine/meta-store.test.ts runs
 * one conformance suite against each):
 * - `commit(ops)` applies all of its puts and deletes or none, and when it
 *   resolves they are durable.
 * - `get` and `scan` see every commit that resolved. `scan(prefix)` yields
 *   the matching keys in ascending byte order of their UTF-8 encoding.
 * - Keys are non-empty ASCII strings; values are bytes.
 *
 * Backends: `lmdb` (the default), `level` (LevelDB through classic-level),
 * and `files`, dependency-free and written through `Io` so that simulated
 * power cuts cover it too.
 */
import path from 'node:path';
import type { Io } from '../journal/io.js';

export type MetaOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface MetaStore {
  get(key: string): Promise<Uint8Array | undefined>;
  scan(prefix: string): AsyncIterable<[key: string, value: Uint8Array]>;
  commit(ops: readonly MetaOp[]): Promise<void>;
  close(): Promise<void>;
}

export type StoreKind = 'lmdb' | 'level' | 'files';
export const STORE_KINDS: readonly StoreKind[] = ['lmdb', 'level', 'files'];

/** The subdirectory of an engine directory that holds the store of `kind`. */
export function metaStoreDir(dir: string, kind: StoreKind): string {
  return path.join(dir, `meta-${kind}`);
}

/** Opens the store of `kind` in its own subdirectory of `dir`. */
export async function openMetaStore(kind: StoreKind, dir: string, io: Io): Promise<MetaStore> {
  switch (kind) {
    case 'lmdb': {
      const { LmdbMetaStore } = await import('./meta-store-lmdb.js');
      return LmdbMetaStore.open(metaStoreDir(dir, kind));
    }
    case 'level': {
      const { LevelMetaStore } = await import('./meta-store-level.js');
      return LevelMetaStore.open(metaStoreDir(dir, kind));
    }
    case 'files': {
      const { FilesMetaStore } = await import('./meta-store-files.js');
      return FilesMetaStore.open(metaStoreDir(dir, kind), io);
    }
  }
}

/** The end of the key range that starts with `prefix` (exclusive), for range scans. */
export function prefixEnd(prefix: string): string {
  return `${prefix}\uffff`;
}

/** A plain Uint8Array copy of a backend's value (Buffers compare and slice differently). */
export function plainBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}
