/**
 * The damage scan (`soundFrameFollows`) over a file that gets shorter while
 * it reads: a lock-free follower takes the size, and another process's
 * recovery may cut the torn tail before the scan reads it. A short read is
 * the end of the file; before, a read of fewer than a frame header's bytes
 * moved the window back or not at all, and the scan never ended.
 */
import { expect, it } from 'vitest';
import type { IoFile } from '../../journal/io.js';
import { soundFrameFollows } from '../../journal/segment.js';

it('ends, finding nothing, when the file is cut shorter than the size it was given', async () => {
  let reads = 0;
  const cut: IoFile = {
    path: '/cut.seg',
    size: async () => 100,
    read: async (buffer, position) => {
      // A bound the scan must never need: past it, the scan is going round.
      if (++reads > 1000) throw new Error('the scan went round the same bytes 1000 times');
      const present = Math.max(0, Math.min(buffer.length, 40 - position));
      buffer.fill(0, 0, present);
      return present;
    },
    write: async () => undefined,
    truncate: async () => undefined,
    datasync: async () => undefined,
    close: async () => undefined,
  };
  expect(await soundFrameFollows(cut, 10, 1 << 20, { nextSeq: 1n, writeStart: null }, { salt: 1, saltedOnly: true })).toBe(false);
  expect(reads).toBeLessThan(10);
});
