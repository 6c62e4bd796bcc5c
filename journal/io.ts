/**
 * The file-system interface every durable byte of fanlog goes through.
 *
 * It is deliberately small: what an append-only log and a tiny file store
 * need, with durability steps spelled out (`datasync` for a file's bytes,
 * `syncDir` for a directory's entries). Two implementations ship: `NodeIo`
 * on `node:fs`, and `MemoryIo`, a simulated disk that can lose what was not
 * made durable, so crash tests can pull the plug at any step.
 *
 * Errors: implementations throw errors carrying a Node-style `code`
 * (`ENOENT`, `EEXIST`, `EIO`, `ENOSPC`, ...); callers map them with
 * `fromIoError`.
 */

import path from 'node:path';
import { invalid } from '../errors.js';

export type IoOpenMode =
  /** An existing file, read only. */
  | 'read'
  /** An existing file, read and write. */
  | 'readwrite'
  /** A new file, read and write; fails with EEXIST if the name exists. */
  | 'create';

export interface IoFile {
  readonly path: string;
  /** The file's current length in bytes. */
  size(): Promise<number>;
  /** Reads up to `buffer.length` bytes at `position`; resolves with the count read (0 at end of file). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position`, extending the file if needed. Not durable until `datasync`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the file's length. Not durable until `datasync`. */
  truncate(length: number): Promise<void>;
  /** Makes the file's bytes and length durable (fdatasync). */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** An exclusive hold on a directory, released by `release` or by the holder's death. */
export interface IoLock {
  release(): Promise<void>;
}

export interface Io {
  /** Creates `dir` and missing parents, durably. */
  mkdirp(dir: string): Promise<void>;
  /** The names (not paths) in `dir`, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  open(path: string, mode: IoOpenMode): Promise<IoFile>;
  /** Removes a name. Not durable until `syncDir` of its directory. */
  unlink(path: string): Promise<void>;
  /** Renames atomically, replacing `to`. Not durable until `syncDir`. */
  rename(from: string, to: string): Promise<void>;
  /** Makes the directory's entries (creations, deletions, renames) durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * Takes the exclusive lock of `dir` for this process. Rejects with an
   * error whose code is EBUSY while another holder, in this process or
   * another live one, has it; a lock whose holder died is taken over.
   */
  lock(dir: string): Promise<IoLock>;
}

const HOST_NAME_BYTES_MAX = 255;
const HOST_PATH_BYTES_MAX = 4095;

/**
 * Checks a directory path given by a caller before any file system call
 * sees it, so that a name the host cannot hold is EINVAL, not an I/O error:
 * a non-empty string without NUL, components of at most 255 bytes, at most
 * 4095 bytes in all (Linux's NAME_MAX and PATH_MAX).
 */
export function checkHostPath(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${what} must be a non-empty string`);
  if (value.includes('\0')) throw invalid(`${what} contains a NUL byte`);
  if (!value.isWellFormed()) throw invalid(`${what} is not well-formed Unicode (it has a lone surrogate)`);
  if (Buffer.byteLength(value) > HOST_PATH_BYTES_MAX) throw invalid(`${what} is longer than ${HOST_PATH_BYTES_MAX} bytes`);
  for (const component of value.split('/')) {
    if (Buffer.byteLength(component) > HOST_NAME_BYTES_MAX) throw invalid(`${what} has a component longer than ${HOST_NAME_BYTES_MAX} bytes`);
  }
  return value;
}

/**
 * Replaces the file `name` in `dir` with `bytes`, atomically and durably:
 * written whole to `name.tmp` (a leftover one is removed first),
 * fdatasynced, renamed over `name`, and the directory fsynced. A crash
 * leaves the old file or the new one, never a mix.
 */
export async function replaceFile(io: Io, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temporary = path.join(dir, `${name}.tmp`);
  if ((await io.readdir(dir)).includes(`${name}.tmp`)) await io.unlink(temporary);
  const handle = await io.open(temporary, 'create');
  try {
    await handle.write(bytes, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await io.rename(temporary, path.join(dir, name));
  await io.syncDir(dir);
}
