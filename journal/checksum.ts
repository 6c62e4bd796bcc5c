/**
 * The frame checksum: CRC-32 (IEEE 802.3, the zlib/PNG polynomial), from the
 * `crc-32` package. One function, so the whole journal agrees on it.
 */
import CRC32 from 'crc-32';

/** The unsigned CRC-32 of `bytes`, continuing from `seed` (a previous result). */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return CRC32.buf(bytes, seed) >>> 0;
}
