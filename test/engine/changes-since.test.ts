/**
 * engine.changesSince on a scripted history (creates, writes, renames,
 * links, deletes, a create-then-delete): one entry per object, with its
 * paths and stat now, and the seq to ask from next; `pathPrefix` and
 * `max`; EPURGED once what it needs is gone. And engine.mark: a note with
 * the label, delivered to consumers whatever their mask and filter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_MODIFY, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

async function open(options: { segmentBytesMax?: number; checkpointEveryRecords?: number; changelogMask?: bigint } = {}): Promise<Engine> {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files', ...options });
  engines.push(engine);
  return engine;
}

/** Writes `bytes` at the end of `path` (a MODIFY and a CLOSE_WRITE). */
async function append(engine: Engine, path: string, bytes: number): Promise<void> {
  const fd = await engine.fs.open(path, 'w');
  const { size } = await engine.fs.stat(path);
  await engine.fs.write(fd, size, bytes);
  await engine.fs.close(fd);
}

/** The tree before the backup: /p/{keep, edit, move, link, gone}, /p/dir/{inner}. */
async function before(engine: Engine): Promise<bigint> {
  await engine.fs.mkdir('/p');
  await engine.fs.mkdir('/p/dir');
  for (const name of ['keep', 'edit', 'move', 'link', 'gone']) await engine.fs.create(`/p/${name}`, { size: 10 });
  await engine.fs.create('/p/dir/inner', { size: 1 });
  await engine.fs.create('/q', { size: 1 });
  return engine.journal.durableSeq;
}

const byPath = (changes: { paths: string[] }[]): Record<string, unknown> => Object.fromEntries(changes.map((change) => [change.paths.join(','), change]));

describe('changesSince', () => {
  it('gives one entry per object changed, with its paths and stat now', async () => {
    const engine = await open();
    const since = await before(engine);
    await append(engine, '/p/edit', 5);
    await append(engine, '/p/edit', 5); // twice: still one entry
    await engine.fs.rename('/p/move', '/p/moved');
    await engine.fs.rename('/p/moved', '/p/moved-again');
    await engine.fs.link('/p/link', '/p/link2');
    await engine.fs.unlink('/p/gone');
    await engine.fs.create('/p/new', { size: 3 });
    await engine.fs.create('/p/brief', { size: 3 });
    await engine.fs.unlink('/p/brief'); // made and gone: not reported
    await engine.fs.rename('/p/dir', '/p/dir2'); // the directory, not what is in it
    const answer = await engine.changesSince(since);
    expect(answer.since).toBe(since);
    expect(answer.seq).toBe(engine.journal.durableSeq);
    expect(answer.complete).toBe(true);
    const changes = byPath(answer.changes);
    // /p too: names were made and removed in it.
    expect(Object.keys(changes).sort()).toEqual(['/p', '/p/dir2', '/p/edit', '/p/gone', '/p/link,/p/link2', '/p/moved-again', '/p/new'].sort());
    expect(answer.changes.find((change) => change.paths[0] === '/p')!.mask).toBe(FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR);
    const edit = answer.changes.find((change) => change.paths[0] === '/p/edit')!;
    expect(edit.exists).toBe(true);
    expect(edit.stat?.size).toBe(20);
    expect(edit.mask & (FAN_MODIFY | FAN_CLOSE_WRITE)).toBe(FAN_MODIFY | FAN_CLOSE_WRITE);
    expect(answer.changes.filter((change) => change.fid.ino === edit.fid.ino)).toHaveLength(1);
    const moved = answer.changes.find((change) => change.paths[0] === '/p/moved-again')!;
    expect(moved.mask & (FAN_MOVED_FROM | FAN_MOVED_TO)).toBe(FAN_MOVED_FROM | FAN_MOVED_TO);
    expect(moved.stat?.size).toBe(10);
    const linked = answer.changes.find((change) => change.paths.includes('/p/link2'))!;
    expect(linked.paths).toEqual(['/p/link', '/p/link2']);
    expect(linked.stat?.nlink).toBe(2);
    const gone = answer.changes.find((change) => change.paths[0] === '/p/gone')!;
    expect(gone).toMatchObject({ exists: false, stat: null });
    expect(gone.mask & FAN_DELETE).toBe(FAN_DELETE);
    expect(answer.changes.find((change) => change.paths[0] === '/p/new')!.mask & FAN_CREATE).toBe(FAN_CREATE);
    expect(answer.changes.every((change, i) => i === 0 || change.lastSeq !== answer.changes[i - 1]!.lastSeq)).toBe(true);
    // Asked again from where it ended: nothing, until something changes.
    expect((await engine.changesSince(answer.seq)).changes).toEqual([]);
    await engine.fs.chmod('/q', 0o600);
    expect((await engine.changesSince(answer.seq)).changes.map((change) => change.paths)).toEqual([['/q']]);
  });

  it('finds every path of a file linked before, and one renamed with its directory', async () => {
    const engine = await open();
    await engine.fs.mkdir('/a');
    await engine.fs.create('/a/f', { size: 1 });
    await engine.fs.link('/a/f', '/g');
    const since = engine.journal.durableSeq;
    await engine.fs.rename('/a', '/b'); // /a/f is /b/f now, with no event of its own
    await append(engine, '/g', 1);
    const changes = (await engine.changesSince(since)).changes;
    expect(changes.map((change) => change.paths)).toEqual([['/b'], ['/'], ['/b/f', '/g']]);
  });

  it('keeps the objects under a prefix: one moved out of it is reported, at its path now', async () => {
    const engine = await open();
    const since = await before(engine);
    await append(engine, '/p/edit', 1);
    await append(engine, '/q', 1);
    await engine.fs.rename('/p/keep', '/kept-outside');
    const changes = (await engine.changesSince(since, { pathPrefix: '/p' })).changes;
    // /p lost a name; the root, which gained one, is not under /p.
    expect(changes.map((change) => change.paths.join(',')).sort()).toEqual(['/kept-outside', '/p', '/p/edit']);
    expect((await rejection(() => engine.changesSince(since, { pathPrefix: 'relative' }))).code).toBe('EINVAL');
  });

  it('stops at max entries, and the next call goes on from where it stopped', async () => {
    const engine = await open();
    const since = engine.journal.durableSeq;
    for (let i = 0; i < 10; i++) await engine.fs.create(`/f${i}`);
    const first = await engine.changesSince(since, { max: 4 });
    expect(first.complete).toBe(false);
    // The root (each create makes a name in it) and three files.
    expect(first.changes).toHaveLength(4);
    const rest = await engine.changesSince(first.seq);
    expect(rest.complete).toBe(true);
    const files = [...first.changes, ...rest.changes].flatMap((change) => change.paths).filter((path) => path !== '/');
    expect(new Set(files)).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `/f${i}`)));
  });

  it('makes progress with max 1: a page takes its first record, whatever it adds', async () => {
    const engine = await open();
    const since = engine.journal.durableSeq;
    for (let i = 0; i < 5; i++) await engine.fs.create(`/f${i}`);
    const seen = new Set<string>();
    let at = since;
    for (let calls = 0; ; calls++) {
      expect(calls).toBeLessThan(20);
      const page = await engine.changesSince(at, { max: 1 });
      for (const change of page.changes) seen.add(change.paths.join());
      if (page.complete) break;
      expect(page.seq).toBeGreaterThan(at);
      at = page.seq;
    }
    expect([...seen].sort()).toEqual(['/', '/f0', '/f1', '/f2', '/f3', '/f4']);
  });

  it('reports an object removed while open, a file or a directory, as gone', async () => {
    const engine = await open();
    await engine.fs.mkdir('/q');
    await engine.fs.mkdir('/q/d');
    await engine.fs.create('/q/f');
    const since = engine.journal.durableSeq;
    const file = await engine.fs.open('/q/f', 'r');
    const dir = await engine.fs.open('/q/d', 'r');
    await engine.fs.unlink('/q/f');
    await engine.fs.rmdir('/q/d');
    await engine.fs.rmdir('/q');
    const changes = (await engine.changesSince(since)).changes;
    expect(changes.filter((change) => change.exists).map((change) => change.paths)).toEqual([['/']]);
    expect(
      changes
        .filter((change) => !change.exists)
        .map((change) => change.paths[0])
        .sort(),
    ).toEqual(['/q', '/q/d', '/q/f']);
    await engine.fs.close(file);
    await engine.fs.close(dir);
  });

  it('is EINVAL on a changelog that keeps too few events to tell changes', async () => {
    const engine = await open({ changelogMask: FAN_CREATE | FAN_DELETE | FAN_MODIFY });
    const error = await rejection(() => engine.changesSince(0n));
    expect(error.code).toBe('EINVAL');
    expect(error.message).toContain('MOVED_FROM');
  });

  it('is EPURGED when records after since were purged, and EINVAL past the durable seq', async () => {
    const engine = await open({ segmentBytesMax: 4096, checkpointEveryRecords: 50 });
    for (let i = 0; i < 400; i++) await engine.fs.create(`/f${i}`);
    await engine.checkpoint();
    expect(engine.journal.firstSeq).toBeGreaterThan(2n);
    expect((await rejection(() => engine.changesSince(0n))).code).toBe('EPURGED');
    expect((await rejection(() => engine.changesSince(engine.journal.durableSeq + 1n))).code).toBe('EINVAL');
    expect((await rejection(() => engine.changesSince(1 as unknown as bigint))).code).toBe('EINVAL');
  });
});

describe('mark', () => {
  it('journals a note with its label, durable, that every consumer gets whatever its mask and filter', async () => {
    const engine = await open();
    const narrow = await engine.consumers.register('narrow', { mask: FAN_DELETE });
    await narrow.attachFilter('path-prefix', '/projects');
    await engine.fs.create('/x');
    const seq = await engine.mark('backup-42 begins');
    expect(seq).toBe(engine.journal.durableSeq);
    const [record] = await narrow.read();
    expect(record).toMatchObject({ seq, kind: 'note', op: 'mark', reason: 'backup-42 begins' });
    expect((await rejection(() => engine.mark(''))).code).toBe('EINVAL');
    expect((await rejection(() => engine.mark('x'.repeat(1025)))).code).toBe('EINVAL');
  });

  it('refuses a label holding a control character (NUL, a newline, DEL) with EINVAL, journaling nothing', async () => {
    const engine = await open();
    const head = engine.journal.headSeq;
    for (const label of ['a\0b', 'backup-42 begins\nmark 99: backup-42 ends', 'tab\there', 'del\u007f']) {
      expect(await rejection(() => engine.mark(label)), JSON.stringify(label)).toMatchObject({
        code: 'EINVAL',
        message: expect.stringMatching(/control character/),
      });
    }
    expect(engine.journal.headSeq).toBe(head);
  });
});
