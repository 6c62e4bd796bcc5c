/**
 * The frame checksum: CRC-32 (IEEE 802.3, the zlib/PNG polynomial). One
 * function, so the whole journal agrees on it.
 *
 * Node's own `zlib.crc32` (native, Node >= 20.15) computes it about seven
 * times faster than the `crc-32` package on large frames, which is the
 * difference between checksumming and not keeping up with the disk. The
 * package remains the implementation on older Node 20 releases and the
 * reference the tests hold the native one to; both give identical values.
 */
import zlib from 'node:zlib';
import CRC32 from 'crc-32';

type Crc32 = (bytes: Uint8Array, seed?: number) => number;

const native = (zlib as { crc32?: Crc32 }).crc32;

/** The `crc-32` package's CRC-32, unsigned. */
export function crc32Portable(bytes: Uint8Array, seed = 0): number {
  return CRC32.buf(bytes, seed) >>> 0;
}

/** The unsigned CRC-32 of `bytes`, continuing from `seed` (a previous result). */
export const crc32: Crc32 = native === undefined ? crc32Portable : (bytes, seed = 0) => native(bytes, seed);

/**
 * Below this many bytes, a CRC in JavaScript beats a call into zlib: a
 * native call and the view it needs cost about 300 ns whatever the size,
 * slicing by 8 here about 1.4 ns a byte (32 B: 73 against 288 ns; 256 B:
 * 372 against 512 ns; 400 B: 774 against 605 ns). A journal's frames are
 * mostly this small: an operation's entry is an op and an event record.
 */
const SMALL_BYTES = 320;

/** Slicing-by-8 tables: table k gives the CRC of a byte followed by k zero bytes. */
const TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLES[n] = c;
}
for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) TABLES[k * 256 + n] = (TABLES[(k - 1) * 256 + n]! >>> 8) ^ TABLES[TABLES[(k - 1) * 256 + n]! & 0xff]!;

/** The CRC-32 of `bytes[start, end)` in JavaScript, continuing from `seed`. */
function crc32Small(bytes: Uint8Array, start: number, end: number, seed: number): number {
  const t = TABLES;
  let c = ~seed;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The unsigned CRC-32 of `bytes[start, end)`, continuing from `seed`: in JavaScript when small, else crc32 (see SMALL_BYTES). */
export function crc32Range(bytes: Uint8Array, start: number, end: number, seed = 0): number {
  return end - start < SMALL_BYTES || native === undefined ? crc32Small(bytes, start, end, seed) : native(bytes.subarray(start, end), seed);
}
