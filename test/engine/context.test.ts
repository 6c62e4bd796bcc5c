/**
 * A call's process context reaches every record it journals and every
 * event a listener reads: pid, tid, uid and gid (the gid was dropped before
 * record format 3), on plain operations and on guarded ones, through their
 * requests and decisions.
 */
import { afterEach, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { Engine, FAN_ALLOW, FAN_CREATE, FAN_PRE_ACCESS } from '../../index.js';
import { MemoryIo } from '../../testing.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

const ctx = { pid: 4242, tid: 4243, uid: 1000, gid: 1001 };

it('carries the gid wherever it carries the uid: op, event, request and decision records, and queued events', async () => {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  engines.push(engine);
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/stub', { size: 8192, offline: true });
  const watch = await engine.groups.create('watch', { class: 'notif' });
  await watch.mark({ path: '/d', scope: 'mount', mask: FAN_CREATE });
  const from = engine.journal.headSeq + 1n;

  await engine.fs.create('/d/new', {}, ctx);
  const [created] = await watch.openQueue().read({ max: 1 });
  expect(created).toMatchObject({ uid: 1000, gid: 1001, pid: 4242 });
  // Opened before the mark (an open raises FAN_PRE_ACCESS too): the read asks.
  const fd = await engine.fs.open('/d/stub', 'r', {}, ctx);
  const hsm = await engine.groups.create('hsm', { class: 'pre-content' });
  await hsm.mark({ path: '/d', scope: 'mount', mask: FAN_PRE_ACCESS });
  const reading = engine.fs.read(fd, 0, 4096, ctx);
  const queue = hsm.openQueue();
  const [request] = await queue.read({ max: 1, waitMs: 5000 });
  expect(request).toMatchObject({ uid: 1000, gid: 1001 });
  await engine.fs.hsmFill('/d/stub', 0, 8192, ctx);
  await queue.respond(request!.id, FAN_ALLOW);
  await reading;

  const kinds = new Set<string>();
  for await (const { payload } of engine.journal.read({ from })) {
    const record = decodeRecord(payload);
    if (record.uid === undefined) continue;
    kinds.add(record.kind);
    expect({ kind: record.kind, op: record.op, uid: record.uid, gid: record.gid }).toEqual({ kind: record.kind, op: record.op, uid: 1000, gid: 1001 });
  }
  expect([...kinds].sort()).toEqual(['decision', 'event', 'op', 'request']);
});
