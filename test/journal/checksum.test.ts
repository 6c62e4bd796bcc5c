/**
 * The checksum the journal uses (native zlib.crc32 where Node has it) gives
 * exactly the `crc-32` package's values, including when continued from a seed.
 */
import { expect, it } from 'vitest';
import { crc32, crc32Portable, crc32Range } from '../../journal/checksum.js';
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

it('gives the same CRC over a range, in JavaScript below 320 bytes and natively above, whole and continued from a seed', () => {
  const prng = new Prng(7);
  const check = new TextEncoder().encode('xx123456789yy');
  expect(crc32Range(check, 2, 11)).toBe(0xcbf43926);
  for (let i = 0; i < 400; i++) {
    // Sizes around the switch to native, and every length mod 8 (the tail the slicing leaves).
    const bytes = prng.bytes(prng.pick([prng.int(64), prng.int(700), 312 + prng.int(16)]));
    const start = prng.int(Math.min(bytes.length, 9) + 1);
    const end = start + prng.int(bytes.length - start + 1);
    const split = start + prng.int(end - start + 1);
    const whole = crc32Portable(bytes.subarray(start, end));
    expect(crc32Range(bytes, start, end)).toBe(whole);
    expect(crc32Range(bytes, split, end, crc32Range(bytes, start, split))).toBe(whole);
  }
});
