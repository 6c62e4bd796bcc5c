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
