/**
 * Catalogs: a key that lists the names of every object under a prefix
 * (`catalog/group`, `catalog/consumer`), changed in the same commit as the
 * objects it names. On open, every listed name must have its key and every
 * key must be listed: a key a damaged store lost is then ECORRUPT, not an
 * object that silently is no more.
 *
 * Payload (JSON, sealed by the store): { version: 1, names: [...] }, sorted.
 */
import assert from 'node:assert/strict';
import { parseVersioned } from './envelope.js';
import type { MetaOp } from './meta-store.js';

const CATALOG_VERSION = 1;

/** What a catalog needs of a store: reads, and ECORRUPT about a key. */
export interface CatalogStore {
  get(key: string): Promise<Uint8Array | undefined>;
  corrupt(key: string, what: string): Error;
}

/** The put that makes the catalog at `key` list exactly `names`. */
export function catalogOp(key: string, names: Iterable<string>): MetaOp {
  const listed = [...new Set(names)].sort();
  const value = new TextEncoder().encode(JSON.stringify({ version: CATALOG_VERSION, names: listed }));
  // Checked before it is written, as readCatalog checks it after it is read (a catalog changes only on a registration).
  const back = decodeCatalog(value, (what) => new Error(what));
  if (back.length !== listed.length || back.some((name, i) => name !== listed[i])) assert.fail(`the catalog ${key} does not read back as written`);
  return { type: 'put', key, value };
}

/** The names the catalog at `key` lists ([] when there is none yet). */
export async function readCatalog(store: CatalogStore, key: string): Promise<string[]> {
  const raw = await store.get(key);
  if (raw === undefined) return [];
  return decodeCatalog(raw, (what) => store.corrupt(key, what));
}

/** The names of a catalog's payload; `fail` says what is wrong with it (ECORRUPT from the store). */
function decodeCatalog(payload: Uint8Array, fail: (what: string) => Error): string[] {
  const catalog = parseVersioned<{ version: number; names: unknown }>(payload, 'catalog', CATALOG_VERSION, fail);
  if (!Array.isArray(catalog.names) || !catalog.names.every((name) => typeof name === 'string')) throw fail('catalog is malformed');
  return catalog.names;
}

/**
 * Checks `keys` (the names found under a prefix) against the catalog's
 * names; throws ECORRUPT naming the first key that is missing or unlisted.
 */
export function checkCatalog(store: CatalogStore, prefix: string, listed: readonly string[], found: readonly string[]): void {
  const listedSet = new Set(listed);
  for (const name of found) if (!listedSet.has(name)) throw store.corrupt(prefix + name, 'the catalog does not list it');
  const foundSet = new Set(found);
  for (const name of listed) if (!foundSet.has(name)) throw store.corrupt(prefix + name, 'the catalog lists it, but its key is missing');
}
