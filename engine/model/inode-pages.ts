/**
 * Inodes as a checkpoint stores them (format 3): binary, in pages.
 *
 * Page `p` holds the inodes numbered [p * PAGE_INODES, (p + 1) * PAGE_INODES)
 * that exist and encode to at most LARGE_INODE_BYTES, in increasing number
 * order, under one key (`fs/page/<p, 16 hex>`). An inode that encodes to
 * more (a directory with many entries) is stored alone, under
 * `fs/large/<ino, 16 hex>`, so that a big directory and its page
 * neighbours never rewrite one another. Loading is one scan of each
 * prefix: a key's overhead (the store's cursor, a buffer, an envelope's
 * CRC) is paid per page, not per inode.
 *
 * What a page costs a checkpoint: a page is rewritten whole when any of its
 * inodes changed, so a checkpoint writes at most PAGE_INODES small inodes
 * (≤ 16 × 1 KiB) per changed one: the price of loading in bulk. Inode
 * numbers only grow, so new files fill the newest pages and a workload
 * that creates writes each page about once.
 *
 * Value layouts (varints are unsigned LEB128; u64 little-endian; a string
 * is a varint byte length then UTF-8; bytes likewise):
 *   page       u8 PAGE_FORMAT, u32 count, then `count` inodes
 *   large      u8 PAGE_FORMAT, then one inode
 *   inode      varint ino, varint gen, u8 type (0 file, 1 dir, 2 symlink),
 *              varint mode, uid, gid, size, nlink, parent,
 *              u64 atime, mtime, ctime,
 *              then by type: a file's offline ranges (varint n, n × (varint
 *              start, varint end)); a directory's entries (varint n, n ×
 *              (string name, varint ino)); a symlink's target (string);
 *              then xattrs (varint n, n × (string name, bytes value))
 * Every value is sealed by the store (checksum over key and payload);
 * decoding still checks every length and count against the value's end,
 * so that a value this version cannot read is an error, never a wrong
 * inode.
 */
import { ByteWriter } from '../../journal/byte-writer.js';
import { readU64 } from '../../journal/frame.js';
import type { Inode, InodeType } from './inode.js';
import { RangeSet } from './ranges.js';

/** Inodes per page: ext4 keeps 16 in a 4 KiB block of its inode table. */
export const PAGE_INODES = 16;
/** An inode encoding to more than this is stored under a key of its own. */
export const LARGE_INODE_BYTES = 1024;
const PAGE_FORMAT = 1;
const TYPES: readonly InodeType[] = ['file', 'dir', 'symlink'];
const TYPE_CODES: Readonly<Record<InodeType, number>> = { file: 0, dir: 1, symlink: 2 };
/** Used on ASCII only, where every single-byte decoder agrees. */
const ascii = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function pageOf(ino: number): number {
  return Math.floor(ino / PAGE_INODES);
}

/**
 * Builds page values: `start`, `add` each inode of the page in number
 * order, `finish`. One writer serves every page of a checkpoint.
 */
export class PageWriter {
  readonly #w = new ByteWriter(16 * 1024);
  #countAt = 0;
  #count = 0;

  start(): void {
    this.#w.truncate(0);
    this.#w.byte(PAGE_FORMAT);
    this.#countAt = this.#w.skip(4);
    this.#count = 0;
  }

  /** Adds `inode` to the page; returns null, or, when it is too large for a page, its own value (and leaves it out). */
  add(inode: Inode): Uint8Array | null {
    const w = this.#w;
    const at = w.length;
    writeInode(w, inode);
    if (w.length - at <= LARGE_INODE_BYTES) {
      this.#count++;
      return null;
    }
    const value = new Uint8Array(1 + w.length - at);
    value[0] = PAGE_FORMAT;
    value.set(w.buffer.subarray(at, w.length), 1);
    w.truncate(at);
    return value;
  }

  /** The page's value; null when it holds no inode (its key is deleted). */
  finish(): Uint8Array | null {
    if (this.#count === 0) return null;
    this.#w.u32At(this.#countAt, this.#count);
    return this.#w.copy();
  }
}

function writeInode(w: ByteWriter, inode: Inode): void {
  w.varint(inode.ino);
  w.varint(inode.gen);
  w.byte(TYPE_CODES[inode.type]);
  w.varint(inode.mode);
  w.varint(inode.uid);
  w.varint(inode.gid);
  w.varint(inode.size);
  w.varint(inode.nlink);
  w.varint(inode.parent);
  w.u64(inode.atime);
  w.u64(inode.mtime);
  w.u64(inode.ctime);
  if (inode.type === 'file') {
    const ranges = inode.offline.toArray();
    w.varint(ranges.length);
    for (const [start, end] of ranges) {
      w.varint(start);
      w.varint(end);
    }
  } else if (inode.type === 'dir') {
    w.varint(inode.entries!.size);
    for (const [name, ino] of inode.entries!) {
      w.string(name);
      w.varint(ino);
    }
  } else {
    w.string(inode.target!);
  }
  w.varint(inode.xattrs.size);
  for (const [name, value] of inode.xattrs) {
    w.string(name);
    w.bytes(value);
  }
}

/** The inodes of a page's value, in order; throws an Error saying what is wrong when it cannot be read. */
export function decodePage(bytes: Uint8Array): Inode[] {
  const r = new ValueReader(bytes);
  r.format();
  const count = r.u32();
  if (count > bytes.length) throw new Error(`a page of ${bytes.length} bytes cannot hold ${count} inodes`);
  const inodes: Inode[] = [];
  for (let i = 0; i < count; i++) inodes.push(r.inode());
  r.end();
  return inodes;
}

/** The inode of a large inode's value. */
export function decodeLarge(bytes: Uint8Array): Inode {
  const r = new ValueReader(bytes);
  r.format();
  const inode = r.inode();
  r.end();
  return inode;
}

/** Reads a value front to back, checking each step against its end. */
class ValueReader {
  at = 0;
  readonly #b: Uint8Array;

  constructor(b: Uint8Array) {
    this.#b = b;
  }

  #need(count: number): number {
    if (count > this.#b.length - this.at) throw new Error(`truncated at byte ${this.at}`);
    const at = this.at;
    this.at += count;
    return at;
  }

  format(): void {
    const format = this.#b[this.#need(1)];
    if (format !== PAGE_FORMAT) throw new Error(`inode format ${format} unknown`);
  }

  u32(): number {
    const at = this.#need(4);
    return (this.#b[at]! | (this.#b[at + 1]! << 8) | (this.#b[at + 2]! << 16)) + this.#b[at + 3]! * 0x1000000;
  }

  varint(): number {
    let value = 0;
    for (let shift = 1; shift < 2 ** 56; shift *= 0x80) {
      const byte = this.#b[this.#need(1)]!;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) break;
        return value;
      }
    }
    throw new Error(`varint out of range at byte ${this.at}`);
  }

  /** A varint count of items of at least `itemBytes` each, checked against what is left. */
  count(itemBytes: number): number {
    const count = this.varint();
    if (count * itemBytes > this.#b.length - this.at) throw new Error(`a count of ${count} at byte ${this.at} runs past the value`);
    return count;
  }

  u64(): bigint {
    return readU64(this.#b, this.#need(8));
  }

  bytes(): Uint8Array {
    const length = this.varint();
    const at = this.#need(length);
    return this.#b.slice(at, at + length);
  }

  string(): string {
    const length = this.varint();
    const at = this.#need(length);
    const text = this.#b.subarray(at, at + length);
    for (let i = 0; i < length; i++) if (text[i]! >= 0x80) return utf8.decode(text);
    // Short ASCII (most names): no decoder call.
    return length <= 64 ? String.fromCharCode.apply(null, text as unknown as number[]) : ascii.decode(text);
  }

  inode(): Inode {
    const ino = this.varint();
    const gen = this.varint();
    const type = TYPES[this.#b[this.#need(1)]!];
    if (type === undefined) throw new Error(`inode ${ino}: type code unknown`);
    const mode = this.varint();
    const uid = this.varint();
    const gid = this.varint();
    const size = this.varint();
    const nlink = this.varint();
    const parent = this.varint();
    const atime = this.u64();
    const mtime = this.u64();
    const ctime = this.u64();
    // In newInode's property order: one shape for every inode, however made.
    const inode: Inode = {
      ino,
      gen,
      type,
      mode,
      uid,
      gid,
      size,
      nlink,
      atime,
      mtime,
      ctime,
      xattrs: new Map(),
      entries: null,
      parent,
      target: null,
      offline: new RangeSet(),
    };
    if (type === 'file') {
      const ranges: [number, number][] = [];
      for (let n = this.count(2); n > 0; n--) ranges.push([this.varint(), this.varint()]);
      inode.offline = new RangeSet(ranges);
    } else if (type === 'dir') {
      inode.entries = new Map();
      for (let n = this.count(2); n > 0; n--) inode.entries.set(this.string(), this.varint());
    } else {
      inode.target = this.string();
    }
    for (let n = this.count(2); n > 0; n--) inode.xattrs.set(this.string(), this.bytes());
    return inode;
  }

  end(): void {
    if (this.at !== this.#b.length) throw new Error(`${this.#b.length - this.at} bytes after the last inode`);
  }
}
