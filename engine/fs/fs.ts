/**
 * FanlogFs: the simulated filesystem's syscall-like API (`engine.fs`).
 *
 * Every operation runs in three steps:
 *   1. check: arguments, path resolution, POSIX errors, against the current
 *      state; a failed operation changes nothing and journals nothing;
 *   2. commit (engine.ts), in one synchronous step: apply the op record to
 *      the state, build the event records from the state after it (before
 *      it, for what is deleted), and append them all as one journal entry;
 *   3. resolve once that entry is durable, after its events were delivered.
 * A guarded operation (open, read, write, truncate, a page fault) asks its
 * permission events between 1 and 2, and is checked again against the
 * state after the answers, since the state may have moved while it waited
 * (fs-guarded.ts).
 *
 * Which operation raises which event follows Linux fanotify, checked
 * against a capture of the kernel's (test/engine/events-kernel.test.ts);
 * see the table in the README.
 *
 * This class is a facade: each call goes to one part, and the parts share
 * one FsContext (fs-context.ts: the engine, the descriptor table, the
 * checks), not a chain of base classes:
 *
 *   FsContent     fs-content.ts     open, read, write, fault, truncate,
 *                                   close, hsmFill, hsmRelease
 *   FsGuarded     fs-guarded.ts     the guarded operations once allowed,
 *                                   live and in recovery
 *   FsQueries     fs-queries.ts     stat, readdir, readlink, xattrs, offline
 *   FsNamespace   fs-namespace.ts   mkdir, create, symlink, link, unlink,
 *                                   rmdir, rename, orphans
 *   FsAttributes  fs-attributes.ts  chmod, chown, utimes, set/removexattr
 *   MirroredFs    fs-mirror.ts      a mirror's changes (engine.mirrored)
 *
 * Simplifications, documented in the README: no access-mode (DAC) checks;
 * content is sizes and offline ranges, not bytes. An object whose last
 * name goes while it is open stays as an orphan until its final close, as
 * in Linux (model/fs-state.ts).
 */
import type { Intent } from '../permission/intent.js';
import type { Range } from '../record/record.js';
import { FsAttributes } from './fs-attributes.js';
import { FsContent } from './fs-content.js';
import { FsContext, type FsHost, type OpenFlags, type ProcessContext } from './fs-context.js';
import { FsGuarded } from './fs-guarded.js';
import { MirroredFs } from './fs-mirror.js';
import { FsNamespace } from './fs-namespace.js';
import { type FileStat, FsQueries } from './fs-queries.js';

export type { FsHost, OpenFlags, ProcessContext } from './fs-context.js';
export { PAGE_BYTES } from './fs-context.js';

export class FanlogFs {
  readonly #context: FsContext;
  readonly #content: FsContent;
  readonly #guarded: FsGuarded;
  readonly #queries: FsQueries;
  readonly #namespace: FsNamespace;
  readonly #attributes: FsAttributes;
  /** @internal The operations a mirror of a real directory makes, on the same context (`engine.mirrored`). */
  readonly mirrored: MirroredFs;

  /** @internal The engine makes its filesystem. */
  constructor(host: FsHost) {
    this.#context = new FsContext(host);
    this.#guarded = new FsGuarded(this.#context);
    this.#content = new FsContent(this.#context, this.#guarded);
    this.#queries = new FsQueries(this.#context);
    this.#namespace = new FsNamespace(this.#context);
    this.#attributes = new FsAttributes(this.#context);
    this.mirrored = new MirroredFs(this.#context, this.#namespace);
  }

  // ---- file descriptors and content ----------------------------------------

  /**
   * Opens a file, or creates it (`create`); resolves with its descriptor.
   * An existing file's open asks FAN_OPEN_PERM (FAN_OPEN_EXEC_PERM with
   * `exec`) and a pre-content event first.
   */
  open(
    path: string,
    flags: OpenFlags,
    options?: { exec?: boolean; create?: boolean; truncate?: boolean; mode?: number },
    context?: ProcessContext,
  ): Promise<number> {
    return this.#content.open(path, flags, options, context);
  }

  /** Reads up to `length` bytes at `offset`, asking FAN_ACCESS_PERM and FAN_PRE_ACCESS first; resolves with how many there were (EIO if any is offline). */
  read(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    return this.#content.read(fd, offset, length, context);
  }

  /** Writes `length` bytes at `offset`, asking FAN_PRE_MODIFY first; the range becomes resident. Resolves with `length`. */
  write(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    return this.#content.write(fd, offset, length, context);
  }

  /** A page fault on the 4096-byte page holding `offset`: raises only the pre-content event for the page. */
  fault(fd: number, offset: number, options?: { write?: boolean }, context?: ProcessContext): Promise<Range> {
    return this.#content.fault(fd, offset, options, context);
  }

  /** Sets a file's size, asking FAN_PRE_MODIFY first for the range that changes. */
  truncate(path: string, size: number, context?: ProcessContext): Promise<void> {
    return this.#content.truncate(path, size, context);
  }

  /**
   * Closes a descriptor: CLOSE_WRITE or CLOSE_NOWRITE. The final close of an
   * orphan (an object that lost its last name while open) also releases it:
   * a `release` op, and DELETE_SELF on the object alone.
   */
  close(fd: number, context?: ProcessContext): Promise<void> {
    return this.#content.close(fd, context);
  }

  // ---- HSM ----------------------------------------------------------------

  /** Makes a file's bytes `offset..offset + length` resident (FAN_HSM). */
  hsmFill(path: string, offset: number, length: number, context?: ProcessContext): Promise<void> {
    return this.#content.hsmFill(path, offset, length, context);
  }

  /** Makes all of a file's bytes offline, a stub (FAN_HSM). */
  hsmRelease(path: string, context?: ProcessContext): Promise<void> {
    return this.#content.hsmRelease(path, context);
  }

  // ---- queries ------------------------------------------------------------

  /** A path's attributes; a symlink is followed. */
  stat(path: string, context?: ProcessContext): Promise<FileStat> {
    return this.#queries.stat(path, context);
  }

  /** A path's attributes; a symlink's own, not followed (lstat(2)). */
  lstat(path: string, context?: ProcessContext): Promise<FileStat> {
    return this.#queries.lstat(path, context);
  }

  /** The names in a directory, sorted. */
  readdir(path: string, context?: ProcessContext): Promise<string[]> {
    return this.#queries.readdir(path, context);
  }

  /** A symlink's target, as readlink(2) gives it (EINVAL when the path is not a symlink; the last component is not followed). */
  readlink(path: string, context?: ProcessContext): Promise<string> {
    return this.#queries.readlink(path, context);
  }

  /** The value of xattr `name` (a copy); ENODATA when the object has none of that name. */
  getxattr(path: string, name: string, context?: ProcessContext): Promise<Uint8Array> {
    return this.#queries.getxattr(path, name, context);
  }

  /** The names of an object's xattrs, sorted. */
  listxattr(path: string, context?: ProcessContext): Promise<string[]> {
    return this.#queries.listxattr(path, context);
  }

  /** Offline bytes of a file (for HSM tools and the demo's accounting). */
  offlineBytes(path: string, context?: ProcessContext): Promise<number> {
    return this.#queries.offlineBytes(path, context);
  }

  /** A file's offline byte ranges, in order, disjoint: what an HSM has to fill before the file is resident. */
  offlineRanges(path: string, context?: ProcessContext): Promise<Range[]> {
    return this.#queries.offlineRanges(path, context);
  }

  // ---- namespace ----------------------------------------------------------

  mkdir(path: string, options?: { mode?: number }, context?: ProcessContext): Promise<void> {
    return this.#namespace.mkdir(path, options, context);
  }

  /** Creates a file of `size` bytes, all offline (a stub) with `offline`. */
  create(path: string, options?: { mode?: number; uid?: number; gid?: number; size?: number; offline?: boolean }, context?: ProcessContext): Promise<void> {
    return this.#namespace.create(path, options, context);
  }

  symlink(target: string, path: string, context?: ProcessContext): Promise<void> {
    return this.#namespace.symlink(target, path, context);
  }

  link(existingPath: string, newPath: string, context?: ProcessContext): Promise<void> {
    return this.#namespace.link(existingPath, newPath, context);
  }

  /** Removes a name; an object a descriptor still has open stays until its final close. */
  unlink(path: string, context?: ProcessContext): Promise<void> {
    return this.#namespace.unlink(path, context);
  }

  rmdir(path: string, context?: ProcessContext): Promise<void> {
    return this.#namespace.rmdir(path, context);
  }

  rename(from: string, to: string, context?: ProcessContext): Promise<void> {
    return this.#namespace.rename(from, to, context);
  }

  // ---- attributes ---------------------------------------------------------

  chmod(path: string, mode: number, context?: ProcessContext): Promise<void> {
    return this.#attributes.chmod(path, mode, context);
  }

  chown(path: string, uid: number, gid: number, context?: ProcessContext): Promise<void> {
    return this.#attributes.chown(path, uid, gid, context);
  }

  utimes(path: string, atime: bigint, mtime: bigint, context?: ProcessContext): Promise<void> {
    return this.#attributes.utimes(path, atime, mtime, context);
  }

  setxattr(path: string, name: string, value: Uint8Array, context?: ProcessContext): Promise<void> {
    return this.#attributes.setxattr(path, name, value, context);
  }

  removexattr(path: string, name: string, context?: ProcessContext): Promise<void> {
    return this.#attributes.removexattr(path, name, context);
  }

  // ---- for the engine -----------------------------------------------------

  /**
   * Performs a guarded operation whose permissions were granted, for
   * recovery: its caller died while it waited (fs-guarded.ts).
   * @internal
   */
  perform(intent: Intent, operationSeq: bigint | undefined): Promise<void> {
    return this.#guarded.perform(intent, operationSeq);
  }

  /** @internal Releases the orphans a crash left (fs-namespace.ts); resolves with how many. */
  releaseOrphans(): Promise<number> {
    return this.#namespace.releaseOrphans();
  }

  /** @internal Open descriptors (they do not survive a reopen: processes die with the engine). */
  get openFiles(): number {
    return this.#context.files.size;
  }
}
