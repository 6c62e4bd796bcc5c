/**
 * A real directory mirrored into the engine (mirror/): scripted changes on
 * disk, each followed through a consumer until the engine's tree equals
 * the disk's, with the records each must raise; changes made while no
 * mirror ran; and what a mirror refuses. Real directories under a temp
 * dir, a real watcher; the waits wake on the consumer.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type DeliveredRecord,
  Engine,
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_LINK,
  FAN_MODIFY,
  FAN_ONDIR,
  FAN_RENAME,
  FAN_SYMLINK,
  FAN_TRUNCATE,
} from '../../index.js';
import type { Io, IoFile } from '../../journal/io.js';
import { NodeIo } from '../../journal/node-io.js';
import { watcherErrorAction } from '../../mirror/root.js';
import { rejection, tempDir } from '../helpers.js';
import { diskTree, engineTree, readUntilMirrored } from './trees.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/**
 * A disk whose fdatasync takes `delayMs` longer: what a busy machine does to
 * the engine. A change is applied at once and reaches consumers only once
 * durable, so a test that waits for the tree and then reads what came must
 * wait on the records too, not on a read's timeout.
 */
function slowSyncIo(delayMs: number): Io {
  const io = new NodeIo();
  const slow = (file: IoFile): IoFile => ({
    path: file.path,
    size: () => file.size(),
    read: (buffer, position) => file.read(buffer, position),
    write: (data, position) => file.write(data, position),
    truncate: (length) => file.truncate(length),
    datasync: async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await file.datasync();
    },
    close: () => file.close(),
  });
  return {
    mkdirp: (dir) => io.mkdirp(dir),
    readdir: (dir) => io.readdir(dir),
    open: async (path, mode) => slow(await io.open(path, mode)),
    unlink: (path) => io.unlink(path),
    rename: (from, to) => io.rename(from, to),
    syncDir: (dir) => io.syncDir(dir),
    lock: (dir) => io.lock(dir),
  };
}

const events = (records: DeliveredRecord[], mask: bigint, path: string): DeliveredRecord[] =>
  records.filter((record) => record.kind === 'event' && record.mask === mask && record.path === path);

describe('engine.mirror', () => {
  it('follows scripted changes on disk, each as the events its operation raises, with no process and source mirror (fdatasync slowed as on a busy machine)', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/a/b`, { recursive: true });
    writeFileSync(`${root}/a/x.txt`, 'hello');
    const engine = await Engine.open(`${base}/engine`, { io: slowSyncIo(250) });
    const consumer = await engine.consumers.register('backup');
    const mirror = await engine.mirror(root, { settleMs: 10 });
    try {
      let read = await readUntilMirrored(engine, root, consumer);
      expect(read[0]).toMatchObject({ kind: 'note', op: 'scanBegin', reason: 'start', path: '/' });
      expect(read.at(-1)).toMatchObject({ kind: 'note', op: 'scanEnd', reason: 'start' });
      expect(events(read, FAN_CREATE, '/a/x.txt')[0]).toMatchObject({ source: 'mirror', pid: undefined, uid: undefined });
      const x = (await engine.fs.lstat('/a/x.txt')).ino;

      writeFileSync(`${root}/c.txt`, 'abc');
      read = await readUntilMirrored(engine, root, consumer);
      expect([FAN_CREATE, FAN_MODIFY, FAN_CLOSE_WRITE].map((mask) => events(read, mask, '/c.txt').length)).toEqual([1, 1, 1]);

      // Same size, new content and mtime: a modify, no create.
      writeFileSync(`${root}/c.txt`, 'xyz');
      utimesSync(`${root}/c.txt`, new Date(2_000_000_000_000), new Date(2_000_000_000_000));
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_MODIFY, '/c.txt').length).toBe(1);
      expect(events(read, FAN_CREATE, '/c.txt')).toEqual([]);

      truncateSync(`${root}/c.txt`, 1);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_MODIFY | FAN_TRUNCATE, '/c.txt').length).toBe(1);

      renameSync(`${root}/a/x.txt`, `${root}/a/y.txt`);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_RENAME, '/a/y.txt')[0]).toMatchObject({ oldPath: '/a/x.txt', fid: { ino: x } });
      // The rename moved the file's ctime on disk: not a content change.
      expect(read.filter((record) => record.kind === 'event' && ((record.mask ?? 0n) & FAN_MODIFY) !== 0n)).toEqual([]);

      renameSync(`${root}/a/y.txt`, `${root}/a/b/y.txt`);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_RENAME, '/a/b/y.txt')[0]).toMatchObject({ oldPath: '/a/y.txt', fid: { ino: x } });

      // A directory moves with its children: the child is the same object.
      renameSync(`${root}/a/b`, `${root}/z`);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_RENAME | FAN_ONDIR, '/z')[0]).toMatchObject({ oldPath: '/a/b' });
      expect((await engine.fs.lstat('/z/y.txt')).ino).toBe(x);
      expect(read.filter((record) => record.kind === 'event' && ((record.mask ?? 0n) & FAN_CREATE) !== 0n)).toEqual([]);

      rmSync(`${root}/c.txt`);
      chmodSync(`${root}/z/y.txt`, 0o600);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_DELETE, '/c.txt').length).toBe(1);
      expect(events(read, FAN_ATTRIB, '/z/y.txt').length).toBe(1);

      symlinkSync('z/y.txt', `${root}/s`);
      linkSync(`${root}/z/y.txt`, `${root}/h`);
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_CREATE | FAN_SYMLINK, '/s')[0]).toMatchObject({ target: 'z/y.txt' });
      expect(events(read, FAN_CREATE | FAN_LINK, '/h').length).toBe(1);
      expect((await engine.fs.lstat('/h')).ino).toBe(x);

      rmSync(`${root}/a`, { recursive: true });
      read = await readUntilMirrored(engine, root, consumer);
      expect(events(read, FAN_DELETE | FAN_ONDIR, '/a').length).toBe(1);
      expect(mirror.stats()).toMatchObject({ scans: 1, watching: true, problems: [], lastError: null });
      expect(mirror.stats().hintBatches).toBeGreaterThan(5);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('finds on start what changed while no mirror ran, between the start notes', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/keep`, { recursive: true });
    writeFileSync(`${root}/keep/old.txt`, 'old');
    writeFileSync(`${root}/gone.txt`, 'gone');
    let engine = await Engine.open(`${base}/engine`);
    const first = await engine.mirror(root, { watch: false });
    await first.stop();
    await engine.close();
    // While stopped:
    rmSync(`${root}/gone.txt`);
    writeFileSync(`${root}/keep/old.txt`, 'changed, longer');
    writeFileSync(`${root}/new.txt`, 'new');
    engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next' });
    const mirror = await engine.mirror(root, { watch: false });
    try {
      const read = await consumer.read({ max: 1000 });
      expect(read[0]).toMatchObject({ kind: 'note', op: 'scanBegin', reason: 'start' });
      expect(read.at(-1)).toMatchObject({ kind: 'note', op: 'scanEnd', reason: 'start' });
      expect(events(read, FAN_DELETE, '/gone.txt').length).toBe(1);
      expect(events(read, FAN_MODIFY, '/keep/old.txt').length).toBe(1);
      expect(events(read, FAN_CREATE, '/new.txt').length).toBe(1);
      expect(await engineTree(engine)).toEqual(diskTree(root));
      // A manual rescan of an unchanged directory journals its two notes and nothing else.
      await consumer.ack(read.at(-1)!.seq);
      const result = await mirror.rescan();
      expect(result.changes).toBe(0);
      expect((await consumer.read({ max: 1000 })).map((record) => [record.kind, record.op, record.reason])).toEqual([
        ['note', 'scanBegin', 'manual'],
        ['note', 'scanEnd', 'manual'],
      ]);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('mirrors into a directory of the engine, leaving out ignored names and what is below them', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/src/node_modules/dep`, { recursive: true });
    mkdirSync(`${root}/.git`);
    writeFileSync(`${root}/src/main.ts`, 'x');
    writeFileSync(`${root}/src/node_modules/dep/index.js`, 'y');
    writeFileSync(`${root}/.git/HEAD`, 'z');
    const engine = await Engine.open(`${base}/engine`);
    await engine.fs.mkdir('/mirrors');
    await engine.fs.mkdir('/mirrors/projects');
    await engine.fs.create('/elsewhere');
    const mirror = await engine.mirror(root, { into: '/mirrors/projects', ignore: ['node_modules', '.git'], settleMs: 10 });
    const consumer = await engine.consumers.register('c', { from: 'next' });
    try {
      expect(Object.keys((await engineTree(engine, '/mirrors/projects')).entries).sort()).toEqual(['/src', '/src/main.ts']);
      expect(await engine.fs.readdir('/')).toEqual(['elsewhere', 'mirrors']);
      // An ignored directory's changes are not followed; the others are, under `into`.
      writeFileSync(`${root}/src/node_modules/dep/more.js`, 'w');
      writeFileSync(`${root}/src/other.ts`, 'v');
      for (let seen: DeliveredRecord[] = []; !seen.some((record) => record.path === '/mirrors/projects/src/other.ts');)
        seen = await consumer.read({ max: 100, waitMs: 5000 });
      expect(Object.keys((await engineTree(engine, '/mirrors/projects')).entries).sort()).toEqual(['/src', '/src/main.ts', '/src/other.ts']);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('stops when the engine closes', async () => {
    const base = tempDir();
    mkdirSync(`${base}/real`);
    const engine = await Engine.open(`${base}/engine`);
    const mirror = await engine.mirror(`${base}/real`);
    expect(mirror.stats().watching).toBe(true);
    await engine.close();
    expect(mirror.stats().watching).toBe(false);
    expect((await rejection(() => mirror.rescan())).code).toBe('ECLOSED');
  });

  it('refuses what is not a directory, and leaves out its own engine directory', async () => {
    const base = tempDir();
    const engine = await Engine.open(`${base}/engine`);
    try {
      expect((await rejection(() => engine.mirror(`${base}/nothing`))).code).toBe('ENOENT');
      writeFileSync(`${base}/file`, 'x');
      expect((await rejection(() => engine.mirror(`${base}/file`))).code).toBe('ENOTDIR');
      expect((await rejection(() => engine.mirror(`${base}/engine`))).code).toBe('EINVAL');
      expect((await rejection(() => engine.mirror(base, { into: '/missing' }))).code).toBe('ENOENT');
      expect((await rejection(() => engine.mirror(base, { settleMs: -1 }))).code).toBe('EINVAL');
      expect((await rejection(() => engine.mirror(base, { ignore: ['a/b'] }))).code).toBe('EINVAL');
      // The base holds the engine's directory: mirrored without it.
      const mirror = await engine.mirror(base, { watch: false, ignore: ['file'] });
      await mirror.stop();
      expect(await engine.fs.readdir('/')).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});

describe('rescans', () => {
  it('rescans every rescanEveryMs, each between notes with the reason periodic', async () => {
    const base = tempDir();
    mkdirSync(`${base}/real`);
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c');
    const mirror = await engine.mirror(`${base}/real`, { watch: false, rescanEveryMs: 50 });
    try {
      const reasons: string[] = [];
      while (reasons.filter((reason) => reason.endsWith(':periodic')).length < 2) {
        const batch = await consumer.read({ max: 100, waitMs: 5000 });
        expect(batch.length, 'a periodic rescan within 5 s').toBeGreaterThan(0);
        reasons.push(...batch.map((record) => `${record.op}`.replace(/^scan/, '') + ':' + record.reason));
        await consumer.ack(batch.at(-1)!.seq);
      }
      expect(reasons.slice(0, 4)).toEqual(['Begin:start', 'End:start', 'Begin:periodic', 'End:periodic']);
    } finally {
      await mirror.stop();
      await engine.close();
    }
    expect((await rejection(() => mirror.rescan())).code).toBe('ECLOSED');
  });

  it('stops watching on ENOSPC naming the sysctl, ignores unreadable directories, and rescans on any other watcher error', () => {
    const enospc = watcherErrorAction(Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' }), '/data');
    expect(enospc).toMatchObject({ code: 'ENOSPC' });
    expect((enospc as Error).message).toMatch(
      /^ENOSPC: mirror: too few inotify watches for \/data: raise the sysctl fs\.inotify\.max_user_watches \(now \d+\)$/,
    );
    expect(watcherErrorAction(Object.assign(new Error('denied'), { code: 'EACCES' }), '/data')).toBe('ignore');
    expect(watcherErrorAction(Object.assign(new Error('odd'), { code: 'EIO' }), '/data')).toBe('rescan');
  });
});

describe('fanlog mirror', () => {
  it('watches until SIGTERM, saying each hint batch, then prints its stats', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(root);
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [CLI, 'mirror', root, '--dir', `${base}/engine`, '--settle', '10', '--init'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const waiters = new Set<() => void>();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const wake of waiters) wake();
    });
    const lineSeen = (pattern: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const wake = (): void => {
          if (!pattern.test(stdout)) return;
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
        child.once('exit', () => reject(new Error(`exited before ${pattern}: ${stdout}`)));
        wake();
      });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await lineSeen(/^scan \(start\): 0 entries/m);
    writeFileSync(`${root}/new.txt`, 'n');
    await lineSeen(/^hints: \d+ batches, [1-9]\d* changes$/m);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(new RegExp(`^mirrored ${root} into /: 1 scans, [1-9]\\d* hint batches, [1-9]\\d* changes$`, 'm'));
    const engine = await Engine.open(`${base}/engine`);
    try {
      expect((await engineTree(engine)).entries['/new.txt']).toMatchObject({ type: 'file', size: 1 });
    } finally {
      await engine.close();
    }
  });

  it('mirrors once, reports an unreadable directory as EPERM with exit 1, and mirrors the rest', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/open/deep`, { recursive: true });
    mkdirSync(`${root}/closed`);
    writeFileSync(`${root}/open/deep/f`, 'f');
    writeFileSync(`${root}/closed/secret`, 's');
    chmodSync(`${root}/closed`, 0o000);
    // The CLI runs as the user who runs the tests, so it reads the checkout
    // wherever it is cloned (as another user, nobody, it could not under a
    // directory of mode 0700); root runs it without the two capabilities
    // that read past permissions, so that mode 000 holds for it too.
    const unprivileged =
      process.getuid?.() === 0
        ? ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search', process.execPath]
        : [process.execPath];
    try {
      const run = spawnSync(unprivileged[0]!, [...unprivileged.slice(1), CLI, 'mirror', root, '--once', '--dir', `${base}/engine`, '--init'], {
        encoding: 'utf8',
      });
      expect(run.stderr).toContain(`fanlog: mirror: EPERM: ${root}/closed`);
      expect(run.status).toBe(1);
      expect(run.stdout).toMatch(/^scan \(start\): \d+ entries, \d+ changes, \d+ ms$/m);
    } finally {
      chmodSync(`${root}/closed`, 0o700);
    }
    const engine = await Engine.open(`${base}/engine`);
    try {
      const tree = await engineTree(engine);
      expect(Object.keys(tree.entries).sort()).toEqual(['/closed', '/open', '/open/deep', '/open/deep/f']);
    } finally {
      await engine.close();
    }
  });
});
