/**
 * A journal counts every record it recovers as durable from the moment it
 * opens (`durableSeq`). What a process that died had written but never
 * synced may still be only in the page cache, so open syncs the newest
 * segment first (journal/open.ts).
 */
import { expect, it } from 'vitest';
import { Journal } from '../../journal/index.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { readAll, text, untext } from '../helpers.js';

it('makes what an earlier process wrote and never synced durable before it counts it durable', async () => {
  const memory = new MemoryIo();
  // A process appends under 'never' and dies without a sync: its records are written, not durable.
  const lazy = await Journal.open('/j', { io: memory, sync: 'never' });
  for (let i = 0; i < 20; i++) await lazy.append(text(`lazy ${i}`));
  lazy.halt(new Error('killed'));
  await lazy.close();
  const next = await Journal.open('/j', { io: memory });
  expect(next.durableSeq).toBe(20n);
  // The power goes before the next process syncs anything itself.
  memory.crash(1, 'drop');
  const recovered = await Journal.open('/j', { io: memory });
  expect((await readAll(recovered)).map((record) => untext(record.payload))).toEqual(Array.from({ length: 20 }, (_, i) => `lazy ${i}`));
  await recovered.close();
});
