/**
 * A real filesystem for the kernel's tests, demo and campaign: an ext4 image
 * made in a temp dir and loop-mounted there. `withExt4(work)` releases the
 * mount and the loop device whatever `work` does, and removes the temp dir.
 * It needs root, mkfs.ext4 (e2fsprogs), losetup and mount.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Ext4Image {
  /** Where the image is mounted. */
  mount: string;
  /** A directory beside it, on another filesystem (the temp dir's). */
  scratch: string;
  device: string;
}

/** Runs `work` on a fresh ext4 image of `sizeMiB` loop-mounted in a temp dir; then unmounts it, releases the loop device and removes the dir. */
export async function withExt4<T>(work: (image: Ext4Image) => Promise<T>, sizeMiB = 32): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fanlog-ext4-'));
  const file = path.join(dir, 'ext4.img');
  const mount = path.join(dir, 'mnt');
  const scratch = path.join(dir, 'scratch');
  mkdirSync(mount);
  mkdirSync(scratch);
  let device: string | null = null;
  let mounted = false;
  try {
    execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
    execFileSync('mkfs.ext4', ['-q', '-F', file], { stdio: 'pipe' });
    device = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
    execFileSync('mount', [device, mount]);
    mounted = true;
    return await work({ mount, scratch, device });
  } finally {
    try {
      if (mounted) execFileSync('umount', [mount]);
    } finally {
      try {
        if (device !== null) execFileSync('losetup', ['-d', device]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}
