/**
 * A guarded operation that every group allowed and that then failed (a read
 * of an offline stub no group filled: EIO) has ended, as a denied one has:
 * its caller was told so. Recovery must neither run it again nor stumble on
 * it when a checkpoint's window starts after its first request. Engines run
 * on MemoryIo with the `files` store.
 */
import { afterEach, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import {
  Engine,
  type EventQueue,
  FAN_ACCESS,
  FAN_ACCESS_PERM,
  FAN_ALL_EVENTS,
  FAN_ALLOW,
  FAN_CREATE,
  FAN_OPEN_PERM,
  FAN_PRE_ACCESS,
  FAN_PRE_MODIFY,
} from '../../index.js';
import type { EngineRecord } from '../../engine/record/record.js';
import { MemoryIo } from '../../testing.js';
import { nextEvent, rejection } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(io: MemoryIo): Promise<Engine> {
  const engine = await Engine.open('/e', { io, store: 'files' });
  engines.push(engine);
  return engine;
}

async function readAllRecords(engine: Engine): Promise<ReturnType<typeof decodeRecord>[]> {
  const out: ReturnType<typeof decodeRecord>[] = [];
  for await (const { payload } of engine.journal.read()) out.push(decodeRecord(payload));
  return out;
}

/** Cuts the power, reopens, and expects operation `seq` over: never run again, nothing to settle. */
async function expectOverAfterCrash(io: MemoryIo, seq: bigint): Promise<Engine> {
  io.crash(1, 'drop');
  engines.pop();
  const revived = await open(io);
  expect((await rejection(() => revived.settled(seq))).code).toBe('ENOENT');
  return revived;
}

/** Two restartable pre-content groups that both guard reads of the stub /data/stub; `a` also guards writes to /other. */
async function world(io: MemoryIo): Promise<{ engine: Engine; a: EventQueue; b: EventQueue; fd: number; other: number }> {
  const engine = await open(io);
  await engine.fs.mkdir('/data');
  await engine.fs.create('/data/stub', { size: 1000, offline: true });
  await engine.fs.create('/other', { size: 1000 });
  // Opened before the marks: an open of a marked file raises its own pre-content event.
  const fd = await engine.fs.open('/data/stub', 'r');
  const other = await engine.fs.open('/other', 'w');
  const a = await engine.groups.create('a', { class: 'pre-content', restartable: true });
  await a.mark({ path: '/data/stub', mask: FAN_PRE_ACCESS });
  await a.mark({ path: '/other', mask: FAN_PRE_MODIFY });
  const b = await engine.groups.create('b', { class: 'pre-content', restartable: true });
  await b.mark({ path: '/data/stub', mask: FAN_PRE_ACCESS });
  return { engine, a: a.openQueue(), b: b.openQueue(), fd, other };
}

/**
 * Starts a read of the stub that both groups allow without filling it: it
 * fails with EIO. Meanwhile a write to /other waits on `a`, asked after the
 * failing read's first request and before its last.
 */
async function failAllowedRead({ engine, a, b, fd, other }: Awaited<ReturnType<typeof world>>): Promise<{ failedSeq: bigint; waitingSeq: bigint }> {
  const reading = rejection(() => engine.fs.read(fd, 0, 10));
  const first = await nextEvent(a);
  void engine.fs.write(other, 5000, 10).catch(() => undefined);
  const waiting = await nextEvent(a);
  await a.respond(first.id, FAN_ALLOW);
  const last = await nextEvent(b);
  await b.respond(last.id, FAN_ALLOW);
  expect((await reading).code).toBe('EIO');
  expect(last.seq! > waiting.seq! && waiting.seq! > first.seq!).toBe(true);
  return { failedSeq: first.seq!, waitingSeq: waiting.seq! };
}

it('journals the end of an allowed operation that failed, and never runs it again after a crash', async () => {
  const io = new MemoryIo();
  const { engine, ...rest } = await world(io);
  const { failedSeq, waitingSeq } = await failAllowedRead({ engine, ...rest });
  const revived = await expectOverAfterCrash(io, failedSeq);
  // The write to /other is asked again.
  expect(revived.recovery.resurrectedRequests).toBe(1);
  expect(revived.pendingOperations().map((operation) => operation.operationSeq)).toEqual([waitingSeq]);
  expect((await revived.fs.stat('/other')).size).toBe(1000);
});

// A build of format 6 journaled nothing when an allowed operation failed: the window alone must do.
it.each([
  ['with its outcome journaled', false],
  ['journaled before outcomes were (format 6)', true],
])('opens after a checkpoint whose window starts between the first and last request of a failed operation, %s', async (_, format6) => {
  const io = new MemoryIo();
  const { engine, ...rest } = await world(io);
  if (format6) {
    const append = engine.appendRecord.bind(engine);
    engine.appendRecord = (record: EngineRecord, onSeq?: (seq: bigint) => void) => (record.kind === 'outcome' ? Promise.resolve(0n) : append(record, onSeq));
  }
  const { waitingSeq } = await failAllowedRead({ engine, ...rest });
  // The write to /other is the oldest pending operation: the checkpoint needs the journal from its request on.
  await engine.checkpoint();
  await engine.close();
  engines.pop();

  const reopened = await open(io);
  expect(reopened.pendingOperations().map((operation) => operation.operationSeq)).toEqual([waitingSeq]);
});

it('journals the outcome of a read whose ACCESS event the changelog mask leaves out, under the mask of its requests', async () => {
  const io = new MemoryIo();
  const engine = await Engine.open('/e', { io, store: 'files', changelogMask: FAN_ALL_EVENTS & ~FAN_ACCESS });
  engines.push(engine);
  await engine.fs.create('/f', { size: 100 });
  const fd = await engine.fs.open('/f', 'r');
  const creates = await engine.consumers.register('creates', { mask: FAN_CREATE });
  const group = await engine.groups.create('av', { class: 'content' });
  await group.mark({ path: '/f', mask: FAN_ACCESS_PERM });
  const queue = group.openQueue();
  const reading = engine.fs.read(fd, 0, 10);
  const asked = await nextEvent(queue);
  await queue.respond(asked.id, FAN_ALLOW);
  expect(await reading).toBe(10);
  const outcomes = (await readAllRecords(engine)).filter((record) => record.kind === 'outcome');
  expect(outcomes).toMatchObject([{ op: 'read', operationSeq: asked.seq }]);
  // Its mask: every permission event a read raises (PRE_ACCESS, then ACCESS_PERM).
  expect(outcomes[0]!.mask).toBe(FAN_PRE_ACCESS | FAN_ACCESS_PERM);
  // A consumer's mask takes an outcome as it takes the requests: by the operation's permission events.
  expect((await creates.read()).filter((record) => record.kind === 'outcome')).toEqual([]);
  await expectOverAfterCrash(io, asked.seq!);
});

it('journals the outcome of an operation whose object was deleted between two groups, and never runs it again', async () => {
  const io = new MemoryIo();
  const engine = await open(io);
  await engine.fs.create('/f', { size: 100 });
  for (const name of ['a', 'b']) await (await engine.groups.create(name, { class: 'content' })).mark({ path: '/f', mask: FAN_OPEN_PERM });
  const queue = engine.groups.get('a').openQueue();
  const opening = rejection(() => engine.fs.open('/f', 'r'));
  const first = await nextEvent(queue);
  await engine.fs.unlink('/f');
  await queue.respond(first.id, FAN_ALLOW);
  expect((await opening).code).toBe('ENOENT');
  await expectOverAfterCrash(io, first.seq!);
});

it('tells the caller the engine failed, not the operation, when its outcome cannot be journaled', async () => {
  const io = new MemoryIo();
  const { engine, ...rest } = await world(io);
  const reading = rejection(() => engine.fs.read(rest.fd, 0, 10));
  await rest.a.respond((await nextEvent(rest.a)).id, FAN_ALLOW);
  const last = await nextEvent(rest.b);
  // The decision's write is the first; the outcome's, the second, fails.
  io.injectFault({ op: 'write', nth: 2, code: 'EIO' });
  await rest.b.respond(last.id, FAN_ALLOW);
  const error = await reading;
  // Not the read's own EIO ("bytes 0..10 are offline"): the journal's, since recovery may run the read again.
  expect(error.code).toBe('EIO');
  expect(error.message).not.toMatch(/offline/);
  expect(engine.failed).toBe(true);
});
