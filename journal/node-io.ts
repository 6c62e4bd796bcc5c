/**
 * `Io` on the real file system through `node:fs`.
 *
 * Directory lock: the file `LOCK` inside the directory holds the owner's pid.
 * It is published atomically (written to a private temporary name, then
 * hard-linked to `LOCK`, which fails if `LOCK` exists), so a reader never
 * sees a half-written lock. A lock whose pid is dead (or a zombie, or our own
 * pid without an in-process hold, which means the pid was reused) is stale
 * and taken over. Holds within this process are tracked in a set, because a
 * pid check cannot tell two openers in one process apart.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Io, IoFile, IoLock, IoOpenMode } from './io.js';

const LOCK_NAME = 'LOCK';

/** Directories locked by this process, by resolved path. */
const heldLocks = new Set<string>();

function busy(message: string): Error {
  return Object.assign(new Error(message), { code: 'EBUSY' });
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has exited but was not reaped yet; it holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

class NodeFile implements IoFile {
  constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
  ) {}

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    let total = 0;
    while (total < buffer.length) {
      const { bytesRead } = await this.handle.read(buffer, total, buffer.length - total, position + total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, position + written);
      written += bytesWritten;
    }
  }

  async truncate(length: number): Promise<void> {
    await this.handle.truncate(length);
  }

  async datasync(): Promise<void> {
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export class NodeIo implements Io {
  async mkdirp(dir: string): Promise<void> {
    const created = await fsp.mkdir(dir, { recursive: true });
    if (created !== undefined) {
      // Make every newly created level durable in its parent.
      let child = path.resolve(dir);
      const top = path.resolve(created);
      for (;;) {
        await this.syncDir(path.dirname(child));
        if (child === top) break;
        child = path.dirname(child);
      }
    }
  }

  async readdir(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async open(filePath: string, mode: IoOpenMode): Promise<IoFile> {
    const flags =
      mode === 'read'
        ? fsConstants.O_RDONLY
        : mode === 'readwrite'
          ? fsConstants.O_RDWR
          : fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL;
    return new NodeFile(filePath, await fsp.open(filePath, flags, 0o644));
  }

  async unlink(filePath: string): Promise<void> {
    await fsp.unlink(filePath);
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async lock(dir: string): Promise<IoLock> {
    const key = path.resolve(dir);
    if (heldLocks.has(key)) throw busy(`${dir} is already open in this process`);
    heldLocks.add(key);
    try {
      const lockPath = path.join(dir, LOCK_NAME);
      const token = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
      const temporary = path.join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
      await fsp.writeFile(temporary, token, { flag: 'wx' });
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            await fsp.link(temporary, lockPath);
            break;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
          }
          const owner = Number.parseInt(await fsp.readFile(lockPath, 'utf8').catch(() => ''), 10);
          if (Number.isInteger(owner) && owner !== process.pid && processIsAlive(owner)) {
            throw busy(`${dir} is locked by live process ${owner}`);
          }
          await fsp.unlink(lockPath).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
          });
        }
      } finally {
        await fsp.unlink(temporary);
      }
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          heldLocks.delete(key);
          const current = await fsp.readFile(lockPath, 'utf8').catch(() => '');
          if (current === token) await fsp.unlink(lockPath);
        },
      };
    } catch (error) {
      heldLocks.delete(key);
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw busy(`${dir} is locked by another process`);
      throw error;
    }
  }
}
