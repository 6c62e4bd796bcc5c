/**
 * A read-only lmdb store, read from its data file without opening an LMDB
 * environment: what every read-only open of an lmdb store gets (`fanlog
 * stat`, `tail`, `export` and `verify` beside the engine's holder, a
 * read-only engine, which reads it whole through `snapshot`:
 * store-snapshot.ts, repair's salvage).
 *
 * Why not LMDB's own readers. An LMDB environment opened beside a second
 * process breaks the other one's open (issue 26, reproduced by
 * test/store/lmdb-beside.test.ts with lmdb-js 3.5.6): a process that closes
 * its environment while it is the only one open takes the lock file's
 * exclusive lock and destroys the shared mutexes of the reader table
 * (mdb.c, mdb_env_close_active); a process opening meanwhile fails to get
 * that exclusive lock, waits for a shared one, gets it when the closer is
 * gone and takes the table for initialised. Its first transaction then
 * locks a destroyed mutex: EINVAL ("Invalid argument", the mutex's kind
 * is -1 in lock.mdb). lmdb-js, when that happens inside `open()`, leaks
 * the environment, which keeps its shared lock and stays in lmdb-js's
 * per-process registry of environments (keyed by the data file's inode):
 * every later open in that process reuses it and fails ("No transaction to
 * renew", "Attempting to setup locks after open"), and nobody can
 * initialise the table again until the process exits. Either side can be
 * the victim: the holder's `Engine.open` failed in 55 of 60 opens beside a
 * polling reader. No lmdb-js option avoids it: the protocol is LMDB's, a
 * read-only environment locks and maps lock.mdb like any other, and
 * lmdb-js passes no MDB_NOLOCK (which would leave LMDB's reads unguarded
 * against page reuse anyway). So a reader that holds no engine lock opens
 * no environment: it touches neither lock.mdb nor LMDB's code, and writes
 * nothing at all. Read-write environments (lmdb.ts) are opened only under
 * the engine's lock, one process at a time, and closed before it is
 * released.
 *
 * How a read is made consistent without a reader slot. LMDB never writes
 * over a page of the newest snapshot T while T is the newest, nor while
 * T + 1 is: a transaction reuses only pages freed by transactions at
 * least two before it (mdb.c, mdb_find_oldest and mdb_page_alloc: oldest
 * is its txnid - 1, or older with overlapping sync), and snapshot T's
 * pages are freed at the earliest by T + 1, so the first that may
 * overwrite one is T + 3, which starts only once T + 2 has written its
 * meta page. So each `get` and `scan`:
 *
 *   1. reads both meta pages until two reads agree (a meta page is
 *      rewritten in place: one read could catch half of a write), checks
 *      them (lmdb-file.ts) and takes the newest, T;
 *   2. walks T's tree from its root, checking every page it reads: its
 *      number, its kind for its depth, bounds, keys in order, and a txnid
 *      no newer than T;
 *   3. reads the meta pages again. If T's page is unchanged and the other
 *      holds no transaction beyond T + 1, nothing it read was overwritten:
 *      the result stands, and a page that failed its check is damage
 *      (ECORRUPT with the file and the byte offset). Otherwise the holder
 *      may have rewritten what it read, and the read starts over.
 *
 * Without step 3, a reader beside a busy writer meets pages that
 * transaction T + 3 or later wrote (test/store/lmdb-beside.test.ts). The
 * pages are read synchronously, as LMDB's readers read its map, so that a
 * read takes less time than two commits; a read the holder overtook is
 * made again after a turn of the event loop, and after READ_TRIES of them
 * the read fails with EAGAIN. A scan gives its entries once the whole
 * range was read and found consistent, never part of a range.
 *
 * Keys are what lmdb-js writes for a string key (its ordered-binary
 * encoding): the UTF-8 bytes, after a byte 27 when the first character is
 * below 28, with a character up to 4 written as 4 then itself in keys
 * under 64 characters. fanlog's keys are printable ASCII, so their bytes
 * are their characters. Values are stored as they were given (encoding
 * 'binary').
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { corrupt, FanlogError, fromIoError } from '../errors.js';
import {
  decodeTreePage,
  META_BYTES,
  type Meta,
  newestMeta,
  NO_PAGE,
  P_OVERFLOW,
  PAGE_BYTES_MAX,
  PAGE_HEADER_BYTES,
  pageHeader,
  readAt,
  readMetas,
  type TreeNode,
} from './lmdb-file.js';
import type { MetaOp, MetaStore } from './meta-store.js';

/** How many times a read starts over when the holder overtook it (see the header). */
const READ_TRIES = 64;
/** How many pairs of meta page reads may disagree before a read gives up: each is a commit caught mid-write. */
const META_READ_TRIES = 16;
/** LMDB's cursors hold at most 32 levels: a deeper tree is damage. */
const DEPTH_MAX = 32;

/** One walk of a tree (step 2): what it looks for, what it found, and the pages it has read. */
interface Walk {
  meta: Meta;
  prefix: Uint8Array;
  /** Only the key equal to `prefix`, not every key it starts. */
  exact: boolean;
  found: [Uint8Array, Uint8Array][];
  visited: Set<bigint>;
}

/** A page that failed its check in step 2: damage, unless step 3 finds the holder overtook the read. */
class PageDamage extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

export class LmdbFileReader implements MetaStore {
  /** The file's page size, once its meta pages were read soundly (LMDB never changes it). */
  #pageBytes: number | null = null;
  readonly #handle: fsp.FileHandle;
  readonly #file: string;
  readonly #dir: string;

  private constructor(handle: fsp.FileHandle, file: string, dir: string) {
    this.#handle = handle;
    this.#file = file;
    this.#dir = dir;
  }

  /** Opens the store in `dir` for reading; its meta pages are checked now, so that a damaged file is ECORRUPT at open. */
  static async open(dir: string): Promise<LmdbFileReader> {
    const file = path.join(dir, 'data.mdb');
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (error) {
      throw fromIoError(error, dir);
    }
    const reader = new LmdbFileReader(handle, file, dir);
    try {
      await reader.#consistent(() => undefined);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return reader;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const wanted = encodeKey(key);
    const found = await this.#consistent((meta) => this.#collect(meta, wanted, true));
    return found[0]?.[1];
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    const prefixBytes = prefix === '' ? new Uint8Array(0) : encodeKey(prefix);
    const found = await this.#consistent((meta) => this.#collect(meta, prefixBytes, false));
    for (const [key, value] of found) yield [decodeKey(key), value];
  }

  /** Every entry of the store, in key order, as one commit left them (one read, steps 1 to 3), and that commit's transaction id. */
  async snapshot(): Promise<{ commitId: bigint; entries: [string, Uint8Array][] }> {
    const { commitId, found } = await this.#consistent((meta) => ({ commitId: meta.txnId, found: this.#collect(meta, new Uint8Array(0), false) }));
    return { commitId, entries: found.map(([key, value]) => [decodeKey(key), value]) };
  }

  /** The transaction id of the newest commit: it grows with every commit, so an id that changed says the holder committed. */
  async commitId(): Promise<bigint> {
    return this.#consistent((meta) => meta.txnId);
  }

  async commit(_ops: readonly MetaOp[]): Promise<void> {
    throw new FanlogError('EROFS', `${this.#dir} was opened read-only`);
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }

  /** Runs `read` on the newest snapshot until no commit overtook it (steps 1 to 3 of the header). */
  async #consistent<T>(read: (meta: Meta) => T): Promise<T> {
    for (let attempt = 1; attempt <= READ_TRIES; attempt++) {
      // A read the holder overtook is made again after a turn of the event loop, so that a slow moment (the holder's write-back) can pass.
      if (attempt > 1) await new Promise((resolve) => setImmediate(resolve));
      const before = this.#metaPages();
      const meta = newestMeta(readMetas(this.#file, before));
      this.#pageBytes = meta.pageBytes;
      let outcome: { value: T } | { damage: PageDamage };
      try {
        outcome = { value: read(meta) };
      } catch (error) {
        if (!(error instanceof PageDamage)) throw error;
        outcome = { damage: error };
      }
      if (!this.#overtaken(before, meta)) {
        if ('damage' in outcome) throw corrupt(this.#file, outcome.damage.offset, outcome.damage.message);
        return outcome.value;
      }
    }
    throw new FanlogError('EAGAIN', `${this.#file}: the engine's holder committed faster than the store could be read (${READ_TRIES} tries); try again`, {
      file: this.#file,
    });
  }

  /** Whether a commit since `before` may have rewritten pages of `meta`'s snapshot (step 3). */
  #overtaken(before: Uint8Array, meta: Meta): boolean {
    const after = this.#metaPages();
    const at = meta.slot * meta.pageBytes;
    if (after.byteLength < at + META_BYTES || !equalBytes(before.subarray(at, at + META_BYTES), after.subarray(at, at + META_BYTES))) return true;
    let metas: [Meta, Meta];
    try {
      metas = readMetas(this.#file, after);
    } catch {
      return true; // The next try reads them again, and reports damage that stays.
    }
    return metas[1 - meta.slot]!.txnId > meta.txnId + 1n;
  }

  /** The file's first bytes through the second meta page, read until two reads agree. */
  #metaPages(): Uint8Array {
    let last = this.#readMetaPages();
    for (let attempt = 1; attempt <= META_READ_TRIES; attempt++) {
      const again = this.#readMetaPages();
      if (equalBytes(last, again)) return again;
      last = again;
    }
    throw new FanlogError('EAGAIN', `${this.#file}: its meta pages changed on every read (${META_READ_TRIES} tries); try again`, { file: this.#file });
  }

  /** The bytes through the second meta page (shorter when the file is), in one read once the page size is known. */
  #readMetaPages(): Uint8Array {
    if (this.#pageBytes !== null) return this.#readAt(this.#pageBytes + META_BYTES, 0);
    const page0 = this.#readAt(META_BYTES, 0);
    const pageBytes = page0.byteLength >= 52 ? new DataView(page0.buffer, page0.byteOffset).getUint32(48, true) : 0;
    if (page0.byteLength < META_BYTES || pageBytes < META_BYTES || pageBytes > PAGE_BYTES_MAX) return page0; // readMetas says what is wrong
    const page1 = this.#readAt(META_BYTES, pageBytes);
    const bytes = new Uint8Array(pageBytes + page1.byteLength);
    bytes.set(page0, 0);
    bytes.set(page1, pageBytes);
    return bytes;
  }

  /** Every entry of `meta`'s main tree whose key starts with `prefix` (is `prefix`, when `exact`), in key order. */
  #collect(meta: Meta, prefix: Uint8Array, exact: boolean): [Uint8Array, Uint8Array][] {
    const found: [Uint8Array, Uint8Array][] = [];
    if (meta.mainRoot === NO_PAGE) return found;
    if (meta.mainDepth < 1 || meta.mainDepth > DEPTH_MAX)
      throw new PageDamage(meta.slot * meta.pageBytes + 102, `meta page ${meta.slot} gives the main tree an impossible depth ${meta.mainDepth}`);
    this.#walk({ meta, prefix, exact, found, visited: new Set() }, meta.mainRoot, 1);
    return found;
  }

  /** The in-order walk of step 2 from page `pageNumber` at `depth`, visiting only children whose key range can hold the prefix. */
  #walk(walk: Walk, pageNumber: bigint, depth: number): void {
    const { meta, prefix, exact, found, visited } = walk;
    // A sound tree reaches each page once: a page reached again is damage, and would make the walk's work grow without bound.
    if (visited.has(pageNumber)) throw new PageDamage(this.#pageOffset(meta, pageNumber), `page ${pageNumber} is reached twice in the tree`);
    visited.add(pageNumber);
    const nodes = this.#treePage(meta, pageNumber, depth);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if ('child' in node) {
        const next = nodes[i + 1];
        // Node i leads to keys from its own (node 0: the lowest) up to node i + 1's.
        if (next !== undefined && compareBytes(next.key, prefix) <= 0) continue;
        if (i > 0 && compareBytes(node.key, prefix) > 0 && !startsWith(node.key, prefix)) break;
        this.#walk(walk, node.child, depth + 1);
      } else if (exact ? compareBytes(node.key, prefix) === 0 : startsWith(node.key, prefix)) {
        found.push([node.key, this.#value(meta, node)]);
      } else if (compareBytes(node.key, prefix) > 0) {
        break;
      }
    }
  }

  /** Page `pageNumber` of `meta`'s tree, read and checked (step 2): its nodes. */
  #treePage(meta: Meta, pageNumber: bigint, depth: number): TreeNode[] {
    const at = this.#pageOffset(meta, pageNumber);
    const page = this.#readAt(meta.pageBytes, at);
    const decoded = decodeTreePage(page, pageNumber);
    if ('damage' in decoded) throw new PageDamage(at + decoded.offset, decoded.damage);
    if (decoded.txnId > meta.txnId)
      throw new PageDamage(at + 8, `page ${pageNumber} was written by transaction ${decoded.txnId}, after the snapshot's ${meta.txnId}`);
    const leafDepth = depth === meta.mainDepth;
    if ((decoded.kind === 'leaf') !== leafDepth)
      throw new PageDamage(at + 18, `page ${pageNumber} is a ${decoded.kind} page at depth ${depth} of a tree ${meta.mainDepth} deep`);
    for (let i = 1; i < decoded.nodes.length; i++) {
      if (compareBytes(decoded.nodes[i - 1]!.key, decoded.nodes[i]!.key) >= 0 && !(i === 1 && decoded.kind === 'branch')) {
        throw new PageDamage(at, `the keys of page ${pageNumber} are out of order at node ${i}`);
      }
    }
    return decoded.nodes;
  }

  /** A leaf node's value: in the node, or read from its overflow run (checked like a tree page). */
  #value(meta: Meta, node: TreeNode): Uint8Array {
    if ('value' in node) return node.value;
    assert('overflow' in node, 'a branch node has no value');
    const { page: first, pages, valueBytes } = node.overflow;
    const at = this.#pageOffset(meta, first);
    if (first + BigInt(pages) - 1n > meta.lastPage || valueBytes > pages * meta.pageBytes - PAGE_HEADER_BYTES) {
      throw new PageDamage(at, `an overflow run of ${pages} pages at page ${first} cannot hold a value of ${valueBytes} bytes in pages up to ${meta.lastPage}`);
    }
    const run = this.#readAt(PAGE_HEADER_BYTES + valueBytes, at);
    const header = pageHeader(run, first);
    if ('damage' in header) throw new PageDamage(at + header.offset, header.damage);
    if ((header.flags & P_OVERFLOW) === 0) throw new PageDamage(at + 18, `page ${first} is not an overflow page`);
    if (header.txnId > meta.txnId) throw new PageDamage(at + 8, `page ${first} was written by transaction ${header.txnId}, after the snapshot's ${meta.txnId}`);
    if (run.byteLength < PAGE_HEADER_BYTES + valueBytes)
      throw new PageDamage(at + run.byteLength, `the overflow run at page ${first} ends at the end of the file`);
    return run.slice(PAGE_HEADER_BYTES);
  }

  /** Where page `pageNumber` starts; a page the snapshot cannot hold is damage. */
  #pageOffset(meta: Meta, pageNumber: bigint): number {
    if (pageNumber < 2n || pageNumber > meta.lastPage)
      throw new PageDamage(meta.slot * meta.pageBytes + 144, `the tree names page ${pageNumber}, outside pages 2..${meta.lastPage}`);
    const offset = pageNumber * BigInt(meta.pageBytes);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new PageDamage(meta.slot * meta.pageBytes + 144, `the tree names page ${pageNumber}, beyond any file`);
    return Number(offset);
  }

  /** Up to `bytes` of the file at `position` (lmdb-file.ts readAt); an I/O error is a FanlogError naming the file. */
  #readAt(bytes: number, position: number): Uint8Array {
    try {
      return readAt(this.#handle.fd, bytes, position);
    } catch (error) {
      throw fromIoError(error, this.#file);
    }
  }
}

/** The bytes lmdb-js stores for the string key `key` (see the header). */
export function encodeKey(key: string): Uint8Array {
  const utf8 = new TextEncoder().encode(key);
  const bytes: number[] = [];
  if (!(key.charCodeAt(0) >= 28)) bytes.push(27);
  for (const byte of utf8) {
    if (byte <= 4 && key.length < 64) bytes.push(4);
    bytes.push(byte);
  }
  return Uint8Array.from(bytes);
}

/** The string key lmdb-js stored as `bytes` (the inverse of encodeKey). */
export function decodeKey(bytes: Uint8Array): string {
  const plain: number[] = [];
  for (let i = bytes[0] === 27 ? 1 : 0; i < bytes.length; i++) {
    if (bytes[i] === 4 && i + 1 < bytes.length && bytes[i + 1]! <= 4) i++;
    plain.push(bytes[i]!);
  }
  return new TextDecoder().decode(Uint8Array.from(plain));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && compareBytes(bytes.subarray(0, prefix.length), prefix) === 0;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}
