/**
 * The mirrored subtree of the engine's filesystem, read by `rel` path ('' is
 * the directory the mirror fills, `into`; 'a/b' below it): lookups for the
 * reconcile (reconcile.ts), straight on the engine's state, which only
 * engine operations change.
 */
import type { FsState } from '../engine/model/fs-state.js';
import type { Inode } from '../engine/model/inode.js';

export const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

/** A rel path's directory and name: 'a/b/c' is ['a/b', 'c'], 'c' is ['', 'c']. */
export function splitRel(rel: string): [dir: string, name: string] {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? ['', rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
}

export class MirroredTree {
  readonly #state: FsState;
  readonly #into: string;
  constructor(
    state: FsState,
    /** The engine path the mirror fills. */
    into: string,
  ) {
    this.#into = into;
    this.#state = state;
  }

  /** The engine path of `rel`. */
  enginePath(rel: string): string {
    if (rel === '') return this.#into;
    return this.#into === '/' ? `/${rel}` : `${this.#into}/${rel}`;
  }

  /** The directory the mirror fills. */
  intoInode(): Inode | undefined {
    let inode = this.#state.get(1);
    for (const name of this.#into.split('/').filter((part) => part !== '')) {
      const ino = inode?.entries?.get(name);
      inode = ino === undefined ? undefined : this.#state.get(ino);
    }
    return inode;
  }

  /** What is at `rel` now (a symlink is not followed). */
  inodeAt(rel: string): Inode | undefined {
    let inode = this.intoInode();
    if (rel === '') return inode;
    for (const name of rel.split('/')) {
      const ino = inode?.entries?.get(name);
      inode = ino === undefined ? undefined : this.#state.get(ino);
      if (inode === undefined) return undefined;
    }
    return inode;
  }

  /** A directory's rel path now, by its parents (a directory has one). */
  dirRel(dir: Inode): string | undefined {
    const top = this.intoInode();
    const names: string[] = [];
    for (let at = dir; at !== top;) {
      const parent = this.#state.get(at.parent);
      if (parent === undefined || parent === at) return undefined;
      const name = [...parent.entries!].find(([, ino]) => ino === at.ino)?.[0];
      if (name === undefined) return undefined;
      names.unshift(name);
      at = parent;
    }
    return names.join('/');
  }

  /** A rel path of a mirrored file or symlink: a name in some mirrored directory. */
  somePath(inode: Inode): string | undefined {
    for (const dir of this.#state.inodes.values()) {
      if (dir.entries === null) continue;
      for (const [name, ino] of dir.entries) {
        if (ino !== inode.ino) continue;
        const rel = this.dirRel(dir);
        if (rel !== undefined) return join(rel, name);
      }
    }
    return undefined;
  }
}
