/**
 * FsBase: what every filesystem operation shares: the host (engine), the
 * descriptor table, argument and path checks, and building op and event
 * records. FsContent adds the guarded content operations on it, and
 * FanlogFs (fs.ts) the rest of the API; the split keeps each file to one
 * concern. See fs.ts for the three steps every operation runs in.
 */

import type { FsState } from '../model/fs-state.js';
import { fidOf, type Inode, statOf } from '../model/inode.js';
import { FAN_ONDIR, type Mask } from '../notify/masks.js';
import { fsError, parsePath, type Resolved, resolve } from '../model/paths.js';
import type { EngineRecord, EventFields, EventRecord, Fid, OpFields, OpName, OpRecord } from '../record/record.js';
import { checkInteger, checkOptions } from '../../validate.js';
import { checkId } from './limits.js';
import type { PermissionBroker } from '../permission/broker.js';

export interface ProcessContext {
  pid?: number;
  tid?: number;
  uid?: number;
  gid?: number;
}
/**
 * A call's process context, and the time of the call: every record it
 * journals carries that one time. A mirror's changes (`source: 'mirror'`)
 * have no process: their records carry no pid, tid, uid or gid, and their
 * events say where they came from.
 */
export type Context = Required<ProcessContext> & { time: bigint; source?: 'mirror' };

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
}

export interface OpenFile {
  fid: Fid;
  path: string;
  parentFid: Fid;
  name: string;
  readable: boolean;
  writable: boolean;
}

/** The call's context, checked, with `time`: one object, built once per call. */
function checkContext(value: unknown, time: bigint): Context {
  const ctx = checkOptions<ProcessContext>('context', value, ['pid', 'tid', 'uid', 'gid']);
  return {
    pid: ctx.pid === undefined ? 1 : checkId('context.pid', ctx.pid),
    tid: ctx.tid === undefined ? (ctx.pid ?? 1) : checkId('context.tid', ctx.tid),
    uid: ctx.uid === undefined ? 0 : checkId('context.uid', ctx.uid),
    gid: ctx.gid === undefined ? 0 : checkId('context.gid', ctx.gid),
    time,
  };
}

export abstract class FsBase {
  /** @internal */
  protected readonly files = new Map<number, OpenFile>();
  /** @internal */
  protected nextFd = 3;

  /** @internal The engine makes its filesystem. */
  constructor(protected readonly host: FsHost) {}

  /** @internal */
  protected get state(): FsState {
    return this.host.state;
  }

  // ---- building records -------------------------------------------------

  // Records are built as literals and completed with Object.assign, not
  // with object spread: spread was the largest cost of building them
  // (measured: 16 -> 9 µs of CPU per operation with the context's spread gone).

  /** @internal */
  protected opRecord(ctx: Context, op: OpName, fields: OpFields): OpRecord {
    const record: OpRecord = ctx.source === undefined ? { kind: 'op', op, time: ctx.time, pid: ctx.pid, tid: ctx.tid, uid: ctx.uid, gid: ctx.gid } : { kind: 'op', op, time: ctx.time };
    return Object.assign(record, fields);
  }

  /** @internal An event about `inode`, reached through `where` (its parent and name), with its attributes as they are now (or as given). */
  protected event(
    ctx: Context,
    op: OpName,
    mask: Mask,
    inode: Inode,
    where: { parentFid: Fid; name: string; path: string },
    extra?: EventFields,
  ): EventRecord {
    const record = this.selfEvent(ctx, op, mask, inode, where.path);
    record.parentFid = where.parentFid;
    record.name = where.name;
    return extra === undefined ? record : Object.assign(record, extra);
  }

  /**
   * An event about `inode` alone, as Linux raises the self events
   * (DELETE_SELF, MOVE_SELF) and the ATTRIB of a link-count change: on the
   * inode, not through a name. It carries the path it was reached by (for
   * mount marks and filters) but no parent and no name, so it reaches marks
   * on the object, mount and filesystem marks, and never a parent's.
   * @internal
   */
  protected selfEvent(ctx: Context, op: OpName, mask: Mask, inode: Inode, path: string | undefined, extra?: EventFields): EventRecord {
    const reported = inode.type === 'dir' ? mask | FAN_ONDIR : mask;
    // One literal per shape: every process's event is built as it always was (the hot path).
    const record: EventRecord =
      ctx.source === undefined
        ? { kind: 'event', op, time: ctx.time, mask: reported, fid: fidOf(inode), stat: statOf(inode), pid: ctx.pid, tid: ctx.tid, uid: ctx.uid, gid: ctx.gid }
        : { kind: 'event', op, time: ctx.time, mask: reported, fid: fidOf(inode), stat: statOf(inode), source: ctx.source };
    if (path !== undefined) record.path = path;
    return extra === undefined ? record : Object.assign(record, extra);
  }

  /** @internal Whether a descriptor has the object open (its last name going makes it an orphan, not gone). */
  protected isOpen(fid: Fid): boolean {
    for (const open of this.files.values()) if (open.fid.ino === fid.ino && open.fid.gen === fid.gen) return true;
    return false;
  }

  /** @internal */
  protected where(resolved: Resolved): { parentFid: Fid; name: string; path: string } {
    return { parentFid: fidOf(resolved.parent), name: resolved.name, path: resolved.path };
  }

  /** @internal */
  protected existing(path: unknown, followLast: boolean): Resolved & { inode: Inode } {
    const resolved = resolve(this.state, parsePath(path), followLast);
    if (resolved.inode === undefined) throw fsError('ENOENT', `no such file or directory: '${resolved.path}'`);
    return resolved as Resolved & { inode: Inode };
  }

  /** @internal */
  protected absent(path: unknown): Resolved {
    const components = parsePath(path);
    if (components.length === 0) throw fsError('EEXIST', "'/' exists");
    const resolved = resolve(this.state, components, false);
    if (resolved.inode !== undefined) throw fsError('EEXIST', `'${resolved.path}' exists`);
    return resolved;
  }

  /** @internal */
  protected file(fd: unknown): OpenFile & { inode: Inode } {
    const number = checkInteger('fd', fd, 0, Number.MAX_SAFE_INTEGER);
    const open = this.files.get(number);
    if (open === undefined) throw fsError('EBADF', `fd ${number} is not open`);
    const inode = this.state.byFid(open.fid);
    if (inode === undefined) throw fsError('EBADF', `fd ${number}: '${open.path}' was deleted`);
    return { fid: open.fid, path: open.path, parentFid: open.parentFid, name: open.name, readable: open.readable, writable: open.writable, inode };
  }

  /**
   * Starts a call: the engine must be usable, the context valid, and the
   * time is read now, before anything changes (a user's clock that throws
   * fails the call here, never half-way through a commit).
   * @internal
   */
  protected begin(ctx: unknown): Context {
    this.host.checkUsable();
    const checked = checkContext(ctx, 0n);
    checked.time = this.host.now();
    return checked;
  }
}
