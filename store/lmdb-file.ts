/**
 * The LMDB data file, as fanlog reads it without LMDB: its meta pages,
 * checked before lmdb maps the file (a damaged header or a file shorter
 * than its pages makes LMDB crash the process, SIGSEGV on a zeroed meta
 * page, SIGBUS on a truncated file, instead of returning an error), and
 * its tree pages, which lmdb-reader.ts walks to read a store without
 * opening an LMDB environment.
 *
 * The format is that of the LMDB lmdb-js builds (mdb.c of its
 * dependencies/lmdb, data format version 2, 64-bit, little-endian). Every
 * page starts with a 24-byte header:
 *
 *   offset  size  field
 *   0       8     page number
 *   8       8     txnid: the transaction that wrote the page (unused in meta pages)
 *   16      2     pad
 *   18      2     flags: P_BRANCH 0x01, P_LEAF 0x02, P_OVERFLOW 0x04, P_META 0x08
 *   20      2     lower: 2 x the node count (branch, leaf); for P_OVERFLOW,
 *   22      2     upper:   bytes 20..23 are the run's page count (u32)
 *
 * Pages 0 and 1 are meta pages, written alternately by commits (the
 * transaction with id N writes page N % 2); the newer one is the database.
 * After the header:
 *
 *   offset  size  field
 *   24      4     magic 0xBEEFC0DE
 *   28      4     data format version (low 16 bits: 2)
 *   48      4     page size (the free DB's md_pad)
 *   88      8     free DB root page (all ones: empty)
 *   102     2     main DB depth (levels of pages, leaves included)
 *   136     8     main DB root page (all ones: empty)
 *   144     8     last used page
 *   152     8     transaction id
 *
 * A commit writes its pages first and its meta page last, in place with
 * one pwrite of bytes 40..167.
 *
 * Branch and leaf pages hold `lower / 2` nodes; node i starts at byte
 * 24 + the u16 at 24 + 2i (offsets count from the end of the header), in
 * ascending key order:
 *
 *   offset  size  field
 *   0       2     lo  } leaf: the value's size, lo | hi << 16;
 *   2       2     hi  } branch: the child's page number, lo | hi << 16 | flags << 32
 *   4       2     flags (leaf): F_BIGDATA 0x01 (value on overflow pages),
 *                 F_SUBDATA 0x02 and F_DUPDATA 0x04 (never written by fanlog)
 *   6       2     key size
 *   8       ...   key, then (leaf) the value, or for F_BIGDATA the overflow
 *                 run: page number (8), txnid (8), page count (8)
 *
 * A branch's node i leads to the keys from its key (node 0: from the
 * lowest) up to node i + 1's. An overflow run's value starts at byte 24 of
 * its first page and runs on through the next pages.
 *
 * The file check's rules: both meta pages must be sound (LMDB refuses, or
 * crashes on, one that is not); the page size a power of two from 512 to
 * 65536 and the same in both; every page either meta names (roots, last
 * page) inside the file. The meta pages are read before the file's size:
 * a commit writes the pages it adds before the meta page that names them,
 * so a size read after a meta page covers it, while one read before could
 * miss a commit that grew the file in between and look truncated. Anything
 * else is ECORRUPT with the file and the byte offset.
 */
import { promises as fsp, readSync } from 'node:fs';
import { corrupt } from '../errors.js';

export const PAGE_HEADER_BYTES = 24;
const META_MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
const P_META = 0x08;
export const F_BIGDATA = 0x01;
export const NO_PAGE = 0xffff_ffff_ffff_ffffn;
/** Where page 1 may start: LMDB uses the OS page size, which fanlog's platforms keep at 4 KiB or a power of two near it. */
const PAGE_BYTES_MIN = 512;
export const PAGE_BYTES_MAX = 65536;
/** The bytes of a meta page that fanlog reads (header and meta, through the transaction id). */
export const META_BYTES = 160;
/** The bytes a node's header takes before its key. */
const NODE_HEADER_BYTES = 8;
/** An F_BIGDATA node's value: the overflow run's page number, txnid and page count. */
const OVERFLOW_REF_BYTES = 24;

export interface Meta {
  /** Which meta page (0 or 1), or 2 for the flushed copy in page 0 (readFlushedMeta). */
  slot: number;
  /** Where the meta's page starts in the file: its fields are at the offsets of the header above from here. */
  at: number;
  pageBytes: number;
  freeRoot: bigint;
  freeDepth: number;
  /** The free DB's flags, which LMDB shares with its persistent environment flags. */
  freeFlags: number;
  mainRoot: bigint;
  mainDepth: number;
  mainFlags: number;
  lastPage: bigint;
  txnId: bigint;
}

/** Decodes and checks meta page `slot` from `page` (at least META_BYTES of it), which starts at byte `at` of `file`. */
export function readMeta(file: string, page: Uint8Array, slot: number, at: number): Meta {
  if (page.byteLength < META_BYTES) throw corrupt(file, at, `meta page ${slot} is incomplete`);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (view.getBigUint64(0, true) !== BigInt(slot)) throw corrupt(file, at, `meta page ${slot} names itself page ${view.getBigUint64(0, true)}`);
  if ((view.getUint16(18, true) & P_META) === 0) throw corrupt(file, at + 18, `page ${slot} is not a meta page`);
  if (view.getUint32(24, true) !== META_MAGIC) throw corrupt(file, at + 24, `meta page ${slot} has a bad magic number`);
  const version = view.getUint32(28, true) & 0xffff;
  if (version !== DATA_VERSION) throw corrupt(file, at + 28, `meta page ${slot} has data format version ${version}, not ${DATA_VERSION}`);
  return metaFields(file, view, slot, at);
}

/** The fields of a meta page from byte 40 on (those a commit writes), checked: the page size, and the roots inside the pages in use. */
function metaFields(file: string, view: DataView, slot: number, at: number): Meta {
  const pageBytes = view.getUint32(48, true);
  if (pageBytes < PAGE_BYTES_MIN || pageBytes > PAGE_BYTES_MAX || (pageBytes & (pageBytes - 1)) !== 0) {
    throw corrupt(file, at + 48, `meta page ${slot} has an impossible page size ${pageBytes}`);
  }
  const meta: Meta = {
    slot,
    at,
    pageBytes,
    freeRoot: view.getBigUint64(88, true),
    freeDepth: view.getUint16(54, true),
    freeFlags: view.getUint16(52, true),
    mainRoot: view.getBigUint64(136, true),
    mainDepth: view.getUint16(102, true),
    mainFlags: view.getUint16(100, true),
    lastPage: view.getBigUint64(144, true),
    txnId: view.getBigUint64(152, true),
  };
  for (const [name, root, offset] of [
    ['free', meta.freeRoot, 88],
    ['main', meta.mainRoot, 136],
  ] as const) {
    if (root !== NO_PAGE && (root < 2n || root > meta.lastPage)) {
      throw corrupt(file, at + offset, `meta page ${slot} puts the ${name} tree's root at page ${root}, outside pages 2..${meta.lastPage}`);
    }
  }
  return meta;
}

/**
 * Both meta pages from the first bytes of the file (`first`: through
 * META_BYTES past the second page's start, or all the file has), checked
 * against each other.
 */
export function readMetas(file: string, first: Uint8Array): [Meta, Meta] {
  if (first.byteLength < META_BYTES) throw corrupt(file, first.byteLength, `the file is ${first.byteLength} bytes, shorter than a meta page`);
  const meta0 = readMeta(file, first.subarray(0, META_BYTES), 0, 0);
  const pageBytes = meta0.pageBytes;
  if (first.byteLength < pageBytes + META_BYTES) {
    throw corrupt(file, first.byteLength, `the file is ${first.byteLength} bytes, shorter than its two meta pages of ${pageBytes}`);
  }
  const meta1 = readMeta(file, first.subarray(pageBytes, pageBytes + META_BYTES), 1, pageBytes);
  if (meta1.pageBytes !== pageBytes) throw corrupt(file, pageBytes + 48, `the meta pages disagree on the page size (${pageBytes}, ${meta1.pageBytes})`);
  return [meta0, meta1];
}

/**
 * The flushed meta of lmdb-js's LMDB: with overlapping sync (lmdb-js's
 * default on Linux), each sync writes the synced transaction's meta fields
 * (bytes 40 on) into page 0 at half the page size, and LMDB's open may
 * choose it over pages 0 and 1 (mdb.c, mdb_env_read_header and
 * mdb_env_pick_meta): after a reboot it rolls back to the newest snapshot
 * known synced. A transaction id of zero means none was written; LMDB
 * then never picks it. `first` is as for readMetas.
 */
export function readFlushedMeta(file: string, first: Uint8Array, pageBytes: number): Meta | null {
  const at = pageBytes / 2;
  if (first.byteLength < at + META_BYTES) throw corrupt(file, first.byteLength, `the file is ${first.byteLength} bytes, shorter than its meta pages`);
  const view = new DataView(first.buffer, first.byteOffset + at, META_BYTES);
  if (view.getBigUint64(152, true) === 0n) return null;
  const meta = metaFields(file, view, 2, at);
  if (meta.pageBytes !== pageBytes)
    throw corrupt(file, at + 48, `the flushed meta (transaction ${meta.txnId}) gives the page size ${meta.pageBytes}, not ${pageBytes}`);
  return meta;
}

/** The meta page a reader uses: the one the newer transaction wrote. */
export function newestMeta(metas: readonly [Meta, Meta]): Meta {
  return metas[0].txnId >= metas[1].txnId ? metas[0] : metas[1];
}

/**
 * Reads up to `bytes` from the open file `fd` at `position`: fewer at the
 * end of the file. Synchronous, as LMDB's own reads from its map are: a
 * read of the store must end before the holder's next commits overtake it
 * (lmdb-reader.ts), and a round trip through libuv's threads per page
 * would let them.
 */
export function readAt(fd: number, bytes: number, position: number): Uint8Array {
  const buffer = new Uint8Array(bytes);
  let filled = 0;
  while (filled < bytes) {
    const bytesRead = readSync(fd, buffer, filled, bytes - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/**
 * Checks the LMDB data file `file` as described above; resolves when LMDB
 * may map it. A missing file is fine (LMDB creates it).
 */
export async function checkLmdbFile(file: string): Promise<void> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    // The meta pages first, then the size (see the header).
    const metas = readMetas(file, readAt(handle.fd, PAGE_BYTES_MAX + META_BYTES, 0));
    const fileBytes = (await handle.stat()).size;
    const pages = BigInt(Math.floor(fileBytes / metas[0].pageBytes));
    for (const meta of metas) {
      if (meta.lastPage >= pages) {
        throw corrupt(
          file,
          fileBytes,
          `meta page ${meta.slot} (transaction ${meta.txnId}) uses pages up to ${meta.lastPage}, but the file holds ${pages} (truncated)`,
        );
      }
    }
  } finally {
    await handle.close();
  }
}

/** One node of a branch or leaf page, as decoded: its key, and its child page (branch) or value (leaf). */
export type TreeNode =
  | { key: Uint8Array; child: bigint }
  | { key: Uint8Array; value: Uint8Array }
  | { key: Uint8Array; overflow: { page: bigint; txnId: bigint; pages: number; valueBytes: number } };

/** A branch or leaf page, decoded; or why it is not one (the reader decides whether that is damage or a page rewritten under it). */
export type TreePage = { kind: 'branch' | 'leaf'; txnId: bigint; nodes: TreeNode[] } | { damage: string; offset: number };

/** The header of `page`, read from where page number `pageNumber` belongs: its txnid and flags, or why it is not page `pageNumber`. */
export function pageHeader(page: Uint8Array, pageNumber: bigint): { txnId: bigint; flags: number; view: DataView } | { damage: string; offset: number } {
  if (page.byteLength < PAGE_HEADER_BYTES) return { damage: `page ${pageNumber} is beyond the end of the file`, offset: 0 };
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const named = view.getBigUint64(0, true);
  if (named !== pageNumber) return { damage: `page ${pageNumber} names itself page ${named}`, offset: 0 };
  return { txnId: view.getBigUint64(8, true), flags: view.getUint16(18, true), view };
}

/** Decodes branch or leaf page `pageNumber` (all its bytes in `page`), with every length checked against the page. */
export function decodeTreePage(page: Uint8Array, pageNumber: bigint): TreePage {
  const header = pageHeader(page, pageNumber);
  if ('damage' in header) return header;
  const { view, flags, txnId } = header;
  const kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META);
  if (kind !== P_BRANCH && kind !== P_LEAF) return { damage: `page ${pageNumber} is not a branch or leaf page (flags 0x${flags.toString(16)})`, offset: 18 };
  const lower = view.getUint16(20, true);
  const upper = view.getUint16(22, true);
  const room = page.byteLength - PAGE_HEADER_BYTES;
  if (lower % 2 !== 0 || lower > upper || upper > room) return { damage: `page ${pageNumber} has impossible bounds ${lower}..${upper}`, offset: 20 };
  const nodes: TreeNode[] = [];
  for (let i = 0; i < lower / 2; i++) {
    const at = PAGE_HEADER_BYTES + view.getUint16(PAGE_HEADER_BYTES + 2 * i, true);
    if (at < PAGE_HEADER_BYTES + upper || at + NODE_HEADER_BYTES > page.byteLength)
      return { damage: `node ${i} of page ${pageNumber} lies outside its nodes`, offset: PAGE_HEADER_BYTES + 2 * i };
    const node = decodeNode(page, view, at, kind === P_BRANCH);
    if (typeof node === 'string') return { damage: `node ${i} of page ${pageNumber} ${node}`, offset: at };
    nodes.push(node);
  }
  return { kind: kind === P_BRANCH ? 'branch' : 'leaf', txnId, nodes };
}

/** The node at byte `at` of `page`, or what is wrong with it. */
function decodeNode(page: Uint8Array, view: DataView, at: number, branch: boolean): TreeNode | string {
  const lo = view.getUint16(at, true);
  const hi = view.getUint16(at + 2, true);
  const flags = view.getUint16(at + 4, true);
  const keyBytes = view.getUint16(at + 6, true);
  const keyAt = at + NODE_HEADER_BYTES;
  if (keyAt + keyBytes > page.byteLength) return `has a key of ${keyBytes} bytes that runs past the page`;
  const key = page.slice(keyAt, keyAt + keyBytes);
  if (branch) return { key, child: BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(flags) << 32n) };
  const valueBytes = lo + hi * 0x10000;
  const valueAt = keyAt + keyBytes;
  if ((flags & ~F_BIGDATA) !== 0) return `has flags 0x${flags.toString(16)} (a sub-database or duplicates, which fanlog never writes)`;
  if ((flags & F_BIGDATA) === 0) {
    if (valueAt + valueBytes > page.byteLength) return `has a value of ${valueBytes} bytes that runs past the page`;
    return { key, value: page.slice(valueAt, valueAt + valueBytes) };
  }
  if (valueAt + OVERFLOW_REF_BYTES > page.byteLength) return 'has an overflow reference that runs past the page';
  const pages = view.getBigUint64(valueAt + 16, true);
  if (pages < 1n || pages > 0xffff_ffffn) return `has an overflow run of ${pages} pages`;
  return { key, overflow: { page: view.getBigUint64(valueAt, true), txnId: view.getBigUint64(valueAt + 8, true), pages: Number(pages), valueBytes } };
}
