/**
 * What the engine writes into the journal: records, one per journal record.
 *
 * An operation's entry holds one `op` record (the mutation, exactly what
 * replay needs to redo it) followed by one `event` record per object and
 * event it raised (what consumers read). A permission `request` and its
 * `decision` are entries of their own, journaled before the listener sees
 * the request and before the operation proceeds. An `evicted` note records
 * that a consumer was evicted and which records it will never see.
 */
import type { Mask } from '../masks.js';

export type RecordKind = 'op' | 'event' | 'config' | 'request' | 'decision' | 'evicted';

/** Every operation the simulated filesystem knows, by name. */
export const OP_NAMES = [
  'mkdir',
  'create',
  'open',
  'read',
  'write',
  'fault',
  'close',
  'truncate',
  'unlink',
  'rmdir',
  'rename',
  'link',
  'symlink',
  'chmod',
  'chown',
  'utimes',
  'setxattr',
  'removexattr',
  'hsmFill',
  'hsmRelease',
  'group',
  'consumer',
  'release',
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** An object's identity: inode number and generation, never reused together. */
export interface Fid {
  ino: number;
  gen: number;
}

/** Attributes, as stat(2) would give them. Times are nanoseconds. */
export interface Stat {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
}

/** Attribute changes an op record carries (chmod, chown, utimes, create). */
export interface Attrs {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: bigint;
  mtime?: bigint;
}

export interface Range {
  offset: number;
  count: number;
}

export interface EngineRecord {
  kind: RecordKind;
  /** Nanoseconds, from the engine's clock. */
  time: bigint;
  op: OpName;
  mask?: Mask;
  fid?: Fid;
  parentFid?: Fid;
  name?: string;
  oldParentFid?: Fid;
  oldName?: string;
  path?: string;
  oldPath?: string;
  range?: Range;
  stat?: Stat;
  attrs?: Attrs;
  xattr?: string;
  value?: Uint8Array;
  target?: string;
  offline?: boolean;
  /** unlink, rmdir, rename (of what it replaces): the object losing its last name stays as an orphan, still open. */
  orphan?: boolean;
  pid?: number;
  tid?: number;
  uid?: number;
  /** Group configuration and permission traffic. */
  group?: string;
  config?: string;
  /**
   * The guarded operation a record belongs to, by its seq (the seq of its
   * first request): on a request after the operation's first, and on the
   * first record of the entry that completes the operation.
   */
  operationSeq?: bigint;
  /** Decisions: the seq of the request answered. */
  requestSeq?: bigint;
  /** Decisions: FAN_ALLOW, FAN_DENY or FAN_DENY_ERRNO(errno). */
  response?: number;
  /** Decisions: the answer came from the group's timeout, not a listener. */
  timeout?: boolean;
  /** Requests: the operation to complete if allowed (JSON; see permissions.ts). */
  intent?: string;
  /** Eviction notes: the consumer evicted, and the records it will never see. */
  consumer?: string;
  fromSeq?: bigint;
  toSeq?: bigint;
}
