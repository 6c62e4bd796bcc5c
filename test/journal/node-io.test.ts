/**
 * NodeIo's errors (issue 26): every failure of an `Io` call on the real
 * file system is a FanlogError with the errno's code (errors.ts
 * `fromIoError`) and the path it was about, so that what a caller
 * rethrows names the file even where Node's own error names none (a read
 * of a directory: "EISDIR: illegal operation on a directory, read").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FanlogError } from '../../errors.js';
import { NodeIo } from '../../journal/node-io.js';
import { rejection, tempDir } from '../helpers.js';

/** Expects `error` to be a FanlogError of `code` naming `file`, in `file` and in its message. */
function expectNamed(error: Error & { code?: string; file?: string }, code: string, file: string): void {
  expect(error, String(error)).toBeInstanceOf(FanlogError);
  expect(error.code, error.message).toBe(code);
  expect(error.file, error.message).toBe(file);
  expect(error.message).toContain(file);
}

describe('NodeIo', () => {
  const io = new NodeIo();

  it('names the file a read of a directory failed on', async () => {
    const dir = path.join(tempDir(), 'a-dir');
    mkdirSync(dir);
    const handle = await io.open(dir, 'read');
    try {
      expectNamed(await rejection(() => handle.read(new Uint8Array(8), 0)), 'EISDIR', dir);
    } finally {
      await handle.close();
    }
  });

  it('names the path of a failed open, readdir, unlink, rename and syncDir', async () => {
    const root = tempDir();
    const file = path.join(root, 'file');
    writeFileSync(file, 'x');
    const missing = path.join(root, 'missing');
    expectNamed(await rejection(() => io.open(missing, 'read')), 'ENOENT', missing);
    expectNamed(await rejection(() => io.open(file, 'create')), 'EEXIST', file);
    expectNamed(await rejection(() => io.readdir(file)), 'ENOTDIR', file);
    expectNamed(await rejection(() => io.unlink(missing)), 'ENOENT', missing);
    expectNamed(await rejection(() => io.rename(missing, path.join(root, 'to'))), 'ENOENT', missing);
    expectNamed(await rejection(() => io.syncDir(missing)), 'ENOENT', missing);
  });

  it('says ENOTDIR, naming it, when mkdirp meets a file where a directory should be', async () => {
    const root = tempDir();
    const file = path.join(root, 'journal');
    writeFileSync(file, 'x');
    expectNamed(await rejection(() => io.mkdirp(file)), 'ENOTDIR', file);
    expectNamed(await rejection(() => io.mkdirp(path.join(file, 'below'))), 'ENOTDIR', path.join(file, 'below'));
  });

  it('names the directory a lock is refused on, with EBUSY and the holder', async () => {
    const dir = tempDir();
    const lock = await io.lock(dir);
    try {
      const error = await rejection(() => io.lock(dir));
      expectNamed(error, 'EBUSY', dir);
      expect(error.message).toContain(`locked by process ${process.pid}`);
    } finally {
      await lock.release();
    }
  });
});
