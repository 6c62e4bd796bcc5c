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
 *   6       1     type: 1 full, 2 first, 3 middle, 4 last (0: preallocated, the block's rest is padding)
 *   7       ...   data
 *
 * The same format holds the MANIFEST, which CURRENT names.
 *
 * Rules, as for fanlog's own journal: a bad record with a sound record
 * after it in the same file is damage (ECORRUPT with the file and offset);
 * a bad record with nothing sound after it is what a crash leaves of the
 * last write, and is left to LevelDB, which drops it. CURRENT must name a
 * manifest that exists. Table files are LevelDB's to check; the values in
 * them are sealed by fanlog's envelopes.
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
      if (type === 0 && length === 0) break; // preallocated: the rest of the block is padding
      if (soundRecordAt(bytes, view, at)) {
        at += HEADER_BYTES + length;
        continue;
      }
      const what = type < 1 || type > 4 ? `record type ${type}` : at + HEADER_BYTES + length > blockEnd ? 'record longer than its block' : 'checksum mismatch';
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

/** Checks the logs, the manifest CURRENT names, and CURRENT itself; resolves when LevelDB may open `dir`. */
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
}
