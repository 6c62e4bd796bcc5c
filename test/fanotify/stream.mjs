#!/usr/bin/env node
// Captures the real fanotify byte streams interop's tests read
// (test/interop/fanotify-kernel.test.ts): stream.c's script on a private
// tmpfs and on an ext4 image made and loop-mounted in a temp dir, once per
// report mode, into test/fanotify/stream-<fs>-<mode>.bin. Needs root,
// gcc and mkfs.ext4 (Debian's e2fsprogs); the tests need none of them.
// The mounts and the loop device are released even when a step fails.
//
//   node test/fanotify/stream.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODES = ['dfid-name-fid', 'dfid-name-target', 'fid'];
const work = mkdtempSync(path.join(tmpdir(), 'fanlog-stream-'));
const binary = path.join(work, 'stream');
const cleanups = [];

/** Runs the script once per mode on a fresh directory of the mounted filesystem. */
function captureOn(fs, mount) {
  for (const mode of MODES) {
    const root = path.join(mount, mode);
    mkdirSync(root);
    const bytes = execFileSync(binary, [root, mode], { maxBuffer: 1 << 20 });
    const file = path.join(here, `stream-${fs}-${mode}.bin`);
    writeFileSync(file, bytes);
    process.stdout.write(`wrote ${file}: ${bytes.length} bytes\n`);
  }
}

try {
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-o', binary, path.join(here, 'stream.c')], { stdio: 'inherit' });

  const tmpfs = path.join(work, 'tmpfs');
  mkdirSync(tmpfs);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', tmpfs]);
  cleanups.push(() => execFileSync('umount', [tmpfs]));
  captureOn('tmpfs', tmpfs);

  const image = path.join(work, 'ext4.img');
  writeFileSync(image, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '16M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  cleanups.push(() => execFileSync('losetup', ['--detach', loop]));
  const ext4 = path.join(work, 'ext4');
  mkdirSync(ext4);
  execFileSync('mount', ['-t', 'ext4', loop, ext4]);
  cleanups.push(() => execFileSync('umount', [ext4]));
  captureOn('ext4', ext4);
  process.stdout.write(`kernel ${release()}\n`);
} finally {
  // Last made, first released: the ext4 mount before its loop device.
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch (error) {
      process.stderr.write(`stream: cleanup failed: ${error.message}\n`);
      process.exitCode = 1;
    }
  }
  rmSync(work, { recursive: true, force: true });
}
