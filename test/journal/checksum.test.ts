/**
 * The checksum the journal uses (native zlib.crc32 where Node has it) gives
 * exactly the `crc-32` package's values, including when continued from a seed.
 */
import { expect, it } from 'vitest';
import { crc32, crc32Portable } from '../../journal/checksum.js';
import { Prng } from '../../testing.js';

it('matches the crc-32 package on random inputs, whole and continued from a seed', () => {
  const prng = new Prng(42);
  expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  for (let i = 0; i < 200; i++) {
    const bytes = prng.bytes(prng.int(3000));
    const split = prng.int(bytes.length + 1);
    expect(crc32(bytes)).toBe(crc32Portable(bytes));
    expect(crc32(bytes.subarray(split), crc32(bytes.subarray(0, split)))).toBe(crc32Portable(bytes));
  }
});
