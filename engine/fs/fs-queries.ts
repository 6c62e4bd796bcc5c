/**
 * FsQueries: reading the simulated filesystem back: stat (with the offline
 * flag an HSM lists stubs by), directory entries, symlink targets, xattrs
 * and a file's offline ranges. Queries journal nothing and raise no event
 * (as Linux's stat, readlink, getxattr and listxattr raise none); they take
 * a process context only for its checks.
 */
import { statOf } from '../model/inode.js';
import { fsError } from '../model/paths.js';
import type { Range, Stat } from '../record/record.js';
import type { FsContext, ProcessContext } from './fs-context.js';
import { checkXattrName } from './limits.js';

/** What `fs.stat` returns: stat(2)'s fields, and whether any of the file's bytes are offline (a stub). */
export interface FileStat extends Stat {
  offline: boolean;
}

export class FsQueries {
  readonly #context: FsContext;

  constructor(context: FsContext) {
    this.#context = context;
  }

  async stat(path: string, context?: ProcessContext): Promise<FileStat> {
    this.#context.begin(context);
    const { inode } = this.#context.existing(path, true);
    return { ...statOf(inode), offline: !inode.offline.isEmpty };
  }

  async lstat(path: string, context?: ProcessContext): Promise<FileStat> {
    this.#context.begin(context);
    const { inode } = this.#context.existing(path, false);
    return { ...statOf(inode), offline: !inode.offline.isEmpty };
  }

  async readdir(path: string, context?: ProcessContext): Promise<string[]> {
    this.#context.begin(context);
    const at = this.#context.existing(path, true);
    if (at.inode.type !== 'dir') throw fsError('ENOTDIR', `'${at.path}' is not a directory`);
    return [...at.inode.entries!.keys()].sort();
  }

  async readlink(path: string, context?: ProcessContext): Promise<string> {
    this.#context.begin(context);
    const at = this.#context.existing(path, false);
    if (at.inode.type !== 'symlink') throw fsError('EINVAL', `'${at.path}' is not a symlink`);
    return at.inode.target!;
  }

  async getxattr(path: string, name: string, context?: ProcessContext): Promise<Uint8Array> {
    this.#context.begin(context);
    checkXattrName(name);
    const at = this.#context.existing(path, true);
    const value = at.inode.xattrs.get(name);
    if (value === undefined) throw fsError('ENODATA', `'${at.path}' has no xattr '${name}'`);
    return new Uint8Array(value);
  }

  async listxattr(path: string, context?: ProcessContext): Promise<string[]> {
    this.#context.begin(context);
    return [...this.#context.existing(path, true).inode.xattrs.keys()].sort();
  }

  async offlineBytes(path: string, context?: ProcessContext): Promise<number> {
    this.#context.begin(context);
    return this.#context.regularFile(path).inode.offline.bytes;
  }

  async offlineRanges(path: string, context?: ProcessContext): Promise<Range[]> {
    this.#context.begin(context);
    return this.#context
      .regularFile(path)
      .inode.offline.toArray()
      .map(([start, end]) => ({ offset: start, count: end - start }));
  }
}
