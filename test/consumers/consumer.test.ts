/**
 * Changelog consumers with Lustre-like semantics: registration from the
 * oldest or the next record, batch reads, forward-only durable acks,
 * re-reading after a reopen, purge below the lowest cursor, bounded disk,
 * eviction with the lost range, and fastpath filters with their errors.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions, FAN_CREATE, FAN_MODIFY, FAN_ONDIR, FanlogError } from '../../index.js';
import { decodeConsumer, encodeConsumer } from '../../consumers/consumer-record.js';
import { openMetaStore } from '../../store/meta-store.js';
import { MemoryIo } from '../../testing.js';
import { rejection, tempDir } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(options: EngineOptions = {}, io = new MemoryIo()): Promise<Engine> {
  const engine = await Engine.open('/e', { io, store: 'files', ...options });
  engines.push(engine);
  return engine;
}

/** Creates `count` files under /d (one CREATE event each, plus the op records). */
async function createFiles(engine: Engine, count: number, prefix = 'f'): Promise<void> {
  if (!(await engine.fs.readdir('/')).includes('d')) await engine.fs.mkdir('/d');
  for (let i = 0; i < count; i++) await engine.fs.create(`/d/${prefix}${i}`);
}

describe('consumers', () => {
  it("delivers events from the oldest record, or only those after 'next'", async () => {
    const engine = await open();
    await createFiles(engine, 3);
    const oldest = await engine.consumers.register('oldest');
    const next = await engine.consumers.register('next', { from: 'next' });
    await createFiles(engine, 1, 'late');
    const all = await oldest.read();
    expect(all.map((r) => r.path)).toEqual(['/d', '/d/f0', '/d/f1', '/d/f2', '/d/late0']);
    expect(all.every((r) => r.kind === 'event')).toBe(true);
    expect((await next.read()).map((r) => r.path)).toEqual(['/d/late0']);
    expect(await next.read()).toEqual([]);
  });

  it('reads in batches of at most max, in seq order, and waits for new records', async () => {
    const engine = await open();
    await createFiles(engine, 10);
    const c = await engine.consumers.register('c');
    const first = await c.read({ max: 4 });
    const second = await c.read({ max: 4 });
    expect(first.length).toBe(4);
    expect(second[0]!.seq).toBeGreaterThan(first[3]!.seq);
    await c.read({ max: 100 });
    const waiting = c.read({ waitMs: 60_000 });
    await engine.fs.create('/d/new');
    expect((await waiting).map((r) => r.path)).toEqual(['/d/new']);
  });

  it('acknowledges forward only, durably, and rejects a seq beyond the durable head', async () => {
    const io = new MemoryIo();
    const engine = await open({}, io);
    await createFiles(engine, 5);
    const c = await engine.consumers.register('backup');
    const records = await c.read({ max: 3 });
    await c.ack(records[2]!.seq);
    await c.ack(records[0]!.seq); // lower: nothing changes
    expect(c.cursor).toBe(records[2]!.seq);
    expect((await rejection(() => c.ack(engine.journal.headSeq + 1n))).code).toBe('EINVAL');
    expect((await rejection(() => c.ack(5 as never))).code).toBe('EINVAL');
    io.crash(1, 'drop');
    engines.pop();
    const reopened = await open({}, io);
    const again = reopened.consumers.get('backup');
    expect(again.cursor).toBe(records[2]!.seq);
    // At least once, never fewer: re-read starts right after the last ack.
    expect((await again.read())[0]!.seq).toBe(records[2]!.seq + 2n); // + the op record before the next event
  });

  it('rejects bad names, duplicates and unknown consumers', async () => {
    const engine = await open();
    await engine.consumers.register('dup');
    expect((await rejection(() => engine.consumers.register('dup'))).code).toBe('EEXIST');
    expect((await rejection(() => engine.consumers.register('bad name'))).code).toBe('EINVAL');
    expect((await rejection(() => engine.consumers.register('x'.repeat(65)))).code).toBe('EINVAL');
    expect((await rejection(() => engine.consumers.register('m', { mask: 0n }))).code).toBe('EINVAL');
    expect(() => engine.consumers.get('nobody')).toThrow(FanlogError);
    await engine.consumers.deregister('dup');
    expect(engine.consumers.list()).toEqual([]);
    expect((await rejection(() => engine.consumers.deregister('dup'))).code).toBe('ENOENT');
  });

  it('delivers only records whose mask meets the consumer mask', async () => {
    const engine = await open();
    await createFiles(engine, 2);
    await engine.fs.truncate('/d/f0', 10);
    const c = await engine.consumers.register('mods', { mask: FAN_MODIFY });
    expect((await c.read()).map((r) => r.path)).toEqual(['/d/f0']);
  });

  it('lists consumers with cursor, head, lag and idle time', async () => {
    const engine = await open();
    await createFiles(engine, 2);
    const c = await engine.consumers.register('c');
    const [info] = engine.consumers.list();
    expect(info).toMatchObject({ name: 'c', cursor: 0n, headSeq: engine.journal.headSeq, lagRecords: engine.journal.headSeq, filter: null, evicted: null });
    await c.ack(engine.journal.headSeq);
    expect(engine.consumers.list()[0]!.lagRecords).toBe(0n);
  });
});

describe('bounded disk', () => {
  it('purges only below the lowest cursor, and keeps the journal within a few segments while the consumer acks', async () => {
    const dir = tempDir();
    const engine = await Engine.open(dir, { store: 'lmdb', segmentBytesMax: 8192, checkpointEveryRecords: 50 });
    engines.push(engine);
    const c = await engine.consumers.register('backup');
    const lagging = await engine.consumers.register('lagging');
    await engine.fs.mkdir('/d');
    for (let i = 0; i < 400; i++) {
      await engine.fs.create(`/d/f${i}`);
      if (i % 20 === 0) for (const record of await c.read({ max: 10_000 })) await c.ack(record.seq);
    }
    await engine.checkpoint();
    // The lagging consumer holds everything after its cursor.
    expect(engine.journal.firstSeq).toBeLessThanOrEqual(lagging.cursor + 1n);
    await engine.consumers.deregister('lagging');
    for (const record of await c.read({ max: 10_000 })) await c.ack(record.seq);
    await engine.checkpoint();
    const segments = readdirSync(path.join(dir, 'journal')).filter((name) => name.endsWith('.seg')).length;
    // About 400 * 3 records of ~60 bytes is ~9 segments of 8 KiB; only the tail remains.
    expect(segments).toBeLessThanOrEqual(3);
    expect(engine.journal.firstSeq).toBeGreaterThan(1n);
  });

  it('evicts a consumer past lagRecordsMax with a durable note, then EEVICTED with the lost range, and reclaims the disk', async () => {
    const io = new MemoryIo();
    const engine = await open({ segmentBytesMax: 8192, checkpointEveryRecords: 40 }, io);
    const forgotten = await engine.consumers.register('forgotten', { lagRecordsMax: 100 });
    const watcher = await engine.consumers.register('watcher', { from: 'next' });
    await createFiles(engine, 80);
    await expect.poll(() => forgotten.evicted).not.toBeNull();
    const error = await rejection(() => forgotten.read());
    expect(error.code).toBe('EEVICTED');
    expect((error as FanlogError).lost).toEqual({ fromSeq: 1n, toSeq: forgotten.evicted!.toSeq });
    const notes = (await watcher.read({ max: 100_000 })).filter((r) => r.kind === 'evicted');
    expect(notes).toEqual([expect.objectContaining({ consumer: 'forgotten', fromSeq: 1n })]);
    await watcher.ack(engine.journal.durableSeq);
    await engine.checkpoint();
    expect(engine.journal.firstSeq).toBeGreaterThan(1n);
    const again = await engine.consumers.register('forgotten', { from: 'next' });
    expect(await again.read()).toEqual([]);
    // What the eviction's range missed, written since it, is never delivered either: the new one's lost range says so.
    expect(again.cursor).toBeGreaterThan(forgotten.evicted!.toSeq);
    expect(again.lost).toEqual({ fromSeq: 1n, toSeq: again.cursor });
    expect(watcher.lost).toBeNull();
    // Durable: the same after a reopen.
    await engine.close();
    const reopened = await open({ segmentBytesMax: 8192 }, io);
    expect(reopened.consumers.get('forgotten').lost).toEqual({ fromSeq: 1n, toSeq: again.cursor });
  });

  it('evicts a consumer idle for idleMsMax', async () => {
    const engine = await open({ consumerIdleMsMax: 30 });
    const idle = await engine.consumers.register('idle');
    await expect.poll(() => idle.evicted, { timeout: 5000 }).not.toBeNull();
    expect((await rejection(() => idle.ack(0n))).code).toBe('EEVICTED');
  });

  it('says nothing was lost when it evicts a consumer that had every record, never an inverted range', async () => {
    const engine = await open({ consumerIdleMsMax: 30 });
    const idle = await engine.consumers.register('idle');
    await expect.poll(() => idle.evicted, { timeout: 5000 }).not.toBeNull();
    const error = await rejection(() => idle.read());
    expect(error.code).toBe('EEVICTED');
    expect(error.message).toMatch(/every record was delivered to it/);
    expect(error.message).not.toMatch(/records \d+\.\.\d+/);
  });

  it("judges idleness by the engine's clock, so that a seeded run replays", async () => {
    let now = 1_000_000_000n;
    const engine = await open({ consumerIdleMsMax: 60_000, clock: () => now });
    const idle = await engine.consumers.register('idle');
    const busy = await engine.consumers.register('busy');
    expect(idle.info().idleMs).toBe(0);
    now += 30_000_000_000n;
    await busy.read();
    now += 31_000_000_000n;
    expect(idle.info().idleMs).toBe(61_000);
    expect(busy.info().idleMs).toBe(31_000);
    await expect.poll(() => idle.evicted, { timeout: 5000 }).not.toBeNull();
    expect(busy.evicted).toBeNull();
  });
});

describe('fastpath filters', () => {
  it('path-prefix and mask keep only matching records', async () => {
    const engine = await open();
    await engine.fs.mkdir('/keep');
    await engine.fs.mkdir('/drop');
    await engine.fs.create('/keep/a');
    await engine.fs.create('/drop/b');
    await engine.fs.rename('/drop/b', '/keep/b');
    const byPath = await engine.consumers.register('path');
    await byPath.attachFilter('path-prefix', '/keep');
    // The rename: MOVED_TO, RENAME and MOVE_SELF are under /keep; MOVED_FROM (/drop/b) is not.
    expect((await byPath.read()).map((r) => r.path)).toEqual(['/keep', '/keep/a', '/keep/b', '/keep/b', '/keep/b']);
    const byMask = await engine.consumers.register('mask');
    await byMask.attachFilter('mask', FAN_CREATE.toString(16));
    expect((await byMask.read()).map((r) => r.path)).toEqual(['/keep', '/drop', '/keep/a', '/drop/b']);
  });

  it('enforces EEXIST, ENOENT, EBUSY and E2BIG', async () => {
    const engine = await open();
    const c = await engine.consumers.register('c');
    expect(() => engine.filters.register('path-prefix', () => () => true)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect((await rejection(() => c.attachFilter('nope', ''))).code).toBe('ENOENT');
    expect((await rejection(() => c.attachFilter('path-prefix', `/${'a'.repeat(1024)}`))).code).toBe('E2BIG');
    expect((await rejection(() => c.attachFilter('path-prefix', 'relative'))).code).toBe('EINVAL');
    await c.attachFilter('path-prefix', '/a');
    expect((await rejection(() => c.attachFilter('mask', 'ff'))).code).toBe('EBUSY');
    await c.detachFilter();
    expect((await rejection(() => c.detachFilter())).code).toBe('ENOENT');
  });

  it('detaches a filter that throws and delivers the record', async () => {
    const engine = await open();
    engine.filters.register('broken', () => () => {
      throw new Error('bug in a user filter');
    });
    await engine.fs.mkdir('/x');
    const c = await engine.consumers.register('c');
    await c.attachFilter('broken', '');
    expect((await c.read()).map((r) => r.path)).toEqual(['/x']);
    await expect.poll(() => engine.consumers.list()[0]!.filter).toBeNull();
  });

  it('keeps the attachment across a reopen', async () => {
    const io = new MemoryIo();
    const engine = await open({}, io);
    const c = await engine.consumers.register('c');
    await c.attachFilter('path-prefix', '/data');
    await engine.close();
    engines.pop();
    const reopened = await open({}, io);
    expect(reopened.consumers.get('c').info().filter).toEqual({ name: 'path-prefix', argument: '/data' });
    await reopened.fs.mkdir('/data');
    await reopened.fs.mkdir('/other');
    expect((await reopened.consumers.get('c').read()).map((r) => r.path)).toEqual(['/data']);
  });
});

describe('consumers on every store', () => {
  for (const store of ['lmdb', 'level', 'files'] as const) {
    it(`keep cursor, settings and filter across a reopen (${store})`, async () => {
      const dir = tempDir();
      const engine = await Engine.open(dir, { store });
      await engine.fs.mkdir('/a');
      await engine.fs.mkdir('/b');
      const c = await engine.consumers.register('backup', { lagRecordsMax: 1000 });
      await c.attachFilter('path-prefix', '/b');
      const [record] = await c.read();
      expect(record!.path).toBe('/b');
      await c.ack(record!.seq);
      await engine.close();
      const reopened = await Engine.open(dir, { store });
      engines.push(reopened);
      const again = reopened.consumers.get('backup');
      expect(again.info()).toMatchObject({ cursor: record!.seq, filter: { name: 'path-prefix', argument: '/b' }, evicted: null });
      await reopened.fs.mkdir('/b/c');
      expect((await again.read()).map((r) => r.path)).toEqual(['/b/c']);
    });
  }
});

describe('FAN_ONDIR in a consumer mask', () => {
  it('is refused with EINVAL that says why: it is a qualifier, and a consumer takes directories by their events', async () => {
    const engine = await open();
    const error = await rejection(() => engine.consumers.register('dirs', { mask: FAN_CREATE | FAN_ONDIR }));
    expect(error.code).toBe('EINVAL');
    expect(error.message).toMatch(/FAN_ONDIR is a mark's qualifier.*FAN_CREATE takes mkdir's CREATE\|ONDIR.*mask=40000000/);
    // The events alone take a directory's events by their bits: mkdir's CREATE|ONDIR, not its rename's MOVED_FROM|ONDIR.
    const creates = await engine.consumers.register('creates', { mask: FAN_CREATE });
    await engine.fs.mkdir('/a');
    await engine.fs.rename('/a', '/b');
    expect((await creates.read()).map((record) => [record.mask, record.path])).toEqual([[FAN_CREATE | FAN_ONDIR, '/a']]);
  });

  it('selects nothing on its own in a mask stored before it was refused', async () => {
    const io = new MemoryIo();
    const engine = await open({}, io);
    await engine.consumers.register('old', { mask: FAN_CREATE });
    await engine.close();
    // As an earlier version stored it: CREATE|ONDIR.
    const store = await openMetaStore('files', '/e', io);
    const stored = decodeConsumer((await store.get('consumer/old'))!, (what) => new Error(what));
    await store.commit([{ type: 'put', key: 'consumer/old', value: encodeConsumer({ ...stored, mask: (FAN_CREATE | FAN_ONDIR).toString() }) }]);
    await store.close();
    const reopened = await open({}, io);
    await reopened.fs.mkdir('/a');
    await reopened.fs.rename('/a', '/b');
    const records = await reopened.consumers.get('old').read();
    expect(records.map((record) => [record.mask, record.path])).toEqual([[FAN_CREATE | FAN_ONDIR, '/a']]);
  });
});
