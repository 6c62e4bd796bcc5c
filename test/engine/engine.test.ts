/**
 * The Engine on each store: what survives a reopen (filesystem, groups,
 * marks), what checkpoints do to recovery and to the journal, argument
 * checks, and the failed state after an I/O error.
 */
import { describe, expect, it } from 'vitest';
import { Engine, FAN_CREATE, FAN_MODIFY, FanlogError, type StoreKind } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection, tempDir } from '../helpers.js';

const STORES: StoreKind[] = ['lmdb', 'level', 'files'];

async function populate(engine: Engine): Promise<void> {
  await engine.fs.mkdir('/data', { mode: 0o750 });
  await engine.fs.create('/data/stub', { size: 1 << 20, offline: true });
  const fd = await engine.fs.open('/data/new', 'w', { create: true });
  await engine.fs.write(fd, 0, 5000);
  await engine.fs.close(fd);
  await engine.fs.rename('/data/new', '/data/renamed');
  await engine.fs.symlink('/data/renamed', '/link');
  await engine.fs.setxattr('/data/renamed', 'user.tier', new Uint8Array([2]));
  await engine.fs.hsmFill('/data/stub', 0, 65536);
}

for (const store of STORES) {
  describe(`Engine on ${store}`, () => {
    it('keeps the filesystem, groups and marks across a reopen', async () => {
      const dir = tempDir();
      const engine = await Engine.open(dir, { store });
      await populate(engine);
      const group = await engine.groups.create('indexer', { queueEventsMax: 100 });
      await group.mark({ path: '/data', scope: 'mount', mask: FAN_CREATE | FAN_MODIFY });
      const fingerprint = engine.state.fingerprint();
      await engine.close();

      const reopened = await Engine.open(dir, { store });
      expect(reopened.state.fingerprint()).toBe(fingerprint);
      expect(await reopened.fs.readdir('/data')).toEqual(['renamed', 'stub']);
      expect((await reopened.fs.stat('/link')).size).toBe(5000);
      expect(await reopened.fs.offlineBytes('/data/stub')).toBe((1 << 20) - 65536);
      const info = reopened.groups.get('indexer').info();
      expect(info).toMatchObject({ name: 'indexer', class: 'notif', queueEventsMax: 100 });
      expect(info.marks).toEqual([{ scope: 'mount', path: '/data', mask: FAN_CREATE | FAN_MODIFY, ignore: 0n }]);
      const q = reopened.groups.get('indexer').openQueue();
      await reopened.fs.create('/data/after');
      expect((await q.read()).map((e) => e.path)).toEqual(['/data/after']);
      await reopened.close();
    });

    it('recovers by replay without a checkpoint, and from the checkpoint after one', async () => {
      const dir = tempDir();
      const io = store === 'files' ? new MemoryIo() : undefined;
      const opts = { store, checkpointEveryRecords: 1_000_000, ...(io === undefined ? {} : { io }) };
      const engine = await Engine.open(dir, opts);
      await populate(engine);
      const fingerprint = engine.state.fingerprint();
      const head = engine.journal.headSeq;
      if (io !== undefined) io.crash(1, 'drop');
      else await engine.close({ checkpoint: false }); // a crash, as far as the checkpoint is concerned

      const replayed = await Engine.open(dir, opts);
      expect(replayed.recovery.checkpointSeq).toBe(0n);
      expect(replayed.recovery.replayedRecords).toBe(Number(head));
      expect(replayed.state.fingerprint()).toBe(fingerprint);
      const covered = await replayed.checkpoint();
      expect(covered).toBe(head);
      await replayed.fs.mkdir('/later');
      const later = replayed.state.fingerprint();
      await replayed.close();

      const fromCheckpoint = await Engine.open(dir, opts);
      expect(fromCheckpoint.recovery.checkpointSeq).toBeGreaterThanOrEqual(head);
      expect(fromCheckpoint.recovery.replayedRecords).toBe(0);
      expect(fromCheckpoint.state.fingerprint()).toBe(later);
      await fromCheckpoint.close();
    });
  });
}

describe('Engine checkpoints', () => {
  it('purge the journal behind them, so recovery replays only the tail', async () => {
    const dir = tempDir();
    const engine = await Engine.open(dir, { store: 'lmdb', checkpointEveryRecords: 500, segmentBytesMax: 16 * 1024 });
    await engine.fs.mkdir('/d');
    for (let i = 0; i < 400; i++) await engine.fs.create(`/d/f${i}`, { size: i });
    await engine.checkpoint();
    expect(engine.journal.firstSeq).toBeGreaterThan(1n);
    const fingerprint = engine.state.fingerprint();
    await engine.close();
    const reopened = await Engine.open(dir, { store: 'lmdb' });
    expect(reopened.recovery.replayedRecords).toBe(0);
    expect(reopened.state.fingerprint()).toBe(fingerprint);
    await reopened.close();
  });

  it('run by themselves every checkpointEveryRecords records', async () => {
    const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files', checkpointEveryRecords: 50 });
    for (let i = 0; i < 60; i++) await engine.fs.mkdir(`/d${i}`);
    await expect.poll(() => engine.checkpointSeq, { timeout: 5000, interval: 5 }).toBeGreaterThan(0n);
    await engine.close();
  });
});

describe('Engine arguments and failures', () => {
  it('rejects bad options and bad arguments with EINVAL and keeps working', async () => {
    const dir = tempDir();
    for (const options of [{ store: 'sqlite' }, { sync: 'sometimes' }, { changelogMask: 1 }, { checkpointEveryRecords: 0 }, { bogus: true }]) {
      const error = await rejection(() => Engine.open(dir, options as never));
      expect(error, JSON.stringify(options)).toBeInstanceOf(FanlogError);
      expect(error.code).toBe('EINVAL');
    }
    const engine = await Engine.open(dir, { store: 'files' });
    const fs = engine.fs;
    const calls: [string, () => Promise<unknown>, string][] = [
      ['relative path', () => fs.mkdir('data'), 'EINVAL'],
      ['dot-dot', () => fs.mkdir('/a/../b'), 'EINVAL'],
      ['trailing slash', () => fs.mkdir('/a/'), 'EINVAL'],
      ['empty component', () => fs.mkdir('//a'), 'EINVAL'],
      ['long name', () => fs.mkdir(`/${'n'.repeat(256)}`), 'ENAMETOOLONG'],
      ['number path', () => fs.stat(5 as never), 'EINVAL'],
      ['bad mode', () => fs.mkdir('/a', { mode: 0o10000 }), 'EINVAL'],
      ['unknown option', () => fs.create('/a', { color: 'red' } as never), 'EINVAL'],
      ['negative size', () => fs.create('/a', { size: -1 }), 'EINVAL'],
      ['bigint size', () => fs.truncate('/a', 5n as never), 'EINVAL'],
      ['bad flags', () => fs.open('/a', 'x' as never), 'EINVAL'],
      ['bad fd', () => fs.read(99, 0, 1), 'EBADF'],
      ['number time', () => fs.utimes('/', 1 as never, 2n), 'EINVAL'],
      ['bad context', () => fs.mkdir('/a', {}, { pid: -1 }), 'EINVAL'],
      ['xattr value', () => fs.setxattr('/', 'user.a', 'text' as never), 'EINVAL'],
      ['group name', () => engine.groups.create('bad name!'), 'EINVAL'],
      ['group class', () => engine.groups.create('g', { class: 'loud' as never }), 'EINVAL'],
      ['unknown group', async () => engine.groups.get('nobody'), 'ENOENT'],
    ];
    for (const [what, call, code] of calls) {
      const error = await rejection(call);
      expect(error, what).toBeInstanceOf(FanlogError);
      expect(error.code, what).toBe(code);
    }
    await fs.mkdir('/still-works');
    expect(await fs.readdir('/')).toEqual(['still-works']);
    await engine.close();
  });

  it('rejects marks with permission events in a notif group, and unknown mask bits', async () => {
    const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
    const group = await engine.groups.create('g');
    expect((await rejection(() => group.mark({ path: '/', mask: 0x10000n }))).code).toBe('EINVAL');
    expect((await rejection(() => group.mark({ path: '/', mask: 1n << 50n }))).code).toBe('EINVAL');
    expect((await rejection(() => group.mark({ path: '/missing', mask: FAN_MODIFY }))).code).toBe('ENOENT');
    expect((await rejection(() => engine.groups.create('g'))).code).toBe('EEXIST');
    await engine.close();
  });

  it('fails an operation on an I/O error, then everything with EFAILED until reopened', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, store: 'files' });
    await engine.fs.mkdir('/ok');
    io.injectFault({ op: 'sync', nth: 1, code: 'ENOSPC' });
    expect((await rejection(() => engine.fs.mkdir('/lost'))).code).toBe('ENOSPC');
    expect(engine.failed).toBe(true);
    expect((await rejection(() => engine.fs.stat('/ok'))).code).toBe('EFAILED');
    expect((await rejection(() => engine.checkpoint())).code).toBe('EFAILED');
    await engine.close();
    const reopened = await Engine.open('/e', { io, store: 'files' });
    expect(await reopened.fs.readdir('/')).toContain('ok');
    await reopened.fs.mkdir('/again');
    await reopened.close();
  });

  it('rejects a second open of the same directory with EBUSY', async () => {
    const dir = tempDir();
    const engine = await Engine.open(dir, { store: 'lmdb' });
    expect((await rejection(() => Engine.open(dir, { store: 'lmdb' }))).code).toBe('EBUSY');
    await engine.close();
  });
});
