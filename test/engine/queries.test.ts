/**
 * Reading the filesystem back (engine/fs/fs-queries.ts): symlink targets
 * (and the target in the FAN_SYMLINK record), xattrs, a stub's offline
 * ranges and stat's offline flag, as an HSM or backup tool reads them;
 * queries journal nothing.
 */
import { afterEach, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { Engine, FAN_SYMLINK } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection, text, untext } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function opened(): Promise<Engine> {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  engines.push(engine);
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/stub', { size: 10_000, offline: true });
  return engine;
}

it('reads a symlink back without following it, and journals its target in the FAN_SYMLINK record', async () => {
  const engine = await opened();
  await engine.fs.symlink('stub', '/d/ln');
  await engine.fs.symlink('/d', '/dirlink');
  expect(await engine.fs.readlink('/d/ln')).toBe('stub');
  expect(await engine.fs.readlink('/dirlink')).toBe('/d');
  // The last component is not followed; those before it are.
  expect(await engine.fs.readlink('/dirlink/ln')).toBe('stub');
  expect((await rejection(() => engine.fs.readlink('/d'))).code).toBe('EINVAL');
  const symlinkEvents = [];
  for await (const { payload } of engine.journal.read()) {
    const record = decodeRecord(payload);
    if (record.kind === 'event' && (record.mask & FAN_SYMLINK) !== 0n) symlinkEvents.push({ path: record.path, target: record.target });
  }
  expect(symlinkEvents).toEqual([
    { path: '/d/ln', target: 'stub' },
    { path: '/dirlink', target: '/d' },
  ]);
});

it('reads xattrs back, as copies, and lists their names sorted', async () => {
  const engine = await opened();
  await engine.fs.setxattr('/d/stub', 'user.b', text('two'));
  await engine.fs.setxattr('/d/stub', 'user.a', text('one'));
  expect(await engine.fs.listxattr('/d/stub')).toEqual(['user.a', 'user.b']);
  const value = await engine.fs.getxattr('/d/stub', 'user.b');
  expect(untext(value)).toBe('two');
  value.fill(0);
  expect(untext(await engine.fs.getxattr('/d/stub', 'user.b'))).toBe('two');
  await engine.fs.removexattr('/d/stub', 'user.a');
  expect(await engine.fs.listxattr('/d/stub')).toEqual(['user.b']);
  expect((await rejection(() => engine.fs.getxattr('/d/stub', 'user.a'))).code).toBe('ENODATA');
  expect(await engine.fs.listxattr('/d')).toEqual([]);
});

it("gives a stub's offline ranges and flags it in stat until it is wholly resident", async () => {
  const engine = await opened();
  await engine.fs.create('/d/resident', { size: 10 });
  expect(await engine.fs.offlineRanges('/d/stub')).toEqual([{ offset: 0, count: 10_000 }]);
  expect((await engine.fs.stat('/d/stub')).offline).toBe(true);
  expect((await engine.fs.stat('/d/resident')).offline).toBe(false);
  expect((await engine.fs.stat('/d')).offline).toBe(false);
  await engine.fs.hsmFill('/d/stub', 1000, 2000);
  await engine.fs.hsmFill('/d/stub', 8000, 5000);
  expect(await engine.fs.offlineRanges('/d/stub')).toEqual([
    { offset: 0, count: 1000 },
    { offset: 3000, count: 5000 },
  ]);
  const head = engine.journal.headSeq;
  await engine.fs.hsmFill('/d/stub', 0, 10_000);
  expect(await engine.fs.offlineRanges('/d/stub')).toEqual([]);
  expect((await engine.fs.stat('/d/stub')).offline).toBe(false);
  // Queries journal nothing.
  await engine.fs.readlink('/d/stub').catch(() => undefined);
  await engine.fs.listxattr('/d/stub');
  expect(engine.journal.headSeq).toBe(head + 2n);
});
