/**
 * The changes a mirror of a real directory makes (mirror/), as operations
 * of the simulated filesystem: each one atomic, journaled with its events
 * as the public operations journal theirs, but with no process behind it
 * (the records carry no pid, tid, uid or gid; events say `source:
 * 'mirror'`) and no permission asked: the change already happened on disk.
 *
 *   mirrorCreate   mkdir, create or symlink, with the mode, owner, size and
 *                  times found on disk; a file found with content also
 *                  raises FAN_MODIFY and FAN_CLOSE_WRITE, as its writer did
 *   mirrorLink     a hard link (link)
 *   mirrorRemove   unlink or rmdir (a directory must be empty by then)
 *   mirrorRename   rename
 *   mirrorSync     op `sync`: mode, owner, size and times at once. Events:
 *                  FAN_ATTRIB for mode or owner; for content (size, mtime,
 *                  or ctime alone) FAN_MODIFY (with FAN_TRUNCATE if it
 *                  shrank) and FAN_CLOSE_WRITE: a settled change is
 *                  reported as a write whose writer is gone
 * Each checks and applies synchronously, before its first await, and
 * resolves once its entry is durable. (A scan's notes are journaled by the
 * mirror itself: they change nothing.)
 *
 * What the disk gives is checked before anything is applied, as a caller's
 * arguments are (limits.ts): a size past 2^53 - 1 (a sparse file on tmpfs
 * can claim 2^63 - 1 bytes) is EFBIG; a time before 1970 or after 2262, an
 * id or mode out of range, or a symlink target that is not well-formed
 * Unicode is EINVAL. The mirror reports such a path as a problem; the
 * engine records nothing of it.
 */
import { FAN_ATTRIB, FAN_CLOSE_WRITE, FAN_CREATE, FAN_MODIFY, FAN_SYMLINK, FAN_TRUNCATE, type Mask } from '../notify/masks.js';
import { fidOf } from '../model/inode.js';
import { fsError } from '../model/paths.js';
import type { Attrs, EventRecord, Fid, Stat } from '../record/record.js';
import type { Caller, FsContext } from './fs-context.js';
import type { FsNamespace } from './fs-namespace.js';
import { event, opRecord, whereOf } from './fs-records.js';
import { checkBytes, checkId, checkMode, checkTime } from './limits.js';

export type MirrorType = 'file' | 'dir' | 'symlink';

/** What a mirror found on disk for one object: stat's fields it mirrors. */
export type MirrorAttrs = Pick<Stat, 'mode' | 'uid' | 'gid' | 'size' | 'atime' | 'mtime'>;

const OP_OF: Record<MirrorType, 'create' | 'mkdir' | 'symlink'> = { file: 'create', dir: 'mkdir', symlink: 'symlink' };

/** Checks what the disk gave for `path` (see the header); the fields not given are not checked. */
function checkFound(path: string, attrs: Partial<MirrorAttrs>, target?: string): void {
  const name = (field: string): string => `${path}: ${field}`;
  if (attrs.mode !== undefined) checkMode(name('mode'), attrs.mode);
  if (attrs.uid !== undefined) checkId(name('uid'), attrs.uid);
  if (attrs.gid !== undefined) checkId(name('gid'), attrs.gid);
  if (attrs.size !== undefined) checkBytes(name('size'), attrs.size);
  if (attrs.atime !== undefined) checkTime(name('atime'), attrs.atime);
  if (attrs.mtime !== undefined) checkTime(name('mtime'), attrs.mtime);
  if (target !== undefined && (typeof target !== 'string' || !target.isWellFormed()))
    throw fsError('EINVAL', `${path}: the symlink target is not well-formed Unicode`);
}

/**
 * The mirror's part of the filesystem (`engine.mirrored`): it shares the
 * filesystem's context, and its link, remove and rename are the
 * namespace's, made with a mirror's caller.
 */
export class MirroredFs {
  readonly #context: FsContext;
  readonly #namespace: FsNamespace;

  /** @internal */
  constructor(context: FsContext, namespace: FsNamespace) {
    this.#context = context;
    this.#namespace = namespace;
  }

  /** A mirror's caller: no process, the engine's time. */
  #caller(): Caller {
    this.#context.host.checkUsable();
    return { pid: 0, tid: 0, uid: 0, gid: 0, time: this.#context.host.now(), source: 'mirror' };
  }

  /**
   * @internal Checks and applies at once (throwing what fails), and gives
   * the new fid with the promise of the entry's durability: a mirror makes
   * many changes before it waits for them, so that they share fdatasyncs.
   */
  mirrorCreate(path: string, type: MirrorType, attrs: MirrorAttrs, target?: string): { fid: Fid; durable: Promise<void> } {
    const caller = this.#caller();
    checkFound(path, attrs, type === 'symlink' ? (target ?? '') : undefined);
    const at = this.#context.absent(path);
    const fid = this.#context.state.allocateFid();
    const op = OP_OF[type];
    const recorded: Attrs = { mode: attrs.mode, uid: attrs.uid, gid: attrs.gid, atime: attrs.atime, mtime: attrs.mtime };
    if (type === 'file') recorded.size = attrs.size;
    const record = opRecord(caller, op, {
      parentFid: fidOf(at.parent),
      name: at.name,
      fid,
      attrs: recorded,
      ...(type === 'symlink' ? { target: target! } : {}),
    });
    const committed = this.#context.host.commit(record, () => {
      const inode = this.#context.state.byFid(fid)!;
      const where = whereOf(at);
      const events = [
        event(caller, op, type === 'symlink' ? FAN_CREATE | FAN_SYMLINK : FAN_CREATE, inode, where, type === 'symlink' ? { target: target! } : undefined),
      ];
      if (type === 'file' && attrs.size > 0) events.push(event(caller, op, FAN_MODIFY, inode, where), event(caller, op, FAN_CLOSE_WRITE, inode, where));
      return events;
    });
    return { fid, durable: committed.then(() => undefined) };
  }

  /** @internal */
  async mirrorLink(existingPath: string, newPath: string): Promise<void> {
    await this.#namespace.linkAs(this.#caller(), existingPath, newPath);
  }

  /** @internal */
  async mirrorRemove(path: string): Promise<void> {
    const caller = this.#caller();
    const at = this.#context.existing(path, false);
    if (at.name === '') throw fsError('EBUSY', 'cannot remove the root directory');
    if (at.inode.type === 'dir' && at.inode.entries!.size > 0) throw fsError('ENOTEMPTY', `'${at.path}' is not empty`);
    await this.#namespace.removeAs(caller, at.inode.type === 'dir' ? 'rmdir' : 'unlink', at);
  }

  /** @internal */
  async mirrorRename(from: string, to: string): Promise<void> {
    await this.#namespace.renameAs(this.#caller(), from, to);
  }

  /** @internal Sets what changed; `content`: the content changed (see the header). Nothing changed: nothing journaled. */
  async mirrorSync(path: string, attrs: Partial<MirrorAttrs>, content: boolean): Promise<void> {
    const caller = this.#caller();
    checkFound(path, attrs);
    const at = this.#context.existing(path, false);
    const inode = at.inode;
    const changed: Attrs = {};
    if (attrs.mode !== undefined && attrs.mode !== inode.mode) changed.mode = attrs.mode;
    if (attrs.uid !== undefined && attrs.uid !== inode.uid) changed.uid = attrs.uid;
    if (attrs.gid !== undefined && attrs.gid !== inode.gid) changed.gid = attrs.gid;
    if (inode.type === 'file' && attrs.size !== undefined && attrs.size !== inode.size) changed.size = attrs.size;
    if (inode.type !== 'dir' && attrs.mtime !== undefined && attrs.mtime !== inode.mtime) changed.mtime = attrs.mtime;
    const owner = changed.mode !== undefined || changed.uid !== undefined || changed.gid !== undefined;
    const modified = inode.type === 'file' && (content || changed.size !== undefined || changed.mtime !== undefined);
    if (!owner && !modified && changed.mtime === undefined) return;
    const shrank = changed.size !== undefined && changed.size < inode.size;
    const record = opRecord(caller, 'sync', { fid: fidOf(inode), attrs: changed });
    await this.#context.host.commit(record, () => {
      const where = whereOf(at);
      const events: EventRecord[] = [];
      if (owner) events.push(event(caller, 'sync', FAN_ATTRIB, inode, where));
      if (modified) {
        const mask: Mask = shrank ? FAN_MODIFY | FAN_TRUNCATE : FAN_MODIFY;
        events.push(event(caller, 'sync', mask, inode, where), event(caller, 'sync', FAN_CLOSE_WRITE, inode, where));
      } else if (!owner) {
        events.push(event(caller, 'sync', FAN_ATTRIB, inode, where)); // a symlink's times
      }
      return events;
    });
  }
}
