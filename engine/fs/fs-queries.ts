/**
 * FsQueries: reading the simulated filesystem back, on top of FsContent:
 * stat (with the offline flag an HSM lists stubs by), directory entries,
 * symlink targets, xattrs and a file's offline ranges. Queries journal
 * nothing and raise no event (as Linux's stat, readlink, getxattr and
 * listxattr raise none); they take a process context only for its checks.
 */
import { FanlogError } from '../../errors.js';
import { type Inode, statOf } from '../model/inode.js';
import { fsError, NAME_BYTES_MAX, type Resolved } from '../model/paths.js';
import type { Range, Stat } from '../record/record.js';
import type { ProcessContext } from './fs-base.js';
import { FsContent } from './fs-content.js';

/** What `fs.stat` returns: stat(2)'s fields, and whether any of the file's bytes are offline (a stub). */
export interface FileStat extends Stat {
  offline: boolean;
}

export abstract class FsQueries extends FsContent {
  /** A path's attributes; a symlink is followed. */
  async stat(path: string, context?: ProcessContext): Promise<FileStat> {
    this.begin(context);
    const { inode } = this.existing(path, true);
    return { ...statOf(inode), offline: !inode.offline.isEmpty };
  }

  /** A path's attributes; a symlink's own, not followed (lstat(2)). */
  async lstat(path: string, context?: ProcessContext): Promise<FileStat> {
    this.begin(context);
    const { inode } = this.existing(path, false);
    return { ...statOf(inode), offline: !inode.offline.isEmpty };
  }

  /** The names in a directory, sorted. */
  async readdir(path: string, context?: ProcessContext): Promise<string[]> {
    this.begin(context);
    const at = this.existing(path, true);
    if (at.inode.type !== 'dir') throw fsError('ENOTDIR', `'${at.path}' is not a directory`);
    return [...at.inode.entries!.keys()].sort();
  }

  /** A symlink's target, as readlink(2) gives it (EINVAL when the path is not a symlink; the last component is not followed). */
  async readlink(path: string, context?: ProcessContext): Promise<string> {
    this.begin(context);
    const at = this.existing(path, false);
    if (at.inode.type !== 'symlink') throw fsError('EINVAL', `'${at.path}' is not a symlink`);
    return at.inode.target!;
  }

  /** The value of xattr `name` (a copy); ENODATA when the object has none of that name. */
  async getxattr(path: string, name: string, context?: ProcessContext): Promise<Uint8Array> {
    this.begin(context);
    checkXattrName(name);
    const at = this.existing(path, true);
    const value = at.inode.xattrs.get(name);
    if (value === undefined) throw fsError('ENODATA', `'${at.path}' has no xattr '${name}'`);
    return new Uint8Array(value);
  }

  /** The names of an object's xattrs, sorted. */
  async listxattr(path: string, context?: ProcessContext): Promise<string[]> {
    this.begin(context);
    return [...this.existing(path, true).inode.xattrs.keys()].sort();
  }

  /** Offline bytes of a file (for HSM tools and the demo's accounting). */
  async offlineBytes(path: string, context?: ProcessContext): Promise<number> {
    this.begin(context);
    return this.regularFile(path).inode.offline.bytes;
  }

  /** A file's offline byte ranges, in order, disjoint: what an HSM has to fill before the file is resident. */
  async offlineRanges(path: string, context?: ProcessContext): Promise<Range[]> {
    this.begin(context);
    return this.regularFile(path).inode.offline.toArray().map(([start, end]) => ({ offset: start, count: end - start }));
  }

  /** @internal A path that must name a file (or a symlink to one), not a directory. */
  protected regularFile(path: unknown): Resolved & { inode: Inode } {
    const at = this.existing(path, true);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    return at;
  }
}

/** An xattr name as Linux takes one: non-empty, no NUL, at most 255 bytes. */
export function checkXattrName(name: unknown): void {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0') || !name.isWellFormed()) {
    throw new FanlogError('EINVAL', 'xattr name must be a non-empty, well-formed string without NUL');
  }
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw fsError('ENAMETOOLONG', 'xattr name is longer than 255 bytes');
}
