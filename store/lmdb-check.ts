/**
 * The check of an lmdb data file before LMDB opens it writable (lmdb.ts).
 *
 * LMDB trusts its file: on a damaged page it aborts (`Assertion
 * 'IS_LEAF(mp)' failed in mdb_cursor_next()`), dies by SIGSEGV or SIGBUS,
 * or loops, where fanlog promises ECORRUPT (issue 26). So before the
 * environment is opened, every page that LMDB may reach in the snapshot
 * it will use is read and checked here, with the page decoder the
 * read-only reader uses (lmdb-file.ts decodeTreePage), and damage is
 * ECORRUPT naming data.mdb and the byte offset. The open holds the
 * engine's lock, so nothing writes the file meanwhile.
 *
 * Which snapshots. lmdb-js opens with overlapping sync, and LMDB, when it
 * is the only process with the environment open, may then roll back from
 * the newest meta page to the older one or to the flushed meta in page 0
 * (lmdb-file.ts readFlushedMeta) if the newest was written before a
 * reboot. So each of them (the flushed one when it was written) is checked
 * as a snapshot of its own: a sound file keeps all of them intact (pages
 * are reused only once freed before the last synced transaction, mdb.c
 * mdb_find_oldest).
 *
 * What a snapshot's check covers:
 *   - the meta's records: the free DB's flags are INTEGERKEY and no other
 *     DB flag, the main DB's none (fanlog never opens sub-databases nor
 *     duplicates); depths from 1 to 32 for a tree, 0 for none;
 *   - every page of the main tree and of the free DB's tree: its number,
 *     its flags exactly a branch or a leaf page (LMDB keeps more flag bits
 *     in memory only), its kind for its depth, a txnid no newer than the
 *     snapshot's (LMDB takes a page with its own transaction's id for a
 *     dirty one and writes into the read-only map), bounds and nodes inside
 *     the page, nodes that tile the page's free end exactly as LMDB lays
 *     them out, keys in order and inside the range the parent gives;
 *   - every overflow run: its first page's number, flags, txnid, and page
 *     count, which must be what the value's size needs (LMDB frees the run
 *     by that count);
 *   - each page reached once: no cycles, no page in two places;
 *   - the free DB's values (lists of free pages, read by LMDB's allocator
 *     without checking their length): a count that fits the value, and
 *     pages, or runs of pages, inside the snapshot and not in its trees
 *     (LMDB would write over a live page).
 *
 * It does not check keys' or values' contents (fanlog's sealed values
 * carry checksums, checked at read), nor pages no snapshot reaches (LMDB
 * reads no such page: a free page is written before it is read).
 */
import {
  readAt,
  decodeTreePage,
  F_BIGDATA,
  type Meta,
  NO_PAGE,
  P_BRANCH,
  P_LEAF,
  P_OVERFLOW,
  PAGE_HEADER_BYTES,
  pageHeader,
  readFlushedMeta,
  readMetas,
} from './lmdb-file.js';
import { corrupt } from '../errors.js';
import { openSync, closeSync, fstatSync } from 'node:fs';
import { PAGE_BYTES_MAX, META_BYTES } from './lmdb-file.js';

/** LMDB's cursors hold at most 32 levels: a deeper tree is damage. */
const DEPTH_MAX = 32;
/** The DB flags kept in a meta's DB records (REVERSEKEY to REVERSEDUP); the rest of the free DB's flags are the environment's. */
const DB_FLAGS = 0x7e;
const MDB_INTEGERKEY = 0x08;
/** A node's header (before its key) and the overflow reference of an F_BIGDATA node (page, txnid, page count). */
const NODE_HEADER_BYTES = 8;
const OVERFLOW_REF_BYTES = 24;

/** A page that failed its check, with where in the file. */
class Damage extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** One snapshot's check: its meta, the open file, and which pages its trees and free list hold so far. */
interface Snapshot {
  meta: Meta;
  fd: number;
  /** 1 for a page of a tree or an overflow run, indexed by page number. */
  used: Uint8Array;
}

/** Checks every snapshot LMDB may open in `file` (see the header); ECORRUPT with the file and the offset on damage. A missing file is fine. */
export function checkLmdbStore(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const first = readAt(fd, PAGE_BYTES_MAX + META_BYTES, 0);
    const metas: Meta[] = readMetas(file, first);
    const flushed = readFlushedMeta(file, first, metas[0]!.pageBytes);
    if (flushed !== null) metas.push(flushed);
    const pages = BigInt(Math.floor(fstatSync(fd).size / metas[0]!.pageBytes));
    for (const meta of metas) {
      if (meta.lastPage >= pages)
        throw corrupt(
          file,
          meta.at + 144,
          `the meta at byte ${meta.at} (transaction ${meta.txnId}) uses pages up to ${meta.lastPage}, but the file holds ${pages} (truncated)`,
        );
      try {
        checkSnapshot({ meta, fd, used: new Uint8Array(Number(meta.lastPage) + 1) });
      } catch (error) {
        if (error instanceof Damage) throw corrupt(file, error.offset, `${error.message} (snapshot of transaction ${meta.txnId})`);
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function checkSnapshot(snapshot: Snapshot): void {
  const { meta } = snapshot;
  if ((meta.freeFlags & (DB_FLAGS | 0x01)) !== MDB_INTEGERKEY) throw new Damage(meta.at + 52, `the free DB has flags 0x${meta.freeFlags.toString(16)}`);
  if (meta.mainFlags !== 0) throw new Damage(meta.at + 100, `the main DB has flags 0x${meta.mainFlags.toString(16)}, which fanlog never sets`);
  snapshot.used[0] = 1;
  snapshot.used[1] = 1;
  const free: Uint8Array[] = [];
  for (const [name, root, depth, at] of [
    ['main', meta.mainRoot, meta.mainDepth, 102],
    ['free', meta.freeRoot, meta.freeDepth, 54],
  ] as const) {
    if (root === NO_PAGE ? depth !== 0 : depth < 1 || depth > DEPTH_MAX)
      throw new Damage(meta.at + at, `the ${name} DB has depth ${depth} for root ${root === NO_PAGE ? 'none' : root}`);
    if (root !== NO_PAGE) walk(snapshot, { depth, values: name === 'free' ? free : null }, root, 1, null, null);
  }
  // The free pages last, once every page of the trees is known.
  for (const value of free) checkFreeList(snapshot, value);
}

/** A tree being walked: its depth, and where the free DB's values go (null for the main tree, whose values fanlog checks at read). */
interface Tree {
  depth: number;
  values: Uint8Array[] | null;
}

/** Checks page `pageNumber` at `level` and below, whose keys must lie in [low, high) (null: unbounded); returns its first and last keys. */
function walk(snapshot: Snapshot, tree: Tree, pageNumber: bigint, level: number, low: Uint8Array | null, high: Uint8Array | null): [Uint8Array, Uint8Array] {
  const { meta } = snapshot;
  const at = claim(snapshot, pageNumber, 1, meta.at + 136);
  const page = readAt(snapshot.fd, meta.pageBytes, at);
  const decoded = decodeTreePage(page, pageNumber);
  if ('damage' in decoded) throw new Damage(at + decoded.offset, decoded.damage);
  const flags = page[18]! | (page[19]! << 8);
  if (flags !== P_BRANCH && flags !== P_LEAF)
    throw new Damage(at + 18, `page ${pageNumber} has flags 0x${flags.toString(16)}, not those of a branch or leaf page on disk`);
  if (decoded.txnId > meta.txnId)
    throw new Damage(at + 8, `page ${pageNumber} was written by transaction ${decoded.txnId}, after the snapshot's ${meta.txnId}`);
  if ((decoded.kind === 'leaf') !== (level === tree.depth))
    throw new Damage(at + 18, `page ${pageNumber} is a ${decoded.kind} page at depth ${level} of a tree ${tree.depth} deep`);
  const { nodes } = decoded;
  if (nodes.length === 0 || (decoded.kind === 'branch' && nodes.length < 2 && level > 1))
    throw new Damage(at + 20, `page ${pageNumber} holds ${nodes.length} nodes`);
  checkTiling(page, pageNumber, at, decoded.kind === 'leaf');
  const keys = (i: number): Uint8Array => (i === 0 && decoded.kind === 'branch' ? (low ?? new Uint8Array(0)) : nodes[i]!.key);
  for (let i = 0; i < nodes.length; i++) {
    const key = keys(i);
    const bad =
      (i > 0 && compare(keys(i - 1), key, tree) >= 0) || (low !== null && compare(key, low, tree) < 0) || (high !== null && compare(key, high, tree) >= 0);
    if (bad && !(i === 0 && decoded.kind === 'branch'))
      throw new Damage(at, `the keys of page ${pageNumber} are out of order, or outside its parent's range, at node ${i}`);
  }
  let firstKey = keys(0);
  let lastKey = nodes[nodes.length - 1]!.key;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if ('child' in node) {
      const [first, last] = walk(snapshot, tree, node.child, level + 1, i === 0 ? low : node.key, i + 1 < nodes.length ? nodes[i + 1]!.key : high);
      if (i === 0) firstKey = first;
      lastKey = last;
    } else if ('overflow' in node) {
      const value = checkOverflow(snapshot, node.overflow, at);
      tree.values?.push(value ?? new Uint8Array(0));
    } else if (tree.values !== null) {
      tree.values.push(node.value);
    }
    if (tree.values !== null && !('child' in node) && node.key.byteLength !== 8)
      throw new Damage(at, `the free DB's key at node ${i} of page ${pageNumber} is ${node.key.byteLength} bytes, not 8`);
  }
  return [firstKey, lastKey];
}

/** Keys in the tree's order: the main DB's bytes, the free DB's 8-byte native (little-endian) integers. */
function compare(a: Uint8Array, b: Uint8Array, tree: Tree): number {
  if (tree.values !== null && a.byteLength === 8 && b.byteLength === 8) {
    const x = new DataView(a.buffer, a.byteOffset, 8).getBigUint64(0, true);
    const y = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * The nodes of a branch or leaf page fill the bytes from its upper bound
 * to its end exactly, each its header, key and (leaf) value or overflow
 * reference, rounded to an even size (mdb.c, mdb_node_add and
 * mdb_node_del keep them so): LMDB moves nodes by these sizes.
 */
function checkTiling(page: Uint8Array, pageNumber: bigint, at: number, leaf: boolean): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const count = view.getUint16(20, true) / 2;
  const spans: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const start = PAGE_HEADER_BYTES + view.getUint16(PAGE_HEADER_BYTES + 2 * i, true);
    const keyBytes = view.getUint16(start + 6, true);
    let size = NODE_HEADER_BYTES + keyBytes;
    if (leaf)
      size +=
        (view.getUint16(start + 4, true) & F_BIGDATA) !== 0 ? OVERFLOW_REF_BYTES : view.getUint16(start, true) + view.getUint16(start + 2, true) * 0x10000;
    spans.push([start, start + size + (size % 2)]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let next = PAGE_HEADER_BYTES + view.getUint16(22, true);
  for (const [start, end] of spans) {
    if (start !== next) throw new Damage(at + start, `the nodes of page ${pageNumber} do not fill it (a node at byte ${start}, expected at ${next})`);
    next = end;
  }
  if (next !== page.byteLength) throw new Damage(at + 22, `the nodes of page ${pageNumber} end at byte ${next}, not at the page's end`);
}

/** Checks an overflow run and claims its pages; returns the value when the tree keeps values (the free DB's). */
function checkOverflow(snapshot: Snapshot, run: { page: bigint; txnId: bigint; pages: number; valueBytes: number }, nodePage: number): Uint8Array | null {
  const { meta } = snapshot;
  const needed = Math.floor((PAGE_HEADER_BYTES - 1 + run.valueBytes) / meta.pageBytes) + 1;
  if (run.pages !== needed) throw new Damage(nodePage, `an overflow reference to page ${run.page} counts ${run.pages} pages for a value that needs ${needed}`);
  const at = claim(snapshot, run.page, run.pages, nodePage);
  const head = readAt(snapshot.fd, PAGE_HEADER_BYTES, at);
  const header = pageHeader(head, run.page);
  if ('damage' in header) throw new Damage(at + header.offset, header.damage);
  if (header.flags !== P_OVERFLOW) throw new Damage(at + 18, `page ${run.page} has flags 0x${header.flags.toString(16)}, not an overflow page's`);
  if (header.txnId > meta.txnId) throw new Damage(at + 8, `page ${run.page} was written by transaction ${header.txnId}, after the snapshot's ${meta.txnId}`);
  const counted = header.view.getUint32(20, true);
  if (counted !== run.pages) throw new Damage(at + 20, `the overflow run at page ${run.page} counts ${counted} pages, its reference ${run.pages}`);
  return readAt(snapshot.fd, run.valueBytes, at + PAGE_HEADER_BYTES);
}

/** Marks `count` pages from `pageNumber` as the snapshot's; each once, inside the snapshot. Returns where the first starts. */
function claim(snapshot: Snapshot, pageNumber: bigint, count: number, referencedAt: number): number {
  const { meta, used } = snapshot;
  if (pageNumber < 2n || pageNumber + BigInt(count) - 1n > meta.lastPage)
    throw new Damage(referencedAt, `a reference to page ${pageNumber} (${count} pages) lies outside pages 2..${meta.lastPage}`);
  const first = Number(pageNumber);
  for (let p = first; p < first + count; p++) {
    if (used[p] !== 0) throw new Damage(p * meta.pageBytes, `page ${p} is reached twice in the snapshot`);
    used[p] = 1;
  }
  return first * meta.pageBytes;
}

/**
 * One free DB value: a count, then that many entries, each a free page or,
 * when negative, minus the length of a run whose first page follows
 * (midl.c mdb_midl_xmerge). Every page must lie inside the snapshot and
 * outside its trees.
 */
function checkFreeList(snapshot: Snapshot, value: Uint8Array): void {
  const { meta, used } = snapshot;
  const where = meta.at + 88;
  if (value.byteLength < 8 || value.byteLength % 8 !== 0) throw new Damage(where, `a free list of ${value.byteLength} bytes`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const count = view.getBigUint64(0, true);
  if (count > BigInt(value.byteLength / 8 - 1)) throw new Damage(where, `a free list counts ${count} entries in ${value.byteLength} bytes`);
  for (let i = 1; i <= Number(count); i++) {
    let entry = view.getBigInt64(i * 8, true);
    let length = 1n;
    if (entry === 0n) continue;
    if (entry < 0n) {
      if (i === Number(count)) throw new Damage(where, 'a free list ends with a run length');
      length = -entry;
      entry = view.getBigInt64(++i * 8, true);
    }
    if (entry < 2n || entry + length - 1n > meta.lastPage)
      throw new Damage(where, `a free list names pages ${entry}..${entry + length - 1n}, outside pages 2..${meta.lastPage}`);
    for (let p = Number(entry); p < Number(entry + length); p++) {
      if (used[p] === 1) throw new Damage(p * meta.pageBytes, `page ${p} is both free and in use`);
    }
  }
}
