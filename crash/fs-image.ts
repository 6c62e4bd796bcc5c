/**
 * A real filesystem for the kernel's tests, demo, bench and campaign: an
 * image made in a temp dir and loop-mounted there. `withImage(type, work)`
 * (ext4, xfs or btrfs; `withExt4(work)` for ext4) releases the mount and
 * the loop device whatever `work` does, and removes the temp dir. It needs
 * root, the filesystem's mkfs (e2fsprogs, xfsprogs, btrfs-progs), losetup
 * and mount. xfs's and btrfs's file handles hold no fid. An image is at
 * least the smallest its mkfs accepts by default, and sparse, so that it
 * costs no disk.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** An HSM's offline file on the image: `size` bytes long and none of them written (sparse), for a handler to fill. */
export function makeStub(file: string, size: number): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

export interface LoopImage {
  /** Where the image is mounted. */
  mount: string;
  /** A directory beside it, on another filesystem (the temp dir's). */
  scratch: string;
  device: string;
}

/** Runs `work` on a fresh ext4 image of `sizeMiB` loop-mounted in a temp dir; then unmounts it, releases the loop device and removes the dir. */
export async function withExt4<T>(work: (image: LoopImage) => Promise<T>, sizeMiB = 32): Promise<T> {
  return withImage('ext4', work, sizeMiB);
}

export type ImageType = 'ext4' | 'xfs' | 'btrfs';
/** Each filesystem's mkfs, quiet and forced, and the smallest image it takes by default (xfs: 300 MiB). */
const MKFS: Record<ImageType, { args: readonly string[]; minMiB: number }> = {
  ext4: { args: ['mkfs.ext4', '-q', '-F'], minMiB: 1 },
  xfs: { args: ['mkfs.xfs', '-q', '-f'], minMiB: 300 },
  btrfs: { args: ['mkfs.btrfs', '-q', '-f'], minMiB: 128 },
};

/** withExt4 for a filesystem of `type`, of at least its smallest size. */
export async function withImage<T>(type: ImageType, work: (image: LoopImage) => Promise<T>, sizeMiB = 32): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `fanlog-${type}-`));
  const file = path.join(dir, `${type}.img`);
  const mount = path.join(dir, 'mnt');
  const scratch = path.join(dir, 'scratch');
  mkdirSync(mount);
  mkdirSync(scratch);
  let device: string | null = null;
  let mounted = false;
  let failed = true;
  try {
    const mkfs = MKFS[type];
    execFileSync('truncate', ['-s', `${Math.max(sizeMiB, mkfs.minMiB)}M`, file]);
    execFileSync(mkfs.args[0]!, [...mkfs.args.slice(1), file], { stdio: 'pipe' });
    device = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
    execFileSync('mount', [device, mount]);
    mounted = true;
    const result = await work({ mount, scratch, device });
    failed = false;
    return result;
  } finally {
    release(dir, mounted ? mount : null, device, failed);
  }
}

/**
 * Unmounts (lazily if the mount is busy: a process still holds a file on
 * it), releases the loop device and removes the dir. A failure here is
 * thrown only when the work succeeded: it must not hide the work's own.
 */
function release(dir: string, mount: string | null, device: string | null, failed: boolean): void {
  const problems: unknown[] = [];
  const attempt = (step: () => void): void => {
    try {
      step();
    } catch (error) {
      problems.push(error);
    }
  };
  if (mount !== null) {
    attempt(() => {
      try {
        execFileSync('umount', [mount], { stdio: 'pipe' });
      } catch (error) {
        // Detached now, freed when its last user lets go; still said, since something held it.
        execFileSync('umount', ['--lazy', mount], { stdio: 'pipe' });
        throw error;
      }
    });
  }
  if (device !== null) attempt(() => execFileSync('losetup', ['-d', device], { stdio: 'pipe' }));
  // Never remove the dir while the image may still be mounted in it.
  if (problems.length === 0 || mount === null) attempt(() => rmSync(dir, { recursive: true, force: true }));
  if (problems.length > 0 && !failed) throw problems[0];
}
