/**
 * The permission state machines (engine/permission/request.ts and
 * operation.ts): every transition outside the diagram is a failed
 * assertion (a bug), never a FanlogError; an orphan's outcome is reported
 * once and then forgotten.
 */
import { AssertionError } from 'node:assert';
import { afterEach, expect, it } from 'vitest';
import { Engine } from '../../fanlog.js';
import { FAN_ALLOW, FAN_OPEN_PERM, FAN_PRE_MODIFY } from '../../engine/notify/masks.js';
import type { Intent } from '../../engine/permission/intent.js';
import { GuardedOperation } from '../../engine/permission/operation.js';
import { type PermissionGroup, PermissionRequest } from '../../engine/permission/request.js';
import type { Group } from '../../engine/notify/groups.js';
import { MemoryIo } from '../../journal/memory-io.js';
import type { RequestRecord } from '../../engine/record/record.js';
import { rejection } from '../helpers.js';

const intent: Intent = {
  op: 'read',
  offset: 0,
  length: 1,
  fid: { ino: 2, gen: 2 },
  parentFid: { ino: 1, gen: 1 },
  name: 'f',
  path: '/f',
  pid: 1,
  tid: 1,
  uid: 0,
  steps: [{ mask: 65536n }],
};
const group = { name: 'g', groupClass: 'content' } as PermissionGroup;

it('asserts every request transition', () => {
  const request = new PermissionRequest(5n, new GuardedOperation(intent, false), group, { kind: 'request', op: 'read', time: 0n } as RequestRecord, 0);
  expect(() => request.read()).toThrow(AssertionError); // new -> read: never queued
  request.queued();
  request.read();
  request.queued(); // a restart
  request.deciding();
  expect(request.undecided).toBe(false);
  expect(() => request.queued()).toThrow(AssertionError);
  request.decided(FAN_ALLOW);
  expect(() => request.abandon(new Error('late'))).toThrow(AssertionError);
  expect(() =>
    request.armTimeout(
      10,
      () => 0n,
      () => undefined,
    ),
  ).toThrow(AssertionError);
});

it('asserts every operation transition', () => {
  const operation = new GuardedOperation(intent, false);
  expect(() => operation.performing()).toThrow(AssertionError); // asking -> performing: never allowed
  operation.allowed();
  expect(() => operation.settle({ outcome: 'completed' })).toThrow(AssertionError); // allowed -> settled: never performed
  operation.performing();
  operation.settle({ outcome: 'completed' });
  expect(() => operation.settle({ outcome: 'completed' })).toThrow(AssertionError);
});

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

/** An engine on a MemoryIo whose file /f, open for writing, a restartable pre-content group 'hsm' guards. */
async function guardedFile(): Promise<{ io: MemoryIo; engine: Engine; fd: number; g: Group }> {
  const io = new MemoryIo();
  const engine = await Engine.open('/e', { io, store: 'files' });
  await engine.fs.create('/f', { size: 10 });
  const fd = await engine.fs.open('/f', 'w');
  const g = await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
  await g.mark({ path: '/f', mask: FAN_PRE_MODIFY });
  return { io, engine, fd, g };
}

it("reports an orphan's outcome once, then forgets it", async () => {
  const { io, engine, fd, g } = await guardedFile();
  const writing = rejection(() => engine.fs.write(fd, 0, 5));
  await expect.poll(() => g.info().pendingPermissions).toBe(1);
  await engine.close();
  expect((await writing).code).toBe('ECLOSED');

  const reopened = await Engine.open('/e', { io, store: 'files' });
  engines.push(reopened);
  const [pending] = reopened.pendingOperations();
  const queue = reopened.groups.get('hsm').openQueue();
  const [event] = await queue.read({ max: 1 });
  await queue.respond(event!.id, FAN_ALLOW);
  expect(await reopened.settled(pending!.operationSeq)).toEqual({ outcome: 'completed' });
  expect((await rejection(() => reopened.settled(pending!.operationSeq))).code).toBe('ENOENT');
});

it("times a request out by the engine's clock", async () => {
  let now = 1n;
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files', clock: () => now });
  engines.push(engine);
  await engine.fs.create('/f', { size: 10 });
  const g = await engine.groups.create('slow', { class: 'content', permissionTimeoutMs: 3_600_000, onTimeout: 'deny' });
  await g.mark({ path: '/f', mask: FAN_OPEN_PERM });
  const opening = rejection(() => engine.fs.open('/f', 'r'));
  await expect.poll(() => g.info().pendingPermissions).toBe(1);
  // An hour passes on the engine's clock, in no time on the wall's.
  now += 3_600_000_000_000n;
  expect((await opening).code).toBe('EPERM');
});

it('lists every operation that waits for an answer, live or resurrected, and says which', async () => {
  const { io, engine, fd, g } = await guardedFile();
  const writing = engine.fs.write(fd, 0, 5);
  await expect.poll(() => g.info().pendingPermissions).toBe(1);
  // A daemon that waits on this list sees the live operation: its caller waits.
  const [live] = engine.pendingOperations();
  expect(live).toMatchObject({ op: 'write', path: '/f', resurrected: false, waitingOn: { group: 'hsm' } });
  const queue = g.openQueue();
  const [event] = await queue.read({ max: 1 });
  await queue.respond(event!.id, FAN_ALLOW);
  await writing;
  expect(engine.pendingOperations()).toEqual([]);

  // The same wait across a close: the operation comes back resurrected.
  void engine.fs.write(fd, 0, 5).catch(() => undefined);
  await expect.poll(() => g.info().pendingPermissions).toBe(1);
  await engine.close();
  const reopened = await Engine.open('/e', { io, store: 'files' });
  engines.push(reopened);
  expect(reopened.pendingOperations()).toEqual([expect.objectContaining({ op: 'write', path: '/f', resurrected: true })]);
});
