/**
 * Sanity of a LevelDB directory, checked before LevelDB opens it.
 *
 * LevelDB without `paranoid_checks` (which classic-level does not expose)
 * drops a damaged record of its write-ahead log on open, with the rest of
 * its 32 KiB block, and carries on; then it writes what it kept into a new
 * table and deletes the log, so after that first open the damage cannot be
 * seen any more: commits lost in silence. So fanlog reads the logs itself
 * first, in LevelDB's log format (leveldb/db/log_format.h):
 *
 *   the file is 32 KiB blocks; a block holds records, and a tail of fewer
 *   than 7 bytes is zero padding. A record:
 *
 *   offset  size  field
 *   0       4     masked CRC-32C of the type byte and the data
 *   4       2     length of the data (little-endian)
 *   6       1     type: 1 full, 2 first, 3 middle, 4 last (0: preallocated, the block's rest is
 *                 padding; LevelDB writes none but at a file's end, so one with a sound record
 *                 after it is zeros where records were, and damage)
 *   7       ...   data
 *
 * Table files (leveldb/table/format.cc) end in a 48-byte footer: the
 * handles (varint64 offset, varint64 size) of the metaindex and index
 * blocks, padding, and the magic 0xdb4775248b80fb57. Every block is
 * followed by a 5-byte trailer: its compression (0 none, 1 snappy) and the
 * masked CRC-32C of the block's bytes and that type byte. The index block
 * lists the data blocks (its values are handles), the metaindex the filter
 * block. LevelDB verifies none of these checksums by default and, built
 * with assertions as classic-level is, aborts the process on a damaged key
 * in a block; so fanlog verifies every block of every live table first.
 *
 * The same format holds the MANIFEST, which CURRENT names. Its records are
 * VersionEdits (leveldb/db/version_edit.cc): varint tags, of which fanlog
 * reads the files added (7: level, number, size, two keys) and deleted (6:
 * level, number), to know every table file the database is made of: each
 * must exist with the size the manifest gives it (LevelDB would otherwise
 * fail with an I/O error on the first read of a cut or missing table).
 *
 * Rules, as for fanlog's own journal: a bad record with a sound record
 * after it in the same file is damage (ECORRUPT with the file and offset);
 * a bad record with nothing sound after it is what a crash leaves of the
 * last write, and is left to LevelDB, which drops it. CURRENT must name a
 * manifest that exists. Beyond their sizes, table files are LevelDB's to
 * check; the values in them are sealed by fanlog's envelopes.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { corrupt } from '../errors.js';

const BLOCK_BYTES = 32768;
const HEADER_BYTES = 7;
const MASK_DELTA = 0xa282ead8;

const CRC32C_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32c(bytes: Uint8Array, start: number, end: number): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

function masked(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** Whether a sound record (type, length within its block, checksum) starts at `at`. */
function soundRecordAt(bytes: Uint8Array, view: DataView, at: number): boolean {
  const blockEnd = Math.min((Math.floor(at / BLOCK_BYTES) + 1) * BLOCK_BYTES, bytes.length);
  if (blockEnd - at < HEADER_BYTES) return false;
  const type = bytes[at + 6]!;
  if (type < 1 || type > 4) return false;
  const end = at + HEADER_BYTES + view.getUint16(at + 4, true);
  return end <= blockEnd && masked(crc32c(bytes, at + 6, end)) === view.getUint32(at, true);
}

/**
 * Walks a log file's records; returns the first bad record when a sound
 * record starts anywhere after it (so it is not what a crash left of the
 * last write), or null.
 */
function damageWithSoundAfter(bytes: Uint8Array): { offset: number; what: string } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < bytes.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, bytes.length);
    let at = block;
    while (blockEnd - at >= HEADER_BYTES) {
      const length = view.getUint16(at + 4, true);
      const type = bytes[at + 6]!;
      if (soundRecordAt(bytes, view, at)) {
        at += HEADER_BYTES + length;
        continue;
      }
      // A zero header reads as preallocated space, "the rest of the block is padding", to LevelDB,
      // which then drops the block's records after it: with a sound record after it, it is a lost
      // write (zeros where records were), damage like any other; with none, a crash's tail.
      const what =
        type === 0 && length === 0
          ? 'zeros where a record belongs'
          : type < 1 || type > 4
            ? `record type ${type}`
            : at + HEADER_BYTES + length > blockEnd
              ? 'record longer than its block'
              : 'checksum mismatch';
      // Damage: is anything sound after it? Cheap first (the next record, if the length held), then every offset.
      const next = at + HEADER_BYTES + length;
      if (next < bytes.length && soundRecordAt(bytes, view, next)) return { offset: at, what };
      for (let candidate = at + 1; candidate + HEADER_BYTES <= bytes.length; candidate++) {
        if (soundRecordAt(bytes, view, candidate)) return { offset: at, what };
      }
      return null;
    }
  }
  return null;
}

/** Where the last sound record of a log starts (0 when it has none): the crash campaign damages only what a crash could not explain. */
export function lastLogRecordStart(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let last = 0;
  for (let block = 0; block < bytes.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, bytes.length);
    for (let at = block; blockEnd - at >= HEADER_BYTES && soundRecordAt(bytes, view, at); at += HEADER_BYTES + view.getUint16(at + 4, true)) last = at;
  }
  return last;
}

/** The log's records reassembled from their fragments (full, first/middle/last), skipping damaged ones. */
function logRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  for (let block = 0; block < bytes.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, bytes.length);
    for (let at = block; blockEnd - at >= HEADER_BYTES;) {
      if (!soundRecordAt(bytes, view, at)) break;
      const length = view.getUint16(at + 4, true);
      const type = bytes[at + 6]!;
      const data = bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
      if (type === 1) records.push(data);
      else if (type === 2) pending = [data];
      else if (type === 3) pending.push(data);
      else {
        pending.push(data);
        records.push(Buffer.concat(pending));
        pending = [];
      }
      at += HEADER_BYTES + length;
    }
  }
  return records;
}

/** The table files (number -> size) a manifest's edits leave live; null where an edit cannot be read. */
function liveTables(manifest: Uint8Array): Map<bigint, bigint> | null {
  const live = new Map<bigint, bigint>();
  for (const edit of logRecords(manifest)) {
    let at = 0;
    const varint = (): bigint => {
      let value = 0n;
      for (let shift = 0n; shift < 70n; shift += 7n) {
        if (at >= edit.length) throw new RangeError('edit ends early');
        const byte = edit[at++]!;
        value |= BigInt(byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) return value;
      }
      throw new RangeError('varint too long');
    };
    const skipSlice = (): void => {
      const length = Number(varint());
      if (at + length > edit.length) throw new RangeError('slice beyond the edit');
      at += length;
    };
    try {
      while (at < edit.length) {
        const tag = Number(varint());
        if (tag === 1) skipSlice();
        else if (tag === 2 || tag === 3 || tag === 4 || tag === 9) varint();
        else if (tag === 5) {
          varint();
          skipSlice();
        } else if (tag === 6) {
          varint();
          live.delete(varint());
        } else if (tag === 7) {
          varint();
          const number = varint();
          live.set(number, varint());
          skipSlice();
          skipSlice();
        } else return null;
      }
    } catch {
      return null;
    }
  }
  return live;
}

/** Checks the logs, the manifest CURRENT names (and the tables it lists), and CURRENT itself; resolves when LevelDB may open `dir`. */
export async function checkLevelFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!names.includes('CURRENT')) return;
  const currentFile = path.join(dir, 'CURRENT');
  const current = await fsp.readFile(currentFile, 'latin1');
  const manifest = /^(MANIFEST-\d+)\n$/.exec(current)?.[1];
  if (manifest === undefined) throw corrupt(currentFile, 0, 'CURRENT does not name a manifest');
  if (!names.includes(manifest)) throw corrupt(currentFile, 0, `CURRENT names ${manifest}, which does not exist`);
  for (const name of [manifest, ...names.filter((entry) => entry.endsWith('.log'))]) {
    const file = path.join(dir, name);
    const found = damageWithSoundAfter(await fsp.readFile(file));
    if (found !== null) throw corrupt(file, found.offset, `LevelDB log record damaged (${found.what}) with sound records after it`);
  }
  const manifestFile = path.join(dir, manifest);
  const tables = liveTables(await fsp.readFile(manifestFile));
  if (tables === null) throw corrupt(manifestFile, 0, 'a version edit of the manifest cannot be read');
  for (const [number, size] of tables) {
    const stem = number.toString().padStart(6, '0');
    const name = [`${stem}.ldb`, `${stem}.sst`].find((candidate) => names.includes(candidate));
    if (name === undefined) throw corrupt(manifestFile, 0, `the manifest lists table ${stem}.ldb, which does not exist`);
    const table = path.join(dir, name);
    const bytes = await fsp.readFile(table);
    if (BigInt(bytes.length) !== size)
      throw corrupt(table, Math.min(bytes.length, Number(size)), `the table is ${bytes.length} bytes, the manifest says ${size}`);
    const damage = tableDamage(bytes);
    if (damage !== null) throw corrupt(table, damage.offset, `table ${damage.what}`);
  }
}

const FOOTER_BYTES = 48;
const TRAILER_BYTES = 5;
const TABLE_MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];

/** A reader of LevelDB's varints; `null` from a read means the bytes ran out or the number is too long. */
class Varints {
  readonly #bytes: Uint8Array;
  readonly #end: number;

  constructor(
    bytes: Uint8Array,
    public at: number,
    end: number,
  ) {
    this.#bytes = bytes;
    this.#end = end;
  }

  next(): number | null {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.at >= this.#end) return null;
      const byte = this.#bytes[this.at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return null;
  }
}

/** Snappy's block format, decompressed; null when it is not well formed. */
function snappy(input: Uint8Array): Uint8Array | null {
  const reader = new Varints(input, 0, input.length);
  const length = reader.next();
  if (length === null || length > 64 * 2 ** 20) return null;
  const out = new Uint8Array(length);
  let at = reader.at;
  let written = 0;
  while (at < input.length) {
    const tag = input[at++]!;
    const type = tag & 3;
    let count: number;
    if (type === 0) {
      count = tag >> 2;
      if (count >= 60) {
        const extra = count - 59;
        if (at + extra > input.length) return null;
        count = 0;
        for (let i = 0; i < extra; i++) count += input[at + i]! * 2 ** (8 * i);
        at += extra;
      }
      count += 1;
      if (at + count > input.length || written + count > length) return null;
      out.set(input.subarray(at, at + count), written);
      at += count;
      written += count;
      continue;
    }
    let offset: number;
    if (type === 1) {
      if (at >= input.length) return null;
      count = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | input[at++]!;
    } else {
      const bytes = type === 2 ? 2 : 4;
      if (at + bytes > input.length) return null;
      count = (tag >> 2) + 1;
      offset = 0;
      for (let i = 0; i < bytes; i++) offset += input[at + i]! * 2 ** (8 * i);
      at += bytes;
    }
    if (offset === 0 || offset > written || written + count > length) return null;
    for (let i = 0; i < count; i++, written++) out[written] = out[written - offset]!;
  }
  return written === length ? out : null;
}

type Damage = { offset: number; what: string };

/** A block's contents after its trailer checked out (decompressed), or its damage. */
function tableBlock(table: Uint8Array, offset: number, size: number): Uint8Array | Damage {
  if (offset + size + TRAILER_BYTES > table.length - FOOTER_BYTES) return { offset, what: `block at ${offset} of ${size} bytes runs past the data` };
  const type = table[offset + size]!;
  const stored = new DataView(table.buffer, table.byteOffset + offset + size + 1, 4).getUint32(0, true);
  if (masked(crc32c(table, offset, offset + size + 1)) !== stored) return { offset, what: `block at ${offset}: checksum mismatch` };
  const contents = table.subarray(offset, offset + size);
  if (type === 0) return contents;
  if (type !== 1) return { offset: offset + size, what: `block at ${offset}: unknown compression ${type}` };
  return snappy(contents) ?? { offset, what: `block at ${offset}: snappy data is not well formed` };
}

/** The values (block handles) of a block's entries; null when its layout is not sound. */
function blockHandles(contents: Uint8Array): { offset: number; size: number }[] | null {
  if (contents.length < 4) return null;
  const restarts = new DataView(contents.buffer, contents.byteOffset + contents.length - 4, 4).getUint32(0, true);
  const entriesEnd = contents.length - 4 - 4 * restarts;
  if (entriesEnd < 0) return null;
  const handles: { offset: number; size: number }[] = [];
  const reader = new Varints(contents, 0, entriesEnd);
  while (reader.at < entriesEnd) {
    const shared = reader.next();
    const unshared = reader.next();
    const valueBytes = reader.next();
    if (shared === null || unshared === null || valueBytes === null) return null;
    reader.at += unshared;
    const valueEnd = reader.at + valueBytes;
    if (valueEnd > entriesEnd) return null;
    const value = new Varints(contents, reader.at, valueEnd);
    const offset = value.next();
    const size = value.next();
    if (offset === null || size === null) return null;
    handles.push({ offset, size });
    reader.at = valueEnd;
  }
  return handles;
}

/** The first damage of a LevelDB table: its footer, its index and metaindex, every block they list. */
function tableDamage(table: Uint8Array): Damage | null {
  if (table.length < FOOTER_BYTES) return { offset: 0, what: 'is shorter than its footer' };
  const footer = table.length - FOOTER_BYTES;
  if (!TABLE_MAGIC.every((byte, i) => table[footer + 40 + i] === byte)) return { offset: footer + 40, what: 'footer has a bad magic number' };
  const handles = new Varints(table, footer, footer + 40);
  const metaOffset = handles.next();
  const metaSize = handles.next();
  const indexOffset = handles.next();
  const indexSize = handles.next();
  if (metaOffset === null || metaSize === null || indexOffset === null || indexSize === null) return { offset: footer, what: 'footer handles cannot be read' };
  for (const [offset, size] of [
    [indexOffset, indexSize],
    [metaOffset, metaSize],
  ] as const) {
    const block = tableBlock(table, offset, size);
    if (!(block instanceof Uint8Array)) return block;
    const listed = blockHandles(block);
    if (listed === null) return { offset, what: `block at ${offset} does not list blocks soundly` };
    for (const handle of listed) {
      const listedBlock = tableBlock(table, handle.offset, handle.size);
      if (!(listedBlock instanceof Uint8Array)) return listedBlock;
    }
  }
  return null;
}
