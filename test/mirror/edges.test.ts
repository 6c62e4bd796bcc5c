/**
 * What a mirror must tell apart, or say: an inode the filesystem reused for
 * a new object (ext4 at once), a file changed through a hard link, a
 * directory that moved while it was being listed, names and symlink
 * targets that are not UTF-8, and a file larger than 2^53 - 1 bytes. Real
 * directories under a temp dir (a tmpfs for the sparse file); the waits
 * wake on the consumer or on mirror.settled().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, linkSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DeliveredRecord, Engine, FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR, FAN_RENAME } from '../../index.js';
import { dirKeyAt } from '../../mirror/disk.js';
import { Reconciler } from '../../mirror/reconcile.js';
import { withExt4 } from '../../crash/fs-image.js';
import { smallDisk, tempDir } from '../helpers.js';
import { diskTree, engineTree } from './trees.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const events = (records: DeliveredRecord[], mask: bigint, path: string): DeliveredRecord[] =>
  records.filter((record) => record.kind === 'event' && record.mask === mask && record.path === path);

describe('identity', () => {
  /**
   * Removes `gone`, then makes `make()` until what it made has the inode
   * `gone` had. ext4 reuses one at once, but on a filesystem other
   * processes write (a busy machine's /tmp) another may take it first: the
   * test makes a private ext4 image (root), where only it allocates.
   */
  function reuse(gone: string, make: () => string): string {
    const ino = lstatSync(gone).ino;
    rmSync(gone, { recursive: true });
    for (let attempt = 0; attempt < 50; attempt++) {
      const made = make();
      if (lstatSync(made).ino === ino) return made;
    }
    throw new Error(`no new object took the inode of ${gone} in 50 attempts: this test needs a filesystem that reuses inodes (ext4)`);
  }

  it('journals the DELETE of a file whose inode a new directory or file took, never a rename', async () => {
    await withExt4(async ({ mount }) => await deleteBesideReuse(tempDir(), `${mount}/real`));
  });

  async function deleteBesideReuse(base: string, root: string): Promise<void> {
    mkdirSync(`${root}/sub`, { recursive: true });
    writeFileSync(`${root}/sub/b.txt`, 'b');
    writeFileSync(`${root}/a.txt`, 'a');
    const engine = await Engine.open(`${base}/engine`);
    const mirror = await engine.mirror(root, { watch: false });
    const consumer = await engine.consumers.register('c', { from: 'next' });
    try {
      let serial = 0;
      const newdir = reuse(`${root}/sub/b.txt`, () => {
        const path = `${root}/newdir${serial++}`;
        mkdirSync(path);
        return path;
      });
      const newfile = reuse(`${root}/a.txt`, () => {
        const path = `${root}/new${serial++}.txt`;
        writeFileSync(path, 'n');
        return path;
      });
      await mirror.rescan();
      const read = await consumer.read({ max: 1000 });
      expect(events(read, FAN_DELETE, '/sub/b.txt').length).toBe(1);
      expect(events(read, FAN_DELETE, '/a.txt').length).toBe(1);
      expect(events(read, FAN_CREATE | FAN_ONDIR, `/${basename(newdir)}`).length).toBe(1);
      expect(events(read, FAN_CREATE, `/${basename(newfile)}`).length).toBe(1);
      expect(read.filter((record) => record.kind === 'event' && ((record.mask ?? 0n) & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO)) !== 0n)).toEqual([]);
      expect(await engineTree(engine)).toEqual(diskTree(root));
    } finally {
      await mirror.stop();
      await engine.close();
    }
  }
});

describe('hard links', () => {
  it('gives a file linked and then written through the new name its new size, under both names', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/a`, { recursive: true });
    mkdirSync(`${root}/b`);
    writeFileSync(`${root}/a/f`, 'abc');
    const engine = await Engine.open(`${base}/engine`);
    const mirror = await engine.mirror(root);
    try {
      // Only the new name is heard of: the link count's IN_ATTRIB goes to no directory's watch.
      linkSync(`${root}/a/f`, `${root}/b/h`);
      appendFileSync(`${root}/b/h`, 'z');
      await mirror.settled();
      expect(await engineTree(engine)).toEqual(diskTree(root));
      expect((await engine.fs.lstat('/a/f')).size).toBe(4);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('looks again at a file through the names left when the name it was written through is deleted', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/a`, { recursive: true });
    mkdirSync(`${root}/b`);
    writeFileSync(`${root}/a/f`, 'abc');
    linkSync(`${root}/a/f`, `${root}/b/h`);
    const engine = await Engine.open(`${base}/engine`);
    const mirror = await engine.mirror(root);
    try {
      // Heard only as changes of b/h, which is gone when the mirror looks.
      appendFileSync(`${root}/b/h`, 'z');
      rmSync(`${root}/b/h`);
      await mirror.settled();
      expect(await engineTree(engine)).toEqual(diskTree(root));
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });
});

describe('directories that move while they are listed', () => {
  it('lists a directory where it went when it moved away just before its listing', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/d/sub`, { recursive: true });
    writeFileSync(`${root}/d/sub/f`, 'f');
    const engine = await Engine.open(`${base}/engine`);
    // The race, made certain: the directory is renamed the moment the reconcile is about to watch and list it.
    let moved = false;
    const reconciler = new Reconciler(engine, root, '/', {
      ignored: () => false,
      beforeList: (rel) => {
        if (rel === 'd' && !moved) {
          moved = true;
          renameSync(`${root}/d`, `${root}/e`);
        }
        return dirKeyAt(`${root}/${rel}`);
      },
    });
    try {
      // The hint of d's creation: d is made, and its listing finds it gone.
      await reconciler.reconcileNames(new Map([['', new Set(['d'])]]));
      expect(moved).toBe(true);
      // The hints of the rename.
      await reconciler.reconcileNames(new Map([['', new Set(['d', 'e'])]]));
      expect(await engineTree(engine)).toEqual(diskTree(root));
    } finally {
      await engine.close();
    }
  });
});

describe('names that are not UTF-8', () => {
  /** A path under `root` whose last name holds the byte 0xff (or `byte`), which UTF-8 never has. */
  const badName = (root: string, name: string, byte = 0xff): Buffer => Buffer.concat([Buffer.from(`${root}/${name}`), Buffer.from([byte])]);
  const losses = (records: DeliveredRecord[]): [string | undefined, string | undefined][] =>
    records.filter((record) => record.kind === 'note' && (record.op as string) === 'loss').map((record) => [record.path, record.reason]);

  it('reports each name and symlink target that is not UTF-8 in the stats and in a loss note, and mirrors the rest', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(`${root}/ok`, { recursive: true });
    writeFileSync(`${root}/ok/f`, 'f');
    writeFileSync(badName(root, 'bad'), 'x');
    mkdirSync(badName(root, 'dir', 0xfe));
    writeFileSync(Buffer.concat([badName(root, 'dir', 0xfe), Buffer.from('/inside')]), 'i');
    symlinkSync(Buffer.from([0x74, 0xff]), `${root}/link`);
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next' });
    const mirror = await engine.mirror(root, { settleMs: 10 });
    try {
      const problems = mirror
        .stats()
        .problems.map((problem) => [problem.code, problem.path])
        .sort();
      expect(problems).toEqual([
        ['EILSEQ', `${root}/bad\\xff`],
        ['EILSEQ', `${root}/dir\\xfe`],
        ['EILSEQ', `${root}/link`],
      ]);
      expect(mirror.stats().problems.find((problem) => problem.path === `${root}/link`)?.message).toMatch(/symlink.*target.*not UTF-8/);
      expect(Object.keys((await engineTree(engine)).entries).sort()).toEqual(['/ok', '/ok/f']);
      const read = await consumer.read({ max: 1000 });
      expect(losses(read).sort()).toEqual([
        ['/bad\\xff', 'EILSEQ'],
        ['/dir\\xfe', 'EILSEQ'],
        ['/link', 'EILSEQ'],
      ]);
      // Before the scan's end: a consumer knows where the scan's tree is not the disk's when it ends.
      expect(read.at(-1)).toMatchObject({ kind: 'note', op: 'scanEnd' });
      // One made while watching is reported too.
      await consumer.ack(read.at(-1)!.seq);
      writeFileSync(badName(`${root}/ok`, 'late'), 'l');
      let later: DeliveredRecord[] = [];
      while (losses(later).length === 0) later = [...later, ...(await consumer.read({ max: 1000, waitMs: 10_000 }))];
      expect(losses(later)).toEqual([['/ok/late\\xff', 'EILSEQ']]);
      expect(mirror.stats().problems.at(-1)).toMatchObject({ code: 'EILSEQ', path: `${root}/ok/late\\xff` });
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('says so on stderr with exit 1 under fanlog mirror --once', () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(root);
    writeFileSync(`${root}/fine`, 'f');
    writeFileSync(badName(root, 'bad'), 'x');
    const run = spawnSync(process.execPath, [CLI, 'mirror', root, '--once', '--dir', `${base}/engine`, '--init'], { encoding: 'utf8' });
    expect(run.stderr).toContain(`fanlog: mirror: EILSEQ: ${root}/bad\\xff: `);
    expect(run.status).toBe(1);
  });
});

describe('sizes beyond 2^53 - 1', () => {
  it('reports a sparse file of 2^60 bytes (EFBIG) with a loss note, leaves its mirrored entry as it was, and mirrors the rest, at every start', async () => {
    const base = tempDir();
    // tmpfs holds a sparse file of 2^60 bytes (ext4 stops at 2^44).
    const root = smallDisk(`${base}/real`, 1 << 20);
    writeFileSync(`${root}/ok.txt`, 'ok');
    writeFileSync(`${root}/grows.txt`, 'small');
    execFileSync('truncate', ['-s', String(2n ** 60n), `${root}/huge`]);
    for (let start = 0; start < 2; start++) {
      const engine = await Engine.open(`${base}/engine`);
      const consumer = await engine.consumers.register(`c${start}`, { from: 'next' });
      const mirror = await engine.mirror(root, { settleMs: 10 });
      try {
        expect(mirror.stats().problems.map((problem) => [problem.code, problem.path])).toEqual([['EFBIG', `${root}/huge`]]);
        expect(mirror.stats().problems[0]!.message).toBe(`EFBIG: ${root}/huge: a file of ${2n ** 60n} bytes, beyond 2^53 - 1: not mirrored`);
        expect(Object.keys((await engineTree(engine)).entries).sort()).toEqual(['/grows.txt', '/ok.txt']);
        const read = await consumer.read({ max: 1000 });
        expect(read.filter((record) => record.kind === 'note' && (record.op as string) === 'loss').map((record) => [record.path, record.reason])).toEqual([
          ['/huge', 'EFBIG'],
        ]);
        if (start === 0) {
          // A mirrored file that grows past it is left as it was, and said.
          execFileSync('truncate', ['-s', String(2n ** 60n), `${root}/grows.txt`]);
          await mirror.settled();
          expect(mirror.stats().problems.at(-1)).toMatchObject({ code: 'EFBIG', path: `${root}/grows.txt` });
          expect((await engine.fs.lstat('/grows.txt')).size).toBe(5);
          execFileSync('truncate', ['-s', '5', `${root}/grows.txt`]);
        }
        expect(mirror.stats().lastError).toBe(null);
      } finally {
        await mirror.stop();
        await engine.close();
      }
    }
  });
});

describe('special files', () => {
  it('reports a FIFO and a socket (EOPNOTSUPP) with a loss note each, and mirrors the rest, at start and when one appears later', async () => {
    const base = tempDir();
    const root = `${base}/real`;
    mkdirSync(root);
    writeFileSync(`${root}/ok.txt`, 'ok');
    execFileSync('mkfifo', [`${root}/pipe`]);
    const engine = await Engine.open(`${base}/engine`);
    const consumer = await engine.consumers.register('c', { from: 'next' });
    const mirror = await engine.mirror(root, { settleMs: 10 });
    try {
      expect(mirror.stats().problems.map((problem) => [problem.code, problem.path])).toEqual([['EOPNOTSUPP', `${root}/pipe`]]);
      expect(mirror.stats().problems[0]!.message).toBe(`EOPNOTSUPP: ${root}/pipe: a FIFO, which the engine's filesystem has no type for: not mirrored`);
      expect(Object.keys((await engineTree(engine)).entries).sort()).toEqual(['/ok.txt']);
      // A socket made while it watches.
      const server = (await import('node:net')).createServer();
      await new Promise<void>((resolve) => server.listen(`${root}/sock`, resolve));
      try {
        await mirror.settled();
        expect(mirror.stats().problems.at(-1)).toMatchObject({ code: 'EOPNOTSUPP', path: `${root}/sock` });
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      const notes = (await consumer.read({ max: 1000 })).filter((record) => record.kind === 'note' && (record.op as string) === 'loss');
      expect(notes.map((record) => [record.path, record.reason])).toEqual([
        ['/pipe', 'EOPNOTSUPP'],
        ['/sock', 'EOPNOTSUPP'],
      ]);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });
});
