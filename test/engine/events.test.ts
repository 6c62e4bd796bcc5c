/**
 * Event conformance: which operation raises which event on which object,
 * and which marks receive it, as scenarios to check against fanotify(7) and
 * fanotify_mark(2). Each scenario marks, acts, and reads the group's queue.
 * The engine runs on MemoryIo with the `files` store, so it is fast and
 * still the real code path.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import {
  Engine,
  FAN_ATTRIB,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_EVENT_ON_CHILD,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_ONDIR,
  FAN_RENAME,
  maskNames,
} from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { FsState } from '../../engine/model/fs-state.js';
import { rejection } from '../helpers.js';
import { ALL, seen, watch, world } from './events-world.js';

describe('events on an inode mark', () => {
  it('reports open, access, modify and close on the marked file', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: ALL });
    const fd = await engine.fs.open('/data/file', 'rw');
    expect(await seen(q)).toEqual(['OPEN /data/file']);
    await engine.fs.read(fd, 0, 100);
    expect(await seen(q)).toEqual(['ACCESS /data/file']);
    await engine.fs.write(fd, 100, 50);
    expect(await seen(q)).toEqual(['MODIFY /data/file']);
    await engine.fs.close(fd);
    expect(await seen(q)).toEqual(['CLOSE_WRITE /data/file']);
    const readOnly = await engine.fs.open('/data/file', 'r', { exec: true });
    await engine.fs.close(readOnly);
    expect(await seen(q)).toEqual(['CLOSE_NOWRITE|OPEN|OPEN_EXEC /data/file']);
    await engine.close();
  });

  it('carries the range, pid and attributes after the operation', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: FAN_MODIFY });
    const fd = await engine.fs.open('/data/file', 'w');
    await engine.fs.write(fd, 20_000, 100, { pid: 77, tid: 78, uid: 1000 });
    const [event] = await q.read();
    expect(event).toMatchObject({ mask: FAN_MODIFY, range: { offset: 20_000, count: 100 }, pid: 77, tid: 78, uid: 1000, name: 'file' });
    expect(event!.stat!.size).toBe(20_100);
    await engine.close();
  });

  it('reports attribute, xattr, truncate and HSM changes', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: ALL });
    await engine.fs.chmod('/data/file', 0o600);
    expect(await seen(q)).toEqual(['ATTRIB /data/file']);
    await engine.fs.setxattr('/data/file', 'user.tier', new Uint8Array([1]));
    expect(await seen(q)).toEqual(['ATTRIB|XATTR /data/file']);
    await engine.fs.truncate('/data/file', 4000);
    const [truncated] = await q.read();
    expect(maskNames(truncated!.mask)).toEqual(['MODIFY', 'TRUNCATE']);
    expect(truncated!.range).toEqual({ offset: 4000, count: 6000 });
    await engine.fs.hsmRelease('/data/file');
    await engine.fs.hsmFill('/data/file', 0, 4096);
    expect(await seen(q)).toEqual(['HSM /data/file']);
    await engine.close();
  });

  it('reports ATTRIB on the object for every link change, with DELETE_SELF when the last link goes', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data/file', mask: ALL });
    await engine.fs.link('/data/file', '/data/hard');
    expect(await seen(q)).toEqual(['ATTRIB /data/file']);
    await engine.fs.unlink('/data/file');
    expect(await seen(q)).toEqual(['ATTRIB /data/file']);
    await engine.fs.unlink('/data/hard');
    expect(await seen(q)).toEqual(['ATTRIB|DELETE_SELF /data/hard']);
    await engine.close();
  });

  it('does not report events on a marked directory without FAN_ONDIR', async () => {
    const engine = await world();
    const without = await watch(engine, { path: '/data/dir', mask: FAN_ATTRIB });
    const withOndir = await watch(engine, { path: '/data/dir', mask: FAN_ATTRIB | FAN_ONDIR });
    await engine.fs.chmod('/data/dir', 0o700);
    expect(await seen(without)).toEqual([]);
    expect(await seen(withOndir)).toEqual(['ATTRIB|ONDIR /data/dir']);
    await engine.close();
  });
});

describe('events on a directory inode mark', () => {
  it('reports entry events (create, delete, moves) with the child named', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data', mask: ALL });
    await engine.fs.create('/data/new');
    const [created] = await q.read();
    expect(created).toMatchObject({ mask: FAN_CREATE, name: 'new', path: '/data/new' });
    await engine.fs.symlink('new', '/data/link');
    expect(await seen(q)).toEqual(['CREATE|SYMLINK /data/link']);
    await engine.fs.link('/data/new', '/data/hard');
    expect(await seen(q)).toEqual(['CREATE|LINK /data/hard']);
    await engine.fs.unlink('/data/hard');
    expect(await seen(q)).toEqual(['DELETE /data/hard']);
    await engine.close();
  });

  it('reports subdirectory creation and removal only with FAN_ONDIR', async () => {
    const engine = await world();
    const files = await watch(engine, { path: '/data', mask: FAN_CREATE | FAN_DELETE });
    const dirs = await watch(engine, { path: '/data', mask: FAN_CREATE | FAN_DELETE | FAN_ONDIR });
    await engine.fs.mkdir('/data/sub');
    expect(await seen(dirs)).toEqual(['CREATE|ONDIR /data/sub']);
    await engine.fs.rmdir('/data/sub');
    expect(await seen(dirs)).toEqual(['DELETE|ONDIR /data/sub']);
    expect(await seen(files)).toEqual([]);
    await engine.close();
  });

  it('reports events on children only with FAN_EVENT_ON_CHILD', async () => {
    const engine = await world();
    const plain = await watch(engine, { path: '/data', mask: FAN_MODIFY });
    const onChild = await watch(engine, { path: '/data', mask: FAN_MODIFY | FAN_EVENT_ON_CHILD });
    await engine.fs.truncate('/data/file', 5);
    expect(await seen(plain)).toEqual([]);
    expect(await seen(onChild)).toEqual(['MODIFY /data/file']);
    await engine.close();
  });

  it('reports a rename as MOVED_FROM and MOVED_TO on each directory, RENAME, and MOVE_SELF on the object', async () => {
    const engine = await world();
    const from = await watch(engine, { path: '/data', mask: FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME });
    const to = await watch(engine, { path: '/other', mask: FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME });
    const self = await watch(engine, { path: '/data/file', mask: FAN_MOVE_SELF });
    await engine.fs.rename('/data/file', '/other/moved');
    const fromEvents = await from.read();
    expect(fromEvents.map((e) => [maskNames(e.mask).join('|'), e.path, e.oldPath])).toEqual([
      ['MOVED_FROM', '/data/file', undefined],
      ['RENAME', '/other/moved', '/data/file'],
    ]);
    const toEvents = await to.read();
    expect(toEvents.map((e) => [maskNames(e.mask).join('|'), e.path, e.oldPath])).toEqual([
      ['MOVED_TO', '/other/moved', '/data/file'],
      ['RENAME', '/other/moved', '/data/file'],
    ]);
    expect(await seen(self)).toEqual(['MOVE_SELF /other/moved']);
    await engine.close();
  });

  it('reports the replaced target of a rename as deleted', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/other/file', mask: FAN_DELETE_SELF });
    await engine.fs.rename('/data/file', '/other/file');
    expect(await seen(q)).toEqual(['DELETE_SELF /other/file']);
    expect((await engine.fs.stat('/other/file')).size).toBe(10_000);
    await engine.close();
  });
});

describe('mount and filesystem marks', () => {
  it('a mount mark sees its subtree and nothing else', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data', scope: 'mount', mask: FAN_MODIFY | FAN_CREATE });
    await engine.fs.truncate('/other/file', 1);
    await engine.fs.truncate('/data/file', 1);
    await engine.fs.create('/data/dir/deep');
    await engine.fs.create('/datafile');
    expect(await seen(q)).toEqual(['MODIFY /data/file', 'CREATE /data/dir/deep']);
    await engine.close();
  });

  it('a filesystem mark sees everything', async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/', scope: 'filesystem', mask: FAN_MODIFY });
    await engine.fs.truncate('/other/file', 1);
    await engine.fs.truncate('/data/file', 1);
    expect(await seen(q)).toEqual(['MODIFY /other/file', 'MODIFY /data/file']);
    await engine.close();
  });

  it("an inode mark's ignore mask silences a mount mark for that object", async () => {
    const engine = await world();
    const q = await watch(engine, { path: '/data', scope: 'mount', mask: FAN_MODIFY }, { path: '/data/file', scope: 'inode', ignore: FAN_MODIFY });
    await engine.fs.create('/data/loud', { size: 10 });
    await engine.fs.truncate('/data/file', 1);
    await engine.fs.truncate('/data/loud', 1);
    expect(await seen(q)).toEqual(['MODIFY /data/loud']);
    await engine.close();
  });

  it('removing bits from a mark stops them, and removing all drops the mark', async () => {
    const engine = await world();
    const group = await engine.groups.create('g');
    await group.mark({ path: '/data/file', mask: FAN_MODIFY | FAN_ATTRIB });
    await group.mark({ path: '/data/file', mask: FAN_MODIFY, remove: true });
    expect(group.listMarks().map((m) => m.mask)).toEqual([FAN_ATTRIB]);
    await group.mark({ path: '/data/file', mask: FAN_ATTRIB, remove: true });
    expect(group.listMarks()).toEqual([]);
    expect((await rejection(() => group.mark({ path: '/data/file', mask: FAN_ATTRIB, remove: true }))).code).toBe('ENOENT');
    await engine.close();
  });
});

describe('an object unlinked while open (an orphan, as in Linux)', () => {
  it('stays readable and writable through its descriptor, and its final close raises CLOSE_WRITE and DELETE_SELF', async () => {
    const engine = await world();
    const onChild = await watch(engine, { path: '/data', mask: ALL | FAN_EVENT_ON_CHILD });
    const onFile = await watch(engine, { path: '/data/file', mask: ALL });
    const fd = await engine.fs.open('/data/file', 'rw');
    const other = await engine.fs.open('/data/file', 'r');
    await seen(onChild);
    await seen(onFile);
    await engine.fs.unlink('/data/file');
    // DELETE on the directory; the link-count ATTRIB on the object alone; no DELETE_SELF while it is open.
    expect(await seen(onChild)).toEqual(['DELETE /data/file']);
    expect(await seen(onFile)).toEqual(['ATTRIB /data/file']);
    expect(await engine.fs.readdir('/data')).toEqual(['dir']);
    expect(await engine.fs.write(fd, 0, 10)).toBe(10);
    expect(await engine.fs.read(other, 0, 10)).toBe(10);
    await engine.fs.close(other);
    // (Unread events of one process about one object merge.)
    expect(await seen(onFile)).toEqual(['ACCESS|MODIFY|CLOSE_NOWRITE /data/file']);
    expect(await seen(onChild)).toEqual(['ACCESS|MODIFY|CLOSE_NOWRITE /data/file']);
    await engine.fs.close(fd);
    expect(await seen(onFile)).toEqual(['CLOSE_WRITE|DELETE_SELF /data/file']);
    // The parent hears the close (an ON_CHILD event) but not the self event.
    expect(await seen(onChild)).toEqual(['CLOSE_WRITE /data/file']);
    expect(engine.state.orphans()).toEqual([]);
    await engine.close();
  });

  it('is released, with DELETE_SELF in the journal, when the engine opens after a crash, and the state is still the replay', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, store: 'files' });
    await engine.fs.mkdir('/data');
    await engine.fs.create('/data/kept', { size: 10 });
    await engine.fs.open('/data/kept', 'r');
    await engine.fs.rename('/data', '/moved');
    await engine.fs.create('/victim', { size: 5 });
    await engine.fs.open('/victim', 'w');
    // Replacing an open object by a rename orphans it too.
    await engine.fs.rename('/moved/kept', '/victim');
    await engine.fs.create('/gone');
    await engine.fs.open('/gone', 'r');
    await engine.fs.unlink('/gone');
    expect(engine.state.orphans().map((inode) => inode.size)).toEqual([5, 0]);
    io.crash(9, 'drop');

    const reopened = await Engine.open('/e', { io, store: 'files' });
    expect(reopened.state.orphans()).toEqual([]);
    const released: string[] = [];
    const replayed = new FsState(0n);
    for await (const { payload } of reopened.journal.read()) {
      const record = decodeRecord(payload);
      if (record.kind === 'op') replayed.apply(record);
      if (record.op === 'release' && record.kind === 'event') released.push(maskNames(record.mask).join('|'));
    }
    expect(released).toEqual(['DELETE_SELF', 'DELETE_SELF']);
    expect(replayed.fingerprint()).toBe(reopened.state.fingerprint());
    await reopened.close();
  });
});
