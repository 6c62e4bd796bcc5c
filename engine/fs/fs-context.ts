/**
 * FsContext: what every part of the filesystem shares. FanlogFs (fs.ts) is
 * a facade over small parts (content, queries, namespace, attributes, the
 * guarded operations, the mirror's operations); each holds this one object
 * and nothing else of the others' state, so that a descriptor one part
 * opens is the one another reads and closes.
 *
 * It holds the host (the engine: state, permission broker, clock, commit),
 * the descriptor table, and the checks every call starts with: the engine
 * usable, the process context valid, the time read once, and a path
 * resolved to what must (or must not) be there.
 */

import type { FsState } from '../model/fs-state.js';
import type { Inode } from '../model/inode.js';
import { fsError, parsePath, type Resolved, resolve } from '../model/paths.js';
import type { PermissionBroker } from '../permission/broker.js';
import type { EngineRecord, Fid } from '../record/record.js';
import { checkInteger, checkOptions } from '../../validate.js';
import { checkId } from './limits.js';

export interface ProcessContext {
  pid?: number;
  tid?: number;
  uid?: number;
  gid?: number;
}

/**
 * A call's process context, checked, and the time of the call: every
 * record it journals carries that one time. A mirror's changes (`source:
 * 'mirror'`) have no process: their records carry no pid, tid, uid or gid,
 * and their events say where they came from.
 */
export type Caller = Required<ProcessContext> & { time: bigint; source?: 'mirror' };

export type OpenFlags = 'r' | 'w' | 'rw';
export const PAGE_BYTES = 4096;
export const XATTR_VALUE_BYTES_MAX = 65536;

/** What the filesystem needs of the engine. */
export interface FsHost {
  readonly state: FsState;
  readonly permissions: PermissionBroker;
  now(): bigint;
  /** Throws EFAILED or ECLOSED when the engine cannot take operations. */
  checkUsable(): void;
  /**
   * Applies `op` (if any), builds the events from the state after it, and
   * journals both as one entry; resolves when it is durable and the events
   * were delivered, with how many events it journaled. `op` must hold only
   * values the codec holds: the entry points check them (limits.ts).
   */
  commit(op: EngineRecord | null, events: () => EngineRecord[]): Promise<number>;
  /** Journals one record as its own entry (a guarded operation's `outcome`); resolves with its seq once durable. */
  appendRecord(record: EngineRecord): Promise<bigint>;
}

export interface OpenFile {
  fid: Fid;
  path: string;
  parentFid: Fid;
  name: string;
  readable: boolean;
  writable: boolean;
}

/** A path resolved to an object that exists. */
export type Found = Resolved & { inode: Inode };

const found = (resolved: Resolved): resolved is Found => resolved.inode !== undefined;

/** The call's context, checked, with `time`: one object, built once per call. */
function checkCaller(value: unknown, time: bigint): Caller {
  const ctx = checkOptions<ProcessContext>('context', value, ['pid', 'tid', 'uid', 'gid']);
  return {
    pid: ctx.pid === undefined ? 1 : checkId('context.pid', ctx.pid),
    tid: ctx.tid === undefined ? (ctx.pid ?? 1) : checkId('context.tid', ctx.tid),
    uid: ctx.uid === undefined ? 0 : checkId('context.uid', ctx.uid),
    gid: ctx.gid === undefined ? 0 : checkId('context.gid', ctx.gid),
    time,
  };
}

export class FsContext {
  readonly host: FsHost;
  /** Open descriptors by number. They do not survive a reopen: processes die with the engine. */
  readonly files = new Map<number, OpenFile>();
  #nextFd = 3;

  constructor(host: FsHost) {
    this.host = host;
  }

  get state(): FsState {
    return this.host.state;
  }

  /**
   * Starts a call: the engine must be usable, the context valid, and the
   * time is read now, before anything changes (a user's clock that throws
   * fails the call here, never half-way through a commit).
   */
  begin(context: unknown): Caller {
    this.host.checkUsable();
    const caller = checkCaller(context, 0n);
    caller.time = this.host.now();
    return caller;
  }

  /** Gives `open` the next descriptor number. */
  addFile(open: OpenFile): number {
    const fd = this.#nextFd++;
    this.files.set(fd, open);
    return fd;
  }

  /** Whether a descriptor has the object open (its last name going makes it an orphan, not gone). */
  isOpen(fid: Fid): boolean {
    for (const open of this.files.values()) if (open.fid.ino === fid.ino && open.fid.gen === fid.gen) return true;
    return false;
  }

  /** An open descriptor and the object it has open now (EBADF if the object is gone). */
  file(fd: unknown): OpenFile & { inode: Inode } {
    const number = checkInteger('fd', fd, 0, Number.MAX_SAFE_INTEGER);
    const open = this.files.get(number);
    if (open === undefined) throw fsError('EBADF', `fd ${number} is not open`);
    const inode = this.state.byFid(open.fid);
    if (inode === undefined) throw fsError('EBADF', `fd ${number}: '${open.path}' was deleted`);
    return { fid: open.fid, path: open.path, parentFid: open.parentFid, name: open.name, readable: open.readable, writable: open.writable, inode };
  }

  /** A path that must name an object (ENOENT otherwise); `followLast`: a symlink at the end is followed. */
  existing(path: unknown, followLast: boolean): Found {
    const resolved = resolve(this.state, parsePath(path), followLast);
    if (!found(resolved)) throw fsError('ENOENT', `no such file or directory: '${resolved.path}'`);
    return resolved;
  }

  /** A path that must name nothing yet, in a directory that exists (EEXIST otherwise). */
  absent(path: unknown): Resolved {
    const components = parsePath(path);
    if (components.length === 0) throw fsError('EEXIST', "'/' exists");
    const resolved = resolve(this.state, components, false);
    if (resolved.inode !== undefined) throw fsError('EEXIST', `'${resolved.path}' exists`);
    return resolved;
  }

  /** A path that must name a file (or a symlink to one), not a directory. */
  regularFile(path: unknown): Found {
    const at = this.existing(path, true);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    return at;
  }
}
