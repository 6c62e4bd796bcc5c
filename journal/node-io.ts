/**
 * `Io` on the real file system through `node:fs`.
 *
 * Directory lock: an exclusive open-file-description lock (Linux
 * `F_OFD_SETLK`, through fs-native-extensions) on the file `LOCK` inside
 * the directory, held for as long as the file stays open. The kernel drops
 * it when its holder dies, however it dies, so there is no stale lock to
 * take over and no window in which two holders overlap. It is per open
 * file description, not per process, so two opens in one process, or in
 * two worker threads of one process, exclude each other as two processes
 * do. The holder writes its pid into the file, only so that EBUSY can name
 * it; the file is never deleted (deleting it would let a second holder
 * lock a new file while the first still holds the old one).
 *
 * Errors: every failure of a `node:fs` call is a FanlogError (errors.ts
 * `fromIoError`: the errno's code where callers act on it, else EIO) whose
 * `file` and message name the path the call was about. Node's own errors
 * do not always (a read of a directory is "EISDIR: illegal operation on a
 * directory, read"), and a caller several layers up knows only the
 * engine's directory, so this seam is where the path is still known. Two
 * codes are made plainer: `mkdirp` over a file is ENOTDIR (mkdir says
 * EEXIST), and a lock another holder has is EBUSY naming its pid.
 *
 * Blocking commits (`new NodeIo({ blocking: true })`): a file's writes,
 * truncates and fdatasyncs run as system calls on the calling thread, not
 * on libuv's thread pool. Each trip through the pool costs a wakeup there
 * and one back on the loop: on this project's 2-core VM, a 200-byte write
 * and fdatasync into a pre-zeroed file ran 2,600-3,000 times a second
 * through the pool and 4,600-5,200 inline (docs/guide/benchmarks.md, "The
 * single durable append"; the peer `fanlog_blocking` in bench/peers.ts). The price: the event loop stands still for each write
 * and fdatasync (a fraction of a millisecond on an idle disk, tens of
 * milliseconds on a busy one). After an fdatasync the loop turns once
 * (setImmediate) before the caller goes on, so timers and I/O callbacks
 * still run between commits. Reads, opens and directory calls stay on the
 * pool either way.
 *
 * Inline small writes (`new NodeIo({ inlineWriteBytesMax: n })`): a write
 * of at most n bytes runs as a `writeSync` on the calling thread, whatever
 * `blocking` says of the rest; larger writes, truncates and fdatasyncs keep
 * to the pool. A small write only copies into the page cache (a few
 * microseconds), less than the pool's two wakeups cost: for an engine under
 * `sync: 'never'`, which answers a permission event after two small
 * journal writes and no fdatasync, it cut the CPU per round trip from
 * 133-179 µs to 92-104 µs (docs/guide/benchmarks.md, "Fanotify: the real
 * kernel"). The price: a write the kernel throttles (dirty pages over the
 * limit) stops the loop while it waits. Writes made inline, either way,
 * let the loop turn about every millisecond (INLINE_TURN_MS).
 */
import { createRequire } from 'node:module';
import { constants as fsConstants, fdatasyncSync, ftruncateSync, promises as fsp, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { asFanlogError, FanlogError, invalid } from '../errors.js';
import type { Io, IoFile, IoLock, IoOpenMode } from './io.js';

const LOCK_NAME = 'LOCK';
const { tryLock } = createRequire(import.meta.url)('fs-native-extensions') as { tryLock: (fd: number) => boolean };
/** @internal An exclusive open-file-description lock on `fd` (see the header): false when another open file description holds it. */
export const tryLockFile = (fd: number): boolean => tryLock(fd);

/**
 * Runs one `node:fs` call about `file`; what it throws is rethrown as a
 * FanlogError naming `file` (a bug, which has no errno code, unchanged).
 */
async function about<T>(file: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asFanlogError(error, file);
  }
}

/** Runs one blocking `node:fs` call about `file`, as `about` does. */
function aboutNow<T>(file: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw asFanlogError(error, file);
  }
}

/** Resolves once the event loop has turned (after a blocking fdatasync, so that it turns between commits). */
const loopTurned = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Inline writes never wait on the loop, so commits awaited one after
 * another would hold it still for as long as they go on: no timer (an
 * 'interval' engine's fdatasync among them), no socket, no I/O callback.
 * Each file keeps a marker: after an inline write, one is set to run at the
 * loop's next turn (setImmediate) unless it is set already; once it has
 * waited more than INLINE_TURN_MS, the writer waits for the loop to turn.
 * A writer whose loop turns anyway never waits, one that holds it waits
 * about once a millisecond, and each file's writer gets its own
 * millisecond a turn: a marker shared by the process would let the first
 * writer of a turn use them all, and every other wait after one write.
 */
const INLINE_TURN_MS = 1;
class TurnMarker {
  #markedAt: number | null = null;
  readonly #seen = (): void => {
    this.#markedAt = null;
  };

  /** After an inline write: whether the loop has been held long enough that the writer must let it turn. */
  heldTooLong(): boolean {
    const now = performance.now();
    if (this.#markedAt === null) {
      this.#markedAt = now;
      setImmediate(this.#seen);
      return false;
    }
    return now - this.#markedAt > INLINE_TURN_MS;
  }
}

class NodeFile implements IoFile {
  readonly #handle: fsp.FileHandle;
  readonly #blocking: boolean;
  readonly #inlineWriteBytesMax: number;
  readonly #turns = new TurnMarker();

  constructor(
    readonly path: string,
    handle: fsp.FileHandle,
    blocking: boolean,
    inlineWriteBytesMax: number,
  ) {
    this.#handle = handle;
    this.#blocking = blocking;
    this.#inlineWriteBytesMax = inlineWriteBytesMax;
  }

  async size(): Promise<number> {
    return (await about(this.path, () => this.#handle.stat())).size;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    let total = 0;
    while (total < buffer.length) {
      const { bytesRead } = await about(this.path, () => this.#handle.read(buffer, total, buffer.length - total, position + total));
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    const inline = this.#blocking || data.length <= this.#inlineWriteBytesMax;
    while (written < data.length) {
      const from = written;
      written += inline
        ? aboutNow(this.path, () => writeSync(this.#handle.fd, data, from, data.length - from, position + from))
        : (await about(this.path, () => this.#handle.write(data, from, data.length - from, position + from))).bytesWritten;
    }
    if (inline && this.#turns.heldTooLong()) await loopTurned();
  }

  async truncate(length: number): Promise<void> {
    if (this.#blocking) aboutNow(this.path, () => ftruncateSync(this.#handle.fd, length));
    else await about(this.path, () => this.#handle.truncate(length));
  }

  async datasync(): Promise<void> {
    if (!this.#blocking) return about(this.path, () => this.#handle.datasync());
    aboutNow(this.path, () => fdatasyncSync(this.#handle.fd));
    await loopTurned();
  }

  async close(): Promise<void> {
    await about(this.path, () => this.#handle.close());
  }
}

/** The pid a holder wrote into the lock file's text; null when there is none. */
export function holderPid(text: string): number | null {
  const pid = text.trim().split(/\s+/)[0] ?? '';
  return /^\d+$/.test(pid) ? Number(pid) : null;
}

/** The pid the directory's last lock holder wrote (it may have exited); null when none is known. Reads, never locks. */
export function lastLockHolder(dir: string): number | null {
  try {
    return holderPid(readFileSync(path.join(dir, LOCK_NAME), 'utf8'));
  } catch {
    return null;
  }
}

/** NodeIo's options. */
export interface NodeIoOptions {
  /** Writes, truncates and fdatasyncs of files on the calling thread (see the header); default false. */
  blocking?: boolean;
  /** Writes of at most this many bytes on the calling thread, the rest on the pool (see the header); default 0, none. */
  inlineWriteBytesMax?: number;
}

const NODE_IO_OPTIONS = ['blocking', 'inlineWriteBytesMax'];

export class NodeIo implements Io {
  readonly #blocking: boolean;
  readonly #inlineWriteBytesMax: number;

  constructor(options: NodeIoOptions = {}) {
    const prototype: unknown = options === null || typeof options !== 'object' ? undefined : Object.getPrototypeOf(options);
    if (prototype !== Object.prototype && prototype !== null) throw invalid('NodeIo options must be a plain object');
    for (const key of Object.keys(options)) if (!NODE_IO_OPTIONS.includes(key)) throw invalid(`unknown NodeIo option '${key}'`);
    const blocking: unknown = Object.hasOwn(options, 'blocking') ? options.blocking : undefined;
    if (blocking !== undefined && typeof blocking !== 'boolean') throw invalid(`blocking must be a boolean, got ${typeof blocking}`);
    this.#blocking = blocking ?? false;
    const inlineMax: unknown = Object.hasOwn(options, 'inlineWriteBytesMax') ? options.inlineWriteBytesMax : undefined;
    if (inlineMax !== undefined && !(typeof inlineMax === 'number' && Number.isSafeInteger(inlineMax) && inlineMax >= 0))
      throw invalid(`inlineWriteBytesMax must be an integer >= 0, got ${typeof inlineMax === 'number' ? inlineMax : typeof inlineMax}`);
    this.#inlineWriteBytesMax = inlineMax ?? 0;
  }

  async mkdirp(dir: string): Promise<void> {
    const created = await about(dir, () => fsp.mkdir(dir, { recursive: true })).catch((error: unknown) => {
      // mkdir's EEXIST here means that something other than a directory is at `dir`.
      if (!(error instanceof FanlogError && error.code === 'EEXIST')) throw error;
      throw new FanlogError('ENOTDIR', `${dir}: not a directory (something else is at that path)`, { file: dir, cause: error });
    });
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
    return about(dir, () => fsp.readdir(dir));
  }

  async open(filePath: string, mode: IoOpenMode): Promise<IoFile> {
    const flags =
      mode === 'read' ? fsConstants.O_RDONLY : mode === 'readwrite' ? fsConstants.O_RDWR : fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL;
    return new NodeFile(filePath, await about(filePath, () => fsp.open(filePath, flags, 0o644)), this.#blocking, this.#inlineWriteBytesMax);
  }

  async unlink(filePath: string): Promise<void> {
    await about(filePath, () => fsp.unlink(filePath));
  }

  async rename(from: string, to: string): Promise<void> {
    await about(from, () => fsp.rename(from, to));
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await about(dir, () => fsp.open(dir, fsConstants.O_RDONLY));
    try {
      await about(dir, () => handle.sync());
    } finally {
      await about(dir, () => handle.close());
    }
  }

  async lock(dir: string): Promise<IoLock> {
    const lockPath = path.join(dir, LOCK_NAME);
    const handle = await about(lockPath, () => fsp.open(lockPath, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644));
    try {
      if (!tryLock(handle.fd)) {
        const holder = holderPid(await handle.readFile('utf8').catch(() => ''));
        throw new FanlogError('EBUSY', holder !== null ? `${dir} is locked by process ${holder}` : `${dir} is locked by another holder`, { file: dir });
      }
      const pid = Buffer.from(`${process.pid}\n`);
      await about(lockPath, () => handle.truncate(0));
      await about(lockPath, () => handle.write(pid, 0, pid.length, 0));
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // Closing the only descriptor of the open file description releases the lock.
        await about(lockPath, () => handle.close());
      },
    };
  }
}
