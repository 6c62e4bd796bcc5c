/**
 * The kernel's own events journaled, and its refusals typed. As root, an
 * ext4 image made in a temp dir is loop-mounted (crash/fs-image.ts); a
 * child process creates, writes, renames and deletes on it while
 * watchFilesystem journals the filesystem mark; the journal then holds each
 * change with the kernel's mask, the child's pid and tid, source
 * 'fanotify' and the path it had. A child that makes more events than the
 * kernel's queue holds, while this process's loop is blocked (so nothing
 * reads), overflows it: the loss note is journaled and every consumer gets
 * it. stop() ends under a child that never stops writing, and events made
 * after stop() was called are not journaled; a read whose journaling fails
 * leaves no event descriptor open. A pre-content mark on a tmpfs is
 * refused with EOPNOTSUPP, and a FAN_REPORT_FID group in the pre-content
 * class with EINVAL. Mounts and loop devices are released in a finally,
 * even when a test fails. Without root or off Linux the tests skip, and say
 * so.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { withExt4 } from '../../crash/fs-image.js';
import { decodeRecord } from '../../interop/index.js';
import {
  Engine,
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_MODIFY,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_ONDIR,
  FAN_PRE_ACCESS,
  FAN_RENAME,
  FanlogError,
} from '../../index.js';
import type { RecordView } from '../../engine/record/record.js';
import { FanotifyGroup } from '../../kernel/fanotify-group.js';
import { FAN_REPORT_FID } from '../../kernel/syscalls.js';
import { type FanotifySource, watchFilesystem, watchGroup, WATCH_REPORT, WATCH_DEFAULT_MASK } from '../../kernel/watch.js';
import { rejection, rejectionSync, tempDir } from '../helpers.js';
import { blockingChild, until, watchChanges } from './readers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/watch.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

async function records(engine: Engine): Promise<RecordView[]> {
  const out: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) out.push(decodeRecord(payload));
  return out;
}

asRoot("journals a real ext4 filesystem's creates, writes, renames and deletes with the kernel's masks, the acting pid and tid, and paths", async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    try {
      const { pid, stats } = await watchChanges(engine, mount);
      const all = await records(engine);
      // changesSince answers of the engine's own objects: the kernel's records are left out, and counted, never silent.
      expect(await engine.changesSince(0n)).toMatchObject({ changes: [], external: all.filter((record) => record.source === 'fanotify').length });
      expect(all.filter((record) => record.source === 'fanotify').length).toBeGreaterThan(0);
      const mine = all.filter((record) => record.pid === pid);
      // The kernel merges events on one object while they wait unread (CREATE|MODIFY|CLOSE_WRITE of a new file), so each change is a bit of a record's mask, kept as the kernel gave it.
      const has = (bits: bigint, name: string): RecordView | undefined => mine.find((record) => (record.mask! & bits) === bits && record.name === name);
      expect(has(FAN_CREATE | FAN_ONDIR, 'd')?.path, 'mkdir d').toBe(`${mount}/d`);
      const created = has(FAN_CREATE, 'a');
      expect(created?.fid, 'create a').toBeDefined();
      expect(created?.path, 'create a').toBe(`${mount}/d/a`);
      const file = (record: RecordView | undefined): unknown => record?.fid;
      expect(file(has(FAN_MODIFY, 'a')), 'write a').toEqual(created!.fid);
      expect(file(has(FAN_CLOSE_WRITE, 'a')), 'close a written').toEqual(created!.fid);
      // The rename: MOVED_FROM of a, MOVED_TO of b, and FAN_RENAME with both names and paths, each of the file's fid.
      expect(file(has(FAN_MOVED_FROM, 'a')), 'moved from a').toEqual(created!.fid);
      expect(file(has(FAN_MOVED_TO, 'b')), 'moved to b').toEqual(created!.fid);
      const renamed = has(FAN_RENAME, 'b');
      expect([renamed?.oldName, renamed?.oldPath, renamed?.path], 'rename a to b').toEqual(['a', `${mount}/d/a`, `${mount}/d/b`]);
      // A deleted entry keeps the path it was deleted at: its directory is still there.
      expect(has(FAN_DELETE, 'b')?.path, 'unlink b').toBe(`${mount}/d/b`);
      // What was in a directory gone before the read has no path; the directory's own entry, in the root, has one.
      expect(has(FAN_CREATE | FAN_ONDIR, 'gone')?.path).toBe(`${mount}/gone`);
      const inGone = has(FAN_CREATE, 'x');
      expect(inGone, 'create gone/x').toBeDefined();
      expect(inGone?.path, 'gone/x has no path').toBeUndefined();
      // Every record is the kernel's: its source, its mask (nothing of fanlog's own high bits), and a single-threaded child's tid is its pid.
      expect(mine.every((record) => record.source === 'fanotify' && record.mask! > 0n && record.mask! < 1n << 32n && record.tid === pid)).toBe(true);
      expect(all.filter((record) => record.kind === 'note')).toEqual([]);
      expect(stats).toMatchObject({ overflows: 0, refused: 0 });
      expect(stats.journaled).toBe(all.length);
    } finally {
      await engine.close();
    }
  });
});

asRoot("gives a thread's own tid and its process's pid while the thread lives", async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    // A thread that creates a file, says its tid, and lives until stdin closes.
    const script = `
import os, sys, threading
said = threading.Event()
def work():
    open(os.path.join(sys.argv[1], 'threaded'), 'w').close()
    print(threading.get_native_id(), flush=True)
    said.set()
    sys.stdin.read()
thread = threading.Thread(target=work); thread.start(); said.wait()
`;
    const child = spawn('python3', ['-c', script, mount], { stdio: ['pipe', 'pipe', 'inherit'] });
    let source: FanotifySource | undefined;
    try {
      source = watchFilesystem(engine, mount);
      let said = '';
      child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      await until(() => said.endsWith('\n'));
      await source.stop();
      const created = (await records(engine)).find((record) => record.name === 'threaded');
      const tid = Number(said.trim());
      expect(tid).not.toBe(child.pid);
      expect([created?.pid, created?.tid]).toEqual([child.pid, tid]);
    } finally {
      // Stopped before the image unmounts, whatever the test found: the watch holds a descriptor on it.
      await source?.stop().catch(() => undefined);
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
      await engine.close();
    }
  });
});

asRoot('gives no path to a directory removed before the read, even one a process still holds open', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    mkdirSync(path.join(mount, 'held'));
    // A child that holds `held` open, removes it and changes its mode through its descriptor, then waits: readlink of the open directory gives "… (deleted)".
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const fd = fs.openSync(process.argv[1], 'r'); fs.rmdirSync(process.argv[1]); fs.fchmodSync(fd, 0o700); process.stdout.write('done'); process.stdin.resume();`,
        path.join(mount, 'held'),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let source: FanotifySource | undefined;
    try {
      source = watchFilesystem(engine, mount);
      let said = '';
      holder.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      await until(() => said === 'done');
      await source.stop();
      const mine = (await records(engine)).filter((record) => record.pid === holder.pid);
      // Its entry in the root keeps the path it had; the directory itself (its ATTRIB, named by no entry) has none.
      expect(mine.find((record) => (record.mask! & FAN_DELETE) !== 0n)?.path).toBe(`${mount}/held`);
      const itself = mine.find((record) => (record.mask! & (FAN_ATTRIB | FAN_ONDIR)) === (FAN_ATTRIB | FAN_ONDIR));
      expect(itself?.fid).toBeDefined();
      expect(itself?.path).toBeUndefined();
    } finally {
      holder.stdin.end();
      await new Promise((resolve) => holder.once('exit', resolve));
      await source?.stop().catch(() => undefined);
      await engine.close();
    }
  });
});

asRoot('journals an overflow of the kernel queue as a loss note that every consumer gets', async () => {
  const queue = Number(execFileSync('cat', ['/proc/sys/fs/fanotify/max_queued_events'], { encoding: 'utf8' }));
  // Enough inodes for more files than the queue holds: ext4 makes one per 4 KiB of a small image.
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    let source: FanotifySource | undefined;
    try {
      const consumer = await engine.consumers.register('backup', { mask: FAN_CREATE });
      await consumer.attachFilter('path-prefix', `${mount}/elsewhere`);
      source = watchFilesystem(engine, mount);
      // This process's loop is blocked while the child runs: nothing reads, so the kernel's queue overflows.
      blockingChild(
        `const fs = require('node:fs'); for (let i = 0; i < Number(process.argv[2]); i++) fs.closeSync(fs.openSync(process.argv[1] + '/f' + i, 'w'));`,
        mount,
        String(queue + 1000),
      );
      await source.stop();
      expect(source.stats().overflows).toBeGreaterThan(0);
      const losses = (await records(engine)).filter((record) => record.kind === 'note' && record.op === 'loss');
      expect(losses.map((note) => [note.path, note.reason])).toEqual([['/', expect.stringMatching(/^FAN_Q_OVERFLOW: /) as string]]);
      // The consumer's mask and path filter keep none of the events, but the note.
      const delivered = await consumer.read({ max: 100 });
      expect(delivered.map((record) => [record.kind, record.op])).toEqual([['note', 'loss']]);
    } finally {
      // Stopped before the image unmounts, whatever the test found: the watch holds a descriptor on it.
      await source?.stop().catch(() => undefined);
      await engine.close();
    }
  }, 160);
});

asRoot('journals nothing of what happens after stop() was called: the mark is removed first', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    let source: FanotifySource | undefined;
    try {
      source = watchFilesystem(engine, mount);
      const before = blockingChild(`require('node:fs').writeFileSync(process.argv[1] + '/before', '')`, mount);
      const stopped = source.stop();
      const after = blockingChild(`require('node:fs').writeFileSync(process.argv[1] + '/after', '')`, mount);
      await stopped;
      const pids = new Set((await records(engine)).map((record) => record.pid));
      expect([pids.has(before), pids.has(after)]).toEqual([true, false]);
    } finally {
      // Stopped before the image unmounts, whatever the test found: the watch holds a descriptor on it.
      await source?.stop().catch(() => undefined);
      await engine.close();
    }
  });
});

asRoot("stops a supervisor's group it was given, whose marks stay, while a child writes faster than it journals", async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    const group = FanotifyGroup.open({ groupClass: 'notif', report: WATCH_REPORT });
    // A child that never stops making files, saying each thousand.
    const busy = spawn(process.execPath, [
      '-e',
      `const fs = require('node:fs'); for (let i = 1; ; i++) { const f = process.argv[1] + '/f' + i; fs.writeFileSync(f, ''); fs.unlinkSync(f); if (i % 1000 === 0) process.stdout.write('.'); }`,
      mount,
    ]);
    let made = 0;
    busy.stdout.on('data', (chunk: Buffer) => (made += chunk.length * 1000));
    // Each commit (of at most 1,000 events) waits for 2,000 more files: the kernel always holds more than was journaled, so only a bound ends stop().
    const slow = new Proxy(engine, {
      get(target, property) {
        if (property === 'commit') {
          return async (...args: Parameters<Engine['commit']>) => {
            const at = made;
            await until(() => made >= at + 2000);
            return target.commit(...args);
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    let source: FanotifySource | undefined;
    try {
      group.mark(mount, 'filesystem', WATCH_DEFAULT_MASK);
      source = watchGroup(slow, group, { path: mount });
      await until(() => source!.stats().journaled > 1000);
      await source.stop();
      expect(group.closed).toBe(true);
      const journaled = (await records(engine)).filter((record) => record.pid === busy.pid);
      expect(journaled.length).toBeGreaterThan(1000);
      // Entries resolve through their directory, which stays; a file's own DELETE_SELF names no directory, and the file is gone.
      expect(journaled.filter((record) => record.name !== undefined).every((record) => record.path === `${mount}/${record.name}`)).toBe(true);
    } finally {
      busy.kill('SIGKILL');
      await new Promise((resolve) => busy.once('exit', resolve));
      await source?.stop().catch(() => undefined);
      group.close();
      await engine.close();
    }
  });
});

asRoot('closes every event descriptor it read when journaling fails', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const files = 1500;
    for (let i = 0; i < files; i++) writeFileSync(path.join(mount, `f${i}`), '');
    const engine = await Engine.open(path.join(scratch, 'engine'));
    // A group that reports no file ids gives a descriptor of each event's file.
    const group = FanotifyGroup.open({ groupClass: 'notif', report: 0 });
    try {
      group.mark(mount, 'filesystem', FAN_CLOSE_WRITE);
      const source = watchGroup(engine, group);
      // Closed under the watch: its first commit fails, with more events read than one entry takes.
      await engine.close();
      blockingChild(`const fs = require('node:fs'); for (let i = 0; i < ${files}; i++) fs.writeFileSync(process.argv[1] + '/f' + i, 'x');`, mount);
      const error = await rejection(() => source.done);
      expect((error as FanlogError).code).toBe('ECLOSED');
      const open = readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(mount);
        } catch {
          return false;
        }
      });
      // Closed here, found or not, so that the image unmounts whatever this test finds.
      for (const fd of open) closeSync(Number(fd));
      expect(open).toEqual([]);
    } finally {
      group.close();
      await engine.close();
    }
  });
});

asRoot('journals a name that is not UTF-8 as a loss note, and goes on', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    let source: FanotifySource | undefined;
    try {
      source = watchFilesystem(engine, mount);
      blockingChild(
        `const fs = require('node:fs'); fs.writeFileSync(Buffer.concat([Buffer.from(process.argv[1] + '/bad'), Buffer.from([0xff])]), ''); fs.writeFileSync(process.argv[1] + '/good', '');`,
        mount,
      );
      await source.stop();
      const all = await records(engine);
      expect(all.filter((record) => record.kind === 'note').map((note) => note.reason)).toEqual([expect.stringMatching(/^ECORRUPT: .*not UTF-8/) as string]);
      expect(all.find((record) => record.name === 'good')?.path).toBe(`${mount}/good`);
      expect(source.stats().refused).toBe(1);
    } finally {
      // Stopped before the image unmounts, whatever the test found: the watch holds a descriptor on it.
      await source?.stop().catch(() => undefined);
      await engine.close();
    }
  });
});

asRoot('refuses a pre-content mark on a tmpfs with EOPNOTSUPP, naming what is missing', () => {
  const group = FanotifyGroup.open({ groupClass: 'pre-content', report: 0 });
  try {
    const error = rejectionSync(() => group.mark('/dev/shm', 'filesystem', FAN_PRE_ACCESS));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('EOPNOTSUPP');
    expect(error.message).toMatch(/tmpfs has none/);
  } finally {
    group.close();
  }
});

asRoot('refuses file ids in the pre-content class with EINVAL', () => {
  const error = rejectionSync(() => FanotifyGroup.open({ groupClass: 'pre-content', report: FAN_REPORT_FID }));
  expect(error).toBeInstanceOf(FanlogError);
  expect(error.code).toBe('EINVAL');
});

asRoot('refuses an engine on the filesystem it would watch with EINVAL', async () => {
  const dir = tempDir();
  const engine = await Engine.open(`${dir}/engine`);
  try {
    const error = rejectionSync(() => watchFilesystem(engine, dir));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('EINVAL');
  } finally {
    await engine.close();
  }
});

asRoot('refuses a mount mark asked for changes to names before the kernel is, naming them', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    try {
      const error = rejectionSync(() => watchFilesystem(engine, mount, { mark: 'mount' }));
      expect(error.code).toBe('EINVAL');
      expect(error.message).toMatch(/a mount mark cannot report ATTRIB\|MOVED_FROM\|MOVED_TO\|CREATE\|DELETE\|DELETE_SELF\|MOVE_SELF\|RENAME /);
    } finally {
      await engine.close();
    }
  });
});
