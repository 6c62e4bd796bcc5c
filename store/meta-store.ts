/**
 * MetaStore: the small, atomic, durable key-value store beside the journal.
 *
 * Contract, the same for every backend (test/store/meta-store.test.ts runs
 * one conformance suite against each):
 * - `commit(ops)` applies all of its puts and deletes or none, and when it
 *   resolves they are durable.
 * - `get` and `scan` see every commit that resolved. `scan(prefix)` yields
 *   the matching keys in ascending byte order of their UTF-8 encoding.
 * - Keys are non-empty ASCII strings; values are bytes.
 * - Every value is stored sealed in an envelope (envelope.ts): a value that
 *   fails its checksum is ECORRUPT naming the store and the key, never
 *   returned. `openMetaStore` gives the sealed view; backends see only
 *   sealed bytes.
 *
 * Backends: `lmdb` (the default), `level` (LevelDB through classic-level),
 * and `files`, dependency-free and written through `Io` so that simulated
 * power cuts cover it too. Each is a thin mapping onto its library.
 *
 * The key space, every key and its value's format, is keys.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Io } from '../journal/io.js';
import { envelopeDamage, seal, storeCorrupt, unseal } from './envelope.js';

export type MetaOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface MetaStore {
  get(key: string): Promise<Uint8Array | undefined>;
  scan(prefix: string): AsyncIterable<[key: string, value: Uint8Array]>;
  commit(ops: readonly MetaOp[]): Promise<void>;
  close(): Promise<void>;
}

export type StoreKind = 'lmdb' | 'level' | 'files';
export const STORE_KINDS: readonly StoreKind[] = ['lmdb', 'level', 'files'];

export interface StoreOpenOptions {
  /** Read only: nothing is written, created or repaired by fanlog (commits are EROFS). */
  readOnly?: boolean;
  /** Make the store when there is none; default: unless read only. When false, a missing store is ENOENT and nothing is created. */
  create?: boolean;
}

/** The subdirectory of an engine directory that holds the store of `kind`. */
export function metaStoreDir(dir: string, kind: StoreKind): string {
  return path.join(dir, `meta-${kind}`);
}

/** Opens the backend of `kind` in `storeDir`, unsealed: what it holds, as bytes. */
export async function openBackend(kind: StoreKind, storeDir: string, io: Io, options: StoreOpenOptions = {}): Promise<MetaStore> {
  switch (kind) {
    case 'lmdb': {
      const { LmdbMetaStore } = await import('./lmdb.js');
      return LmdbMetaStore.open(storeDir, options);
    }
    case 'level': {
      const { LevelMetaStore } = await import('./level.js');
      return LevelMetaStore.open(storeDir, options);
    }
    case 'files': {
      const { FilesMetaStore } = await import('./files.js');
      return FilesMetaStore.open(storeDir, io, options);
    }
  }
}

/** Opens the store of `kind` in its own subdirectory of the engine directory `dir`: the sealed view. */
export async function openMetaStore(kind: StoreKind, dir: string, io: Io, options: StoreOpenOptions = {}): Promise<SealedStore> {
  const storeDir = metaStoreDir(dir, kind);
  return new SealedStore(await openBackend(kind, storeDir, io, options), `${kind} store ${storeDir}`);
}

/** One key of a store as `SealedStore.check` finds it: its payload, or why it is damaged. */
export type CheckedEntry = { key: string; payload: Uint8Array; damage: null } | { key: string; payload: null; damage: string };

/**
 * The sealed view of a backend: puts are sealed, gets and scans unsealed
 * and checked. `where` names the store in errors.
 */
export class SealedStore implements MetaStore {
  readonly #backend: MetaStore;

  constructor(
    backend: MetaStore,
    readonly where: string,
  ) {
    this.#backend = backend;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const stored = await this.#backend.get(key);
    return stored === undefined ? undefined : unseal(key, stored, this.where);
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    for await (const [key, stored] of this.#scanned(prefix)) yield [key, unseal(key, stored, this.where)];
  }

  /** Every key under `prefix` with its payload or its damage, without stopping at the first damage (verify, repair). */
  async *check(prefix: string): AsyncIterable<CheckedEntry> {
    for await (const [key, stored] of this.#scanned(prefix)) {
      const damage = envelopeDamage(key, stored);
      yield damage === null ? { key, payload: unseal(key, stored, this.where), damage: null } : { key, payload: null, damage };
    }
  }

  /** The backend's scan of `prefix`: every backend bounds its range by the prefix (prefixEnd), so each key starts with it. */
  async *#scanned(prefix: string): AsyncIterable<[string, Uint8Array]> {
    for await (const entry of this.#backend.scan(prefix)) {
      if (!entry[0].startsWith(prefix)) assert.fail(`${this.where}: a scan of '${prefix}' yielded '${entry[0]}'`);
      yield entry;
    }
  }

  commit(ops: readonly MetaOp[]): Promise<void> {
    return this.#backend.commit(
      ops.map((op) => {
        // Keys are fanlog's own, never empty (keys.ts).
        if (op.key.length === 0) assert.fail(`${this.where}: a commit with an empty key`);
        return op.type === 'put' ? { type: 'put', key: op.key, value: seal(op.key, op.value) } : op;
      }),
    );
  }

  /** ECORRUPT about `key` in this store. */
  corrupt(key: string, what: string): Error {
    return storeCorrupt(this.where, key, what);
  }

  close(): Promise<void> {
    return this.#backend.close();
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
