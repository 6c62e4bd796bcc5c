/**
 * Set-up that can run again: `groups.open` and `consumers.open` return what
 * exists when its options match, create it when it does not, and refuse
 * (EEXIST, naming the options) when it differs. A consumer object whose
 * name was registered again after an eviction is retired with EREPLACED.
 */
import { afterEach, expect, it } from 'vitest';
import { Engine, FAN_CREATE, FAN_MODIFY, FAN_PRE_ACCESS } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(io: MemoryIo, options: { consumerIdleMsMax?: number } = {}): Promise<Engine> {
  const engine = await Engine.open('/e', { io, store: 'files', ...options });
  engines.push(engine);
  return engine;
}

it('groups.open creates a group once, returns it with its marks while its options match, across a reopen, and is EEXIST when they differ', async () => {
  const io = new MemoryIo();
  let engine = await open(io);
  const options = { class: 'pre-content', restartable: true, permissionTimeoutMs: 5000 } as const;
  const hsm = await engine.groups.open('hsm', options);
  await hsm.mark({ path: '/', scope: 'filesystem', mask: FAN_PRE_ACCESS });
  expect(await engine.groups.open('hsm', options)).toBe(hsm);
  await engine.close();
  engine = await open(io);
  const again = await engine.groups.open('hsm', options);
  expect(again.listMarks()).toEqual([expect.objectContaining({ mask: FAN_PRE_ACCESS })]);
  const error = await rejection(() => engine.groups.open('hsm', { ...options, permissionTimeoutMs: 9000 }));
  expect(error.code).toBe('EEXIST');
  expect(error.message).toMatch(/permissionTimeoutMs: 5000 -> 9000/);
  // Defaults count as asked: a group created without options is not one of class 'content'.
  await engine.groups.open('plain');
  expect((await rejection(() => engine.groups.open('plain', { class: 'content' }))).message).toMatch(/class: notif -> content/);
  expect((await rejection(() => engine.groups.open('bad', { class: 'nope' as never }))).code).toBe('EINVAL');
  expect(engine.groups.list().map((group) => group.name)).toEqual(['hsm', 'plain']);
});

it('consumers.open registers once, keeps the cursor of the one there while its options match, and is EEXIST when they differ', async () => {
  const io = new MemoryIo();
  const engine = await open(io);
  await engine.fs.mkdir('/d');
  const backup = await engine.consumers.open('backup', { mask: FAN_CREATE });
  const [first] = await backup.read({ max: 1 });
  await backup.ack(first!.seq);
  const same = await engine.consumers.open('backup', { mask: FAN_CREATE, from: 'next' });
  expect(same).toBe(backup);
  expect(same.info().cursor).toBe(first!.seq);
  const error = await rejection(() => engine.consumers.open('backup', { mask: FAN_MODIFY }));
  expect(error.code).toBe('EEXIST');
  expect(error.message).toMatch(/mask: 256 -> 2/);
});

it('consumers.open registers again after an eviction, and the old object says it was replaced', async () => {
  const engine = await open(new MemoryIo(), { consumerIdleMsMax: 20 });
  const old = await engine.consumers.open('backup');
  await expect.poll(() => old.evicted, { timeout: 5000 }).not.toBeNull();
  expect((await rejection(() => old.read())).code).toBe('EEVICTED');
  const fresh = await engine.consumers.open('backup', { idleMsMax: 60_000 });
  expect(fresh).not.toBe(old);
  expect(engine.consumers.get('backup')).toBe(fresh);
  for (const call of [() => old.read(), () => old.ack(1n)]) {
    const error = await rejection(call);
    expect(error.code).toBe('EREPLACED');
    expect(error.message).toMatch(/registered again/);
    expect(error.message).toMatch(/consumers\.get\('backup'\)/);
    expect(error.message).not.toMatch(/deregistered/);
  }
});
