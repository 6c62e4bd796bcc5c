/**
 * The retention bound (invariant 8 against invariants 3 and 5): a purge may
 * delete only what neither the durable checkpoint, nor a consumer, nor an
 * unfinished operation needs; and a journal that lost records someone saw
 * durable (its newest segment deleted) is refused, never silently reused.
 * Engines run on MemoryIo with the `files` store, so a crash is exact.
 */
import { describe, expect, it } from 'vitest';
import { Engine, FAN_ALLOW, FAN_OPEN_PERM } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection } from '../helpers.js';

const OPTIONS = { store: 'files', segmentBytesMax: 4096, checkpointEveryRecords: 1_000_000 } as const;

/** Waits until `condition` holds, one event-loop turn at a time (at most 100,000 turns). */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe('the retention bound', () => {
  it('keeps the records the durable checkpoint needs after the operation that held them finished', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    const backup = await engine.consumers.register('backup');
    for (let i = 0; i < 150; i++) await engine.fs.mkdir(`/before${i}`);
    await engine.fs.create('/stub', { size: 100 });
    const av = await engine.groups.create('av', { class: 'content' });
    await av.mark({ path: '/stub', mask: FAN_OPEN_PERM });
    const queue = av.openQueue();
    const opening = engine.fs.open('/stub', 'r');
    const [request] = await queue.read({ max: 1, waitMs: 5000 });
    for (let i = 0; i < 150; i++) await engine.fs.mkdir(`/after${i}`);
    // The checkpoint is taken while the open waits: it needs the request's record.
    await engine.checkpoint();
    await queue.respond(request!.id, FAN_ALLOW);
    await opening;
    for (let batch = await backup.read({ max: 10_000 }); batch.length > 0; batch = await backup.read({ max: 10_000 })) {
      await backup.ack(batch[batch.length - 1]!.seq);
    }
    // The ack lets the journal be purged in the background, as far as the bound allows.
    await until(() => engine.journal.firstSeq > 1n);
    expect(engine.journal.firstSeq).toBeLessThanOrEqual(request!.seq!);
    io.crash(7, 'drop');

    const reopened = await Engine.open('/e', { io, ...OPTIONS });
    expect(await reopened.fs.readdir('/')).toContain('after149');
    await reopened.close();
  });

  it('refuses to open when the newest segment was deleted under a consumer that acknowledged it', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    const backup = await engine.consumers.register('backup');
    await engine.checkpoint();
    for (let i = 0; i < 100; i++) await engine.fs.mkdir(`/d${i}`);
    const batch = await backup.read({ max: 10_000 });
    await backup.ack(batch[batch.length - 1]!.seq);
    io.crash(3, 'drop');
    await deleteNewestSegment(io);

    const error = await rejection(() => Engine.open('/e', { io, ...OPTIONS }));
    expect(error.code).toBe('ECORRUPT');
    expect(error.message).toMatch(/missing/);
  });

  it('refuses to open when the newest segment was deleted after the store saw it durable', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    await engine.checkpoint();
    for (let i = 0; i < 100; i++) await engine.fs.mkdir(`/d${i}`);
    // Any durable store write after the records: here a group's creation.
    await engine.groups.create('late');
    io.crash(4, 'drop');
    await deleteNewestSegment(io);

    const error = await rejection(() => Engine.open('/e', { io, ...OPTIONS }));
    expect(error.code).toBe('ECORRUPT');
    expect(error.message).toMatch(/missing/);
  });
});

async function deleteNewestSegment(io: MemoryIo): Promise<void> {
  const segments = (await io.readdir('/e/journal')).filter((name) => name.endsWith('.seg')).sort();
  expect(segments.length).toBeGreaterThan(1);
  await io.unlink(`/e/journal/${segments[segments.length - 1]}`);
  await io.syncDir('/e/journal');
}
