/**
 * The kernel's own events journaled, and its refusals typed. As root, an
 * ext4 image made in a temp dir is loop-mounted; a child process creates,
 * writes, renames and deletes on it while watchFilesystem journals the
 * filesystem mark; the journal then holds each change with the kernel's
 * mask and the child's pid. A pre-content mark on a tmpfs is refused with
 * EOPNOTSUPP, and a FAN_REPORT_FID group in the pre-content class with
 * EINVAL. The mount and the loop device are released in a finally, even
 * when a test fails. Without root or off Linux the tests skip, and say so.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import {
  Engine,
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
import { watchFilesystem } from '../../kernel/watch.js';
import { rejectionSync, tempDir } from '../helpers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/watch.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

/** Runs `work` on a fresh ext4 image loop-mounted at a temp dir, then unmounts it and releases the loop device, whatever happened. */
async function withExt4<T>(work: (mount: string) => Promise<T>): Promise<T> {
  const dir = tempDir();
  const image = path.join(dir, 'ext4.img');
  const mount = path.join(dir, 'mnt');
  mkdirSync(mount);
  execFileSync('truncate', ['-s', '32M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
  const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  let mounted = false;
  try {
    execFileSync('mount', [device, mount]);
    mounted = true;
    return await work(mount);
  } finally {
    if (mounted) execFileSync('umount', [mount]);
    execFileSync('losetup', ['-d', device]);
  }
}

/** Runs `script` in a child node process with `dir` as its argument; resolves with its pid once it has exited 0. */
async function inChild(script: string, dir: string): Promise<number> {
  const child = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the child exited ${code}: ${stderr}`);
  return child.pid!;
}

async function externalRecords(engine: Engine): Promise<RecordView[]> {
  const records: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) records.push(decodeRecord(payload));
  return records.filter((record) => record.op === 'external' || record.kind === 'note');
}

const CHANGES = `
const fs = require('node:fs'); const dir = process.argv[1];
fs.mkdirSync(dir + '/d');
fs.writeFileSync(dir + '/d/a', 'hello');
fs.appendFileSync(dir + '/d/a', ' world');
fs.renameSync(dir + '/d/a', dir + '/d/b');
fs.unlinkSync(dir + '/d/b');
`;

asRoot("journals a real ext4 filesystem's creates, writes, renames and deletes with the kernel's masks and the acting pid", async () => {
  await withExt4(async (mount) => {
    const engine = await Engine.open(`${tempDir()}/engine`);
    try {
      const source = watchFilesystem(engine, mount);
      const pid = await inChild(CHANGES, mount);
      await source.stop();
      const records = await externalRecords(engine);
      const mine = records.filter((record) => record.pid === pid);
      // The kernel merges events on one object while they wait unread (CREATE|MODIFY|CLOSE_WRITE of a new file), so each change is a bit of a record's mask, kept as the kernel gave it.
      const has = (bits: bigint, name: string): RecordView | undefined => mine.find((record) => (record.mask! & bits) === bits && record.name === name);
      expect(has(FAN_CREATE | FAN_ONDIR, 'd'), 'mkdir d').toBeDefined();
      const created = has(FAN_CREATE, 'a');
      expect(created?.fid, 'create a').toBeDefined();
      const file = (record: RecordView | undefined): unknown => record?.fid;
      expect(file(has(FAN_MODIFY, 'a')), 'write a').toEqual(created!.fid);
      expect(file(has(FAN_CLOSE_WRITE, 'a')), 'close a written').toEqual(created!.fid);
      // The rename: MOVED_FROM of a, MOVED_TO of b, and FAN_RENAME with both names, each of the file's fid.
      expect(file(has(FAN_MOVED_FROM, 'a')), 'moved from a').toEqual(created!.fid);
      expect(file(has(FAN_MOVED_TO, 'b')), 'moved to b').toEqual(created!.fid);
      expect(has(FAN_RENAME, 'b')?.oldName, 'rename a to b').toBe('a');
      expect(file(has(FAN_DELETE, 'b')), 'unlink b').toEqual(created!.fid);
      // Every record has a mask the kernel gave: nothing of fanlog's own high bits.
      expect(mine.every((record) => record.mask! > 0n && record.mask! < 1n << 32n)).toBe(true);
      expect(records.filter((record) => record.kind === 'note')).toEqual([]);
      expect(source.stats()).toMatchObject({ overflows: 0, refused: 0 });
      expect(source.stats().journaled).toBe(records.length);
    } finally {
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
