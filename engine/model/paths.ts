/**
 * Path checking and resolution for the simulated filesystem.
 *
 * Paths given to the API are absolute and normalised: they start with '/',
 * have no empty, '.' or '..' components and no trailing slash (the root is
 * '/'), no NUL, components of at most 255 bytes and at most 4096 bytes in
 * all. Anything else is EINVAL (ENAMETOOLONG for length). A path must be
 * well-formed Unicode: a lone UTF-16 surrogate has no UTF-8 encoding, so
 * it could not be journaled as it was given (it would come back as U+FFFD,
 * and two different names would become one). Linux names are bytes;
 * fanlog's are strings that round-trip through UTF-8 exactly. Symlinks met
 * along the way are followed (relative targets from the link's directory,
 * '..' allowed in targets); the last component is followed only when the
 * operation asks. More than 40 links in one resolution is ELOOP.
 */
import { FanlogError, type FanlogErrorCode } from '../../errors.js';
import type { FsState } from './fs-state.js';
import { type Inode, ROOT_INO } from './inode.js';

export const NAME_BYTES_MAX = 255;
export const PATH_BYTES_MAX = 4096;
const SYMLINK_FOLLOWS_MAX = 40;

export function fsError(code: FanlogErrorCode, message: string): FanlogError {
  return new FanlogError(code, message);
}

/** Checks a caller's path; returns its components. */
export function parsePath(path: unknown, what = 'path'): string[] {
  if (typeof path !== 'string') throw fsError('EINVAL', `${what} must be a string, got ${typeof path}`);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  if (path.length * 3 > PATH_BYTES_MAX && Buffer.byteLength(path) > PATH_BYTES_MAX)
    throw fsError('ENAMETOOLONG', `${what} is longer than ${PATH_BYTES_MAX} bytes`);
  if (!path.startsWith('/')) throw fsError('EINVAL', `${what} must be absolute: '${path}'`);
  if (path.includes('\0')) throw fsError('EINVAL', `${what} contains a NUL byte`);
  if (!path.isWellFormed()) throw fsError('EINVAL', `${what} is not well-formed Unicode (it has a lone surrogate, which UTF-8 cannot hold)`);
  if (path === '/') return [];
  const components = path.slice(1).split('/');
  for (const component of components) {
    if (component === '' || component === '.' || component === '..') {
      throw fsError('EINVAL', `${what} must be normalised (no empty, '.' or '..' components, no trailing '/'): '${path}'`);
    }
    if (component.length * 3 > NAME_BYTES_MAX && Buffer.byteLength(component) > NAME_BYTES_MAX)
      throw fsError('ENAMETOOLONG', `a component of ${what} is longer than ${NAME_BYTES_MAX} bytes`);
  }
  return components;
}

export function joinPath(parentPath: string, name: string): string {
  return parentPath === '/' ? `/${name}` : `${parentPath}/${name}`;
}

/** The canonical path of a directory, from its parent links. */
export function directoryPath(state: FsState, dir: Inode): string {
  const names: string[] = [];
  let current = dir;
  while (current.ino !== ROOT_INO) {
    const parent = state.get(current.parent)!;
    let name: string | undefined;
    for (const [entry, ino] of parent.entries!) {
      if (ino === current.ino) {
        name = entry;
        break;
      }
    }
    names.push(name!);
    current = parent;
  }
  return `/${names.reverse().join('/')}`;
}

export interface Resolved {
  /** The directory holding the last component (the root's parent is the root). */
  parent: Inode;
  /** The canonical path of `parent`. */
  parentPath: string;
  /** The last component's name ('' for the root). */
  name: string;
  /** The object, if it exists. */
  inode: Inode | undefined;
  /** The canonical path of the object. */
  path: string;
}

/**
 * Resolves `components` from the root. Intermediate components must exist
 * and be directories (ENOENT, ENOTDIR); the last may be missing.
 */
export function resolve(state: FsState, components: readonly string[], followLast: boolean): Resolved {
  const root = state.get(ROOT_INO)!;
  let follows = 0;
  let dir = root;
  let dirPath = '/';
  const queue = [...components];
  while (queue.length > 0) {
    const name = queue.shift()!;
    const isLast = queue.length === 0;
    if (name === '.' || name === '') continue;
    if (name === '..') {
      dir = state.get(dir.parent)!;
      dirPath = directoryPath(state, dir);
      continue;
    }
    const ino = dir.entries!.get(name);
    const inode = ino === undefined ? undefined : state.get(ino);
    if (inode === undefined) {
      if (!isLast) throw fsError('ENOENT', `no such directory: '${joinPath(dirPath, name)}'`);
      return { parent: dir, parentPath: dirPath, name, inode: undefined, path: joinPath(dirPath, name) };
    }
    if (inode.type === 'symlink' && (!isLast || followLast)) {
      if (++follows > SYMLINK_FOLLOWS_MAX) throw fsError('ELOOP', `too many symbolic links resolving '${joinPath(dirPath, name)}'`);
      const target = inode.target!;
      if (target.startsWith('/')) {
        dir = root;
        dirPath = '/';
      }
      queue.unshift(...target.split('/').filter((part) => part !== ''));
      if (queue.length === 0) return { parent: state.get(dir.parent)!, parentPath: dirPath, name: '', inode: dir, path: dirPath };
      continue;
    }
    if (isLast) return { parent: dir, parentPath: dirPath, name, inode, path: joinPath(dirPath, name) };
    if (inode.type !== 'dir') throw fsError('ENOTDIR', `not a directory: '${joinPath(dirPath, name)}'`);
    dir = inode;
    dirPath = joinPath(dirPath, name);
  }
  // The path named a directory (the root, or through a symlink): its parent holds it.
  return {
    parent: state.get(dir.parent)!,
    parentPath: dir.ino === ROOT_INO ? '/' : directoryPath(state, state.get(dir.parent)!),
    name: '',
    inode: dir,
    path: dirPath,
  };
}
