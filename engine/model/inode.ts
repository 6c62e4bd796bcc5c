/**
 * Inodes of the simulated filesystem, and their checkpoint encoding.
 *
 * File content is modelled as a size and the byte ranges that are offline
 * (an HSM stub's content lives elsewhere until it is filled); everything
 * else up to the size is resident. Bytes themselves are not kept.
 *
 * Checkpoints store inodes in binary pages (inode-pages.ts). `decodeInode`
 * reads the encoding of checkpoint header version 2, one inode per key:
 * UTF-8 JSON of the fields below, with bigints as decimal strings and
 * xattr values as base64, and a version number; it is no longer written.
 */
import type { Fid, Stat } from '../record/record.js';
import { type Interval, RangeSet } from './ranges.js';

export type InodeType = 'file' | 'dir' | 'symlink';

export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
const TYPE_BITS: Record<InodeType, number> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK };

export const ROOT_INO = 1;

export interface Inode {
  ino: number;
  gen: number;
  type: InodeType;
  /** Permission bits only (07777); stat adds the type bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  xattrs: Map<string, Uint8Array>;
  /** Directories: name -> ino. */
  entries: Map<string, number> | null;
  /** Directories: the parent directory's ino (the root is its own parent). */
  parent: number;
  /** Symlinks: the target. */
  target: string | null;
  /** Files: the byte ranges that are offline. */
  offline: RangeSet;
}

export function fidOf(inode: Inode): Fid {
  return { ino: inode.ino, gen: inode.gen };
}

export function statOf(inode: Inode): Stat {
  return {
    ino: inode.ino,
    mode: TYPE_BITS[inode.type] | inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    nlink: inode.nlink,
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
  };
}

const INODE_ENCODING_VERSION = 1;

interface InodeJson {
  v: number;
  ino: number;
  gen: number;
  type: InodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atime: string;
  mtime: string;
  ctime: string;
  xattrs: [string, string][];
  entries: [string, number][] | null;
  parent: number;
  target: string | null;
  offline: Interval[];
}

/** An inode of a version 2 checkpoint (see the header). */
export function decodeInode(bytes: Uint8Array): Inode {
  const json = JSON.parse(new TextDecoder().decode(bytes)) as InodeJson;
  if (json.v !== INODE_ENCODING_VERSION) throw new Error(`inode encoding version ${json.v} unknown`);
  return {
    ino: json.ino,
    gen: json.gen,
    type: json.type,
    mode: json.mode,
    uid: json.uid,
    gid: json.gid,
    size: json.size,
    nlink: json.nlink,
    atime: BigInt(json.atime),
    mtime: BigInt(json.mtime),
    ctime: BigInt(json.ctime),
    xattrs: new Map(json.xattrs.map(([name, value]) => [name, new Uint8Array(Buffer.from(value, 'base64'))])),
    entries: json.entries === null ? null : new Map(json.entries),
    parent: json.parent,
    target: json.target,
    offline: new RangeSet(json.offline),
  };
}

export function newInode(fid: Fid, type: InodeType, fields: { mode: number; uid: number; gid: number; time: bigint; parent: number }): Inode {
  return {
    ino: fid.ino,
    gen: fid.gen,
    type,
    mode: fields.mode,
    uid: fields.uid,
    gid: fields.gid,
    size: 0,
    nlink: type === 'dir' ? 2 : 1,
    atime: fields.time,
    mtime: fields.time,
    ctime: fields.time,
    xattrs: new Map(),
    entries: type === 'dir' ? new Map() : null,
    parent: fields.parent,
    target: null,
    offline: new RangeSet(),
  };
}
