/**
 * Permission events, scenario by scenario, in the spirit of the Linux test
 * suite's fanotify permission tests: which operations raise which permission
 * events with which ranges, allow and deny (with errnos), marks of every
 * scope, release and destroy, restartable queues, timeouts, argument rules,
 * and crash resurrection. Engines run on MemoryIo with the `files` store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import {
  Engine,
  ERRNO,
  type EventQueue,
  FAN_ACCESS_PERM,
  FAN_ALLOW,
  FAN_DENY,
  FAN_DENY_ERRNO,
  FAN_EVENT_ON_CHILD,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
  FAN_PRE_ACCESS,
  FAN_PRE_MODIFY,
  type GroupOptions,
  type MarkOptions,
  maskNames,
  type QueuedEvent,
} from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { nextEvent, rejection } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function world(io = new MemoryIo()): Promise<{ engine: Engine; io: MemoryIo }> {
  const engine = await Engine.open('/e', { io, store: 'files' });
  engines.push(engine);
  if ((await engine.fs.readdir('/')).length === 0) {
    await engine.fs.mkdir('/data');
    await engine.fs.create('/data/file', { size: 100_000 });
    await engine.fs.create('/data/stub', { size: 1 << 20, offline: true });
    await engine.fs.create('/other', { size: 10 });
  }
  return { engine, io };
}

async function group(engine: Engine, name: string, options: GroupOptions, ...marks: MarkOptions[]): Promise<EventQueue> {
  const g = await engine.groups.create(name, options);
  for (const mark of marks) await g.mark(mark);
  return g.openQueue();
}

const names = (event: QueuedEvent): string => maskNames(event.mask).join('|');

describe('permission events on open, read, write, truncate and fault', () => {
  it('blocks open until a content listener allows it, then completes it', async () => {
    const { engine } = await world();
    const q = await group(engine, 'av', { class: 'content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    let opened = false;
    const opening = engine.fs.open('/data/file', 'r').then((fd) => {
      opened = true;
      return fd;
    });
    const event = await nextEvent(q);
    expect(names(event)).toBe('OPEN_PERM');
    expect(event.path).toBe('/data/file');
    expect(opened).toBe(false);
    await q.respond(event.id, FAN_ALLOW);
    expect(typeof (await opening)).toBe('number');
  });

  it('fails a denied open with EPERM and journals no OPEN event', async () => {
    const { engine } = await world();
    const q = await group(engine, 'av', { class: 'content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    const opening = rejection(() => engine.fs.open('/data/file', 'r'));
    await q.respond((await nextEvent(q)).id, FAN_DENY);
    expect((await opening).code).toBe('EPERM');
    const kinds: string[] = [];
    for await (const { payload } of engine.journal.read({ from: engine.journal.headSeq - 1n })) kinds.push(decodeRecord(payload).kind);
    expect(kinds).toEqual(['request', 'decision']);
  });

  it('raises OPEN_EXEC_PERM for exec, and FAN_DENY_ERRNO(EBUSY) fails it with EBUSY', async () => {
    const { engine } = await world();
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_OPEN_EXEC_PERM });
    const opening = rejection(() => engine.fs.open('/data/file', 'r', { exec: true }));
    const event = await nextEvent(q);
    expect(names(event)).toBe('OPEN_EXEC_PERM');
    await q.respond(event.id, FAN_DENY_ERRNO(ERRNO.EBUSY));
    expect((await opening).code).toBe('EBUSY');
  });

  it('asks in order: open permission, then the pre-content event with range {0, 0}', async () => {
    const { engine } = await world();
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_OPEN_PERM | FAN_PRE_ACCESS | FAN_PRE_MODIFY });
    const opening = engine.fs.open('/data/file', 'w');
    const first = await nextEvent(q);
    expect(names(first)).toBe('OPEN_PERM');
    await q.respond(first.id, FAN_ALLOW);
    const second = await nextEvent(q);
    expect([names(second), second.range]).toEqual(['PRE_MODIFY', { offset: 0, count: 0 }]);
    await q.respond(second.id, FAN_ALLOW);
    await opening;
  });

  it('carries the exact ranges: read, write, truncate and page faults', async () => {
    const { engine } = await world();
    const fd = await engine.fs.open('/data/file', 'rw');
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
    const cases: [() => Promise<unknown>, string, { offset: number; count: number }][] = [
      [() => engine.fs.read(fd, 1000, 500), 'PRE_ACCESS', { offset: 1000, count: 500 }],
      [() => engine.fs.read(fd, 99_990, 500), 'PRE_ACCESS', { offset: 99_990, count: 10 }],
      [() => engine.fs.write(fd, 200_000, 300), 'PRE_MODIFY', { offset: 200_000, count: 300 }],
      [() => engine.fs.truncate('/data/file', 150_000), 'PRE_MODIFY', { offset: 150_000, count: 50_300 }],
      [() => engine.fs.fault(fd, 5000), 'PRE_ACCESS', { offset: 4096, count: 4096 }],
      [() => engine.fs.fault(fd, 8192, { write: true }), 'PRE_MODIFY', { offset: 8192, count: 4096 }],
    ];
    for (const [call, mask, range] of cases) {
      const running = call();
      const event = await nextEvent(q);
      expect([names(event), event.range]).toEqual([mask, range]);
      await q.respond(event.id, FAN_ALLOW);
      await running;
    }
  });

  it('lets an HSM fill the requested range inside its handler, and EIO stands when it denies with EIO', async () => {
    const { engine } = await world();
    const fd = await engine.fs.open('/data/stub', 'r');
    expect((await rejection(() => engine.fs.read(fd, 0, 10))).code).toBe('EIO');
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data', scope: 'mount', mask: FAN_PRE_ACCESS });
    const reading = engine.fs.read(fd, 65536, 4096);
    const event = await nextEvent(q);
    await engine.fs.hsmFill(event.path!, event.range!.offset, event.range!.count);
    await q.respond(event.id, FAN_ALLOW);
    expect(await reading).toBe(4096);
    const denied = rejection(() => engine.fs.read(fd, 0, 4096));
    await q.respond((await nextEvent(q)).id, FAN_DENY_ERRNO(ERRNO.EIO));
    expect((await denied).code).toBe('EIO');
  });

  it('asks pre-content groups before content groups, and stops at the first denial', async () => {
    const { engine } = await world();
    const content = await group(engine, 'a-content', { class: 'content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    const preContent = await group(engine, 'z-hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    const opening = rejection(() => engine.fs.open('/data/file', 'r'));
    const first = await nextEvent(preContent);
    expect(await content.read()).toEqual([]);
    await preContent.respond(first.id, FAN_DENY);
    expect((await opening).code).toBe('EPERM');
    expect(await content.read()).toEqual([]);
  });
});

describe('which marks guard an operation', () => {
  for (const [what, mark, guarded] of [
    ['a mount mark', { path: '/data', scope: 'mount', mask: FAN_ACCESS_PERM }, true],
    ['a filesystem mark', { path: '/', scope: 'filesystem', mask: FAN_ACCESS_PERM }, true],
    ['the parent with FAN_EVENT_ON_CHILD', { path: '/data', mask: FAN_ACCESS_PERM | FAN_EVENT_ON_CHILD }, true],
    ['the parent without FAN_EVENT_ON_CHILD', { path: '/data', mask: FAN_ACCESS_PERM }, false],
    ['a mount mark elsewhere', { path: '/data', scope: 'mount', mask: FAN_ACCESS_PERM }, false],
  ] as const) {
    it(`${guarded ? 'asks' : 'does not ask'} through ${what}`, async () => {
      const { engine } = await world();
      const target = what === 'a mount mark elsewhere' ? '/other' : '/data/file';
      const fd = await engine.fs.open(target, 'r');
      const q = await group(engine, 'g', { class: 'content' }, mark);
      const reading = engine.fs.read(fd, 0, 5);
      if (guarded) {
        const event = await nextEvent(q);
        expect(names(event)).toBe('ACCESS_PERM');
        await q.respond(event.id, FAN_ALLOW);
      } else {
        expect(await q.read({ waitMs: 20 })).toEqual([]);
      }
      expect(await reading).toBe(5);
    });
  }
});

describe('answers and releases', () => {
  it('rejects bad responses with EINVAL and unknown or repeated ids with ENOENT', async () => {
    const { engine } = await world();
    const q = await group(engine, 'av', { class: 'content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    const opening = engine.fs.open('/data/file', 'r');
    const event = await nextEvent(q);
    expect((await rejection(() => q.respond(event.id, FAN_DENY_ERRNO(ERRNO.EIO)))).code).toBe('EINVAL'); // errno needs pre-content
    expect((await rejection(() => q.respond(event.id, FAN_ALLOW | (5 << 24)))).code).toBe('EINVAL');
    expect((await rejection(() => q.respond(event.id, 7))).code).toBe('EINVAL');
    expect((await rejection(() => q.respond(event.id + 100, FAN_ALLOW))).code).toBe('ENOENT');
    await q.respond(event.id, FAN_ALLOW);
    expect((await rejection(() => q.respond(event.id, FAN_ALLOW))).code).toBe('ENOENT');
    await opening;
  });

  it('rejects an errno a listener may not choose', async () => {
    const { engine } = await world();
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_OPEN_PERM });
    const opening = engine.fs.open('/data/file', 'r');
    const event = await nextEvent(q);
    expect((await rejection(() => q.respond(event.id, FAN_DENY_ERRNO(2)))).code).toBe('EINVAL'); // ENOENT is not allowed
    await q.respond(event.id, FAN_ALLOW);
    await opening;
  });

  it('allows every pending event, read or not, when a non-restartable queue is closed', async () => {
    const { engine } = await world();
    const g = await engine.groups.create('av', { class: 'content' });
    await g.mark({ path: '/data', scope: 'mount', mask: FAN_OPEN_PERM });
    const q = g.openQueue();
    const one = engine.fs.open('/data/file', 'r');
    await nextEvent(q);
    const two = engine.fs.open('/data/stub', 'r');
    await expect.poll(() => g.info().pendingPermissions).toBe(2);
    await q.close();
    await Promise.all([one, two]);
  });

  it('allows every pending event when the group is destroyed', async () => {
    const { engine } = await world();
    const g = await engine.groups.create('av', { class: 'content' });
    await g.mark({ path: '/data', scope: 'mount', mask: FAN_OPEN_PERM });
    const opening = engine.fs.open('/data/file', 'r');
    await expect.poll(() => g.info().pendingPermissions).toBe(1);
    await g.destroy();
    expect(typeof (await opening)).toBe('number');
  });
});

describe('restartable queues', () => {
  it('puts read but unanswered events back when the queue is closed, and the operation completes on the next answer', async () => {
    const { engine } = await world();
    const g = await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
    await g.mark({ path: '/data/file', mask: FAN_OPEN_PERM });
    const q1 = g.openQueue();
    expect(() => g.openQueue()).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    const opening = engine.fs.open('/data/file', 'r');
    const first = await nextEvent(q1);
    await q1.close();
    const q2 = g.openQueue();
    const again = await nextEvent(q2);
    expect(again.seq).toBe(first.seq);
    expect(again.id).not.toBe(first.id);
    await q2.respond(again.id, FAN_ALLOW);
    await opening;
  });

  it('requeues in the order first read, ahead of events never read', async () => {
    const { engine } = await world();
    const g = await engine.groups.create('hsm', { class: 'content', restartable: true });
    await g.mark({ path: '/', scope: 'filesystem', mask: FAN_OPEN_PERM });
    const q1 = g.openQueue();
    const ops = [engine.fs.open('/data/file', 'r'), engine.fs.open('/data/stub', 'r'), engine.fs.open('/other', 'r')];
    const read: QueuedEvent[] = [];
    while (read.length < 2) read.push(...(await q1.read({ max: 2 - read.length, waitMs: 5000 })));
    await expect.poll(() => g.info().queued).toBe(1);
    await q1.close();
    const q2 = g.openQueue();
    const order: string[] = [];
    while (order.length < 3) {
      for (const event of await q2.read({ waitMs: 5000 })) {
        order.push(event.path!);
        await q2.respond(event.id, FAN_ALLOW);
      }
    }
    expect(order).toEqual([...read.map((e) => e.path!), '/other']);
    await Promise.all(ops);
  });

  it('enforces the restartable rules with EINVAL', async () => {
    const { engine } = await world();
    expect((await rejection(() => engine.groups.create('n', { class: 'notif', restartable: true }))).code).toBe('EINVAL');
    const g = await engine.groups.create('r', { class: 'content', restartable: true });
    expect((await rejection(() => g.mark({ path: '/data', mask: 0x2n }))).code).toBe('EINVAL');
    const content = await engine.groups.create('c', { class: 'content' });
    expect((await rejection(() => content.mark({ path: '/data/file', mask: FAN_PRE_ACCESS }))).code).toBe('EINVAL');
    const pre = await engine.groups.create('p', { class: 'pre-content' });
    expect((await rejection(() => pre.mark({ path: '/data', mask: FAN_PRE_MODIFY }))).code).toBe('EISDIR');
    await pre.mark({ path: '/data', mask: FAN_PRE_ACCESS });
  });
});

describe('timeouts', () => {
  it('answers by onTimeout after permissionTimeoutMs, journaled as a timeout, and evicts after N in a row', async () => {
    const { engine } = await world();
    const g = await engine.groups.create('slow', { class: 'content', permissionTimeoutMs: 20, onTimeout: 'deny', evictAfterTimeouts: 2 });
    await g.mark({ path: '/data/file', mask: FAN_OPEN_PERM });
    expect((await rejection(() => engine.fs.open('/data/file', 'r'))).code).toBe('EPERM');
    let decision;
    for await (const { payload } of engine.journal.read({ from: engine.journal.headSeq })) decision = decodeRecord(payload);
    expect(decision).toMatchObject({ kind: 'decision', response: FAN_DENY, timeout: true });
    expect((await rejection(() => engine.fs.open('/data/file', 'r'))).code).toBe('EPERM');
    await expect.poll(() => g.info().evicted).toBe(true);
    await expect.poll(() => g.info().marks.length).toBe(0);
    expect(typeof (await engine.fs.open('/data/file', 'r'))).toBe('number');
  });
});

describe('crash resurrection', () => {
  it('queues an unanswered request again at the head after a crash, and completes its operation when allowed', async () => {
    const { engine, io } = await world();
    const fd = await engine.fs.open('/data/file', 'w');
    const q = await group(engine, 'hsm', { class: 'pre-content', restartable: true }, { path: '/data/file', mask: FAN_PRE_MODIFY });
    void engine.fs.write(fd, 500_000, 100).catch(() => undefined);
    const before = await nextEvent(q);
    io.crash(1, 'drop');
    engines.pop();

    const { engine: revived } = await world(io);
    expect(revived.recovery.resurrectedRequests).toBe(1);
    const [pending] = revived.pendingOperations();
    expect(pending).toMatchObject({ op: 'write', path: '/data/file', waitingOn: { group: 'hsm', requestSeq: before.seq } });
    const q2 = revived.groups.get('hsm').openQueue();
    const again = await nextEvent(q2);
    expect(again.seq).toBe(before.seq);
    expect(again.range).toEqual({ offset: 500_000, count: 100 });
    await q2.respond(again.id, FAN_ALLOW);
    expect(await revived.settled(again.seq!)).toEqual({ outcome: 'completed' });
    expect((await revived.fs.stat('/data/file')).size).toBe(500_100);
    expect(revived.pendingOperations()).toEqual([]);
  });

  it('never asks a decided request again, and a denied one changes nothing', async () => {
    const { engine, io } = await world();
    const fd = await engine.fs.open('/data/file', 'w');
    const q = await group(engine, 'hsm', { class: 'pre-content' }, { path: '/data/file', mask: FAN_PRE_MODIFY });
    const writing = rejection(() => engine.fs.write(fd, 500_000, 100));
    await q.respond((await nextEvent(q)).id, FAN_DENY);
    expect((await writing).code).toBe('EPERM');
    io.crash(2, 'drop');
    engines.pop();
    const { engine: revived } = await world(io);
    expect(revived.recovery.resurrectedRequests).toBe(0);
    expect(revived.pendingOperations()).toEqual([]);
    expect((await revived.fs.stat('/data/file')).size).toBe(100_000);
  });
});

describe('waiting operations across a close, on every store', () => {
  for (const store of ['lmdb', 'level', 'files'] as const) {
    it(`asks again after a reopen and completes the operation (${store})`, async () => {
      const { tempDir } = await import('../helpers.js');
      const dir = tempDir();
      const engine = await Engine.open(dir, { store });
      await engine.fs.mkdir('/data');
      await engine.fs.create('/data/file', { size: 1000 });
      const fd = await engine.fs.open('/data/file', 'w');
      const g = await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
      await g.mark({ path: '/data/file', mask: FAN_PRE_MODIFY });
      const writing = rejection(() => engine.fs.write(fd, 5000, 10));
      await expect.poll(() => g.info().pendingPermissions).toBe(1);
      await engine.close();
      expect((await writing).code).toBe('ECLOSED');

      const reopened = await Engine.open(dir, { store });
      engines.push(reopened);
      expect(reopened.recovery.resurrectedRequests).toBe(1);
      const q = reopened.groups.get('hsm').openQueue();
      const event = await nextEvent(q);
      expect(event.range).toEqual({ offset: 5000, count: 10 });
      await q.respond(event.id, FAN_ALLOW);
      expect(await reopened.settled(event.seq!)).toEqual({ outcome: 'completed' });
      expect((await reopened.fs.stat('/data/file')).size).toBe(5010);
    });
  }
});
