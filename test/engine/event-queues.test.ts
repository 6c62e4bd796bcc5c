/**
 * Event queues and the journal: how a group's queue merges, shares, drops
 * and waits for events, and which events the journal keeps, with what seq.
 * The engine runs on MemoryIo with the `files` store (events-world.ts), so
 * it is fast and still the real code path.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { FAN_ACCESS, FAN_MODIFY, FAN_ONDIR, maskNames, type QueuedEvent } from '../../index.js';
import { ALL, watch, world } from './events-world.js';

describe('queues', () => {
  it('merges unread events on the same object from the same pid, not across pids or after a read', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: FAN_MODIFY | FAN_ACCESS });
    const fd = await engine.fs.open('/data/file', 'rw');
    await engine.fs.write(fd, 0, 10, { pid: 1 });
    await engine.fs.write(fd, 50, 10, { pid: 1 });
    await engine.fs.read(fd, 0, 5, { pid: 1 });
    await engine.fs.write(fd, 0, 10, { pid: 2 });
    const events = await q.read();
    expect(events.map((e) => [maskNames(e.mask).join('|'), e.pid, e.range])).toEqual([
      ['ACCESS|MODIFY', 1, { offset: 0, count: 60 }],
      ['MODIFY', 2, { offset: 0, count: 10 }],
    ]);
    await engine.fs.write(fd, 0, 10, { pid: 1 });
    expect((await q.read()).length).toBe(1);
    await engine.close();
  });

  it('shares one record among the groups that queue it, and merging in one group changes nothing in another', async () => {
    const engine = await world();
    const modify = await watch(engine, { path: '/data/file', mask: FAN_MODIFY });
    const both = await watch(engine, { path: '/data', scope: 'mount', mask: FAN_MODIFY | FAN_ACCESS });
    const fd = await engine.fs.open('/data/file', 'rw');
    await engine.fs.write(fd, 0, 10, { pid: 1 });
    // Merges into the write's event in the second group only.
    await engine.fs.read(fd, 500, 5, { pid: 1 });
    const [mine, ...moreOfMine] = await modify.read();
    const [merged, ...moreMerged] = await both.read();
    expect([moreOfMine, moreMerged]).toEqual([[], []]);
    expect([maskNames(mine!.mask), mine!.range]).toEqual([['MODIFY'], { offset: 0, count: 10 }]);
    expect([maskNames(merged!.mask), merged!.range]).toEqual([['ACCESS', 'MODIFY'], { offset: 0, count: 505 }]);
    expect(mine!.seq).toBe(merged!.seq);
    await engine.close();
  });

  it('drops events past queueEventsMax and queues one FAN_Q_OVERFLOW', async () => {
    const engine = await world();
    const group = await engine.groups.create('small', { queueEventsMax: 3 });
    await group.mark({ path: '/data/file', mask: FAN_MODIFY });
    const q = group.openQueue();
    for (let pid = 1; pid <= 6; pid++) await engine.fs.truncate('/data/file', pid, { pid });
    const events = await q.read();
    expect(events.map((e) => maskNames(e.mask).join('|'))).toEqual(['MODIFY', 'MODIFY', 'MODIFY', 'Q_OVERFLOW']);
    expect(events.map((e) => e.pid)).toEqual([1, 2, 3, undefined]);
    await engine.fs.truncate('/data/file', 9, { pid: 9 });
    expect((await q.read()).map((e) => e.pid)).toEqual([9]);
    await engine.close();
  });

  it('waits for events up to waitMs and resolves as soon as one arrives', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: FAN_MODIFY });
    expect(await q.read({ waitMs: 5 })).toEqual([]);
    const waiting = q.read({ waitMs: 60_000 });
    await engine.fs.truncate('/data/file', 3);
    const events: QueuedEvent[] = await waiting;
    expect(events.length).toBe(1);
    await engine.close();
  });
});

describe('events and the journal', () => {
  it('gives each delivered event the seq of its journal record', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data', scope: 'mount', mask: ALL });
    await engine.fs.rename('/data/file', '/data/renamed');
    const events = await q.read();
    // MOVED_FROM, MOVED_TO, RENAME (never merged) and MOVE_SELF.
    expect(events.length).toBe(4);
    for (const event of events) {
      const stored = [];
      for await (const record of engine.journal.read({ from: event.seq!, to: event.seq! })) stored.push(decodeRecord(record.payload));
      expect(stored.length).toBe(1);
      expect(stored[0]).toMatchObject({ kind: 'event', mask: event.mask, path: event.path });
    }
    await engine.close();
  });

  it('journals only events in the changelog mask, and still delivers the others without a seq', async () => {
    const engine = await world(ALL & ~FAN_ACCESS);
    const q = await watch(engine, { path: '/data/file', mask: FAN_ACCESS });
    const fd = await engine.fs.open('/data/file', 'r');
    const head = engine.journal.headSeq;
    await engine.fs.read(fd, 0, 10);
    expect(engine.journal.headSeq).toBe(head);
    const [event] = await q.read();
    expect(event!.mask).toBe(FAN_ACCESS);
    expect(event!.seq).toBeUndefined();
    await engine.close();
  });

  it('journals nothing and delivers nothing for a failed operation', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/', scope: 'filesystem', mask: ALL | FAN_ONDIR });
    const head = engine.journal.headSeq;
    const failures = await Promise.allSettled([
      engine.fs.create('/data/file'),
      engine.fs.unlink('/missing'),
      engine.fs.rmdir('/data'),
      engine.fs.rename('/data', '/data/dir/inside'),
      engine.fs.mkdir('/data/file/sub'),
    ]);
    expect(failures.map((f) => (f.status === 'rejected' ? (f.reason as { code: string }).code : 'ok'))).toEqual([
      'EEXIST',
      'ENOENT',
      'ENOTEMPTY',
      'EINVAL',
      'ENOTDIR',
    ]);
    expect(engine.journal.headSeq).toBe(head);
    expect(await q.read()).toEqual([]);
    await engine.close();
  });
});
