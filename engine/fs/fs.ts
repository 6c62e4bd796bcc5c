/**
 * FanlogFs: the simulated filesystem's syscall-like API.
 *
 * Every operation runs in three steps:
 *   1. check: arguments, path resolution, POSIX errors, against the current
 *      state; a failed operation changes nothing and journals nothing;
 *   2. commit (engine.ts), in one synchronous step: apply the op record to
 *      the state, build the event records from the state after it (before
 *      it, for what is deleted), and append them all as one journal entry;
 *   3. resolve once that entry is durable, after its events were delivered.
 * Permission events (next issue) go between 1 and 2: the check is repeated
 * after the answer, because the state may have moved while waiting.
 *
 * Which operation raises which event follows Linux fanotify, checked
 * against a capture of the kernel's (test/engine/events-kernel.test.ts);
 * see the table in the README. Dirent events (create, delete, moves, link,
 * symlink) are records about the directory naming the child; object events
 * name the parent and name the object was reached by; self events
 * (DELETE_SELF, MOVE_SELF, the ATTRIB of a link count) are about the inode
 * alone, with no parent and no name, so no parent's mark receives them.
 *
 * The class is built in four layers, one concern per file: FsBase
 * (fs-base.ts: descriptors, checks, record building), FsContent
 * (fs-content.ts: the guarded content operations), FsQueries
 * (fs-queries.ts: reading the state back), and FanlogFs here (namespace,
 * attributes, HSM).
 *
 * Simplifications, documented in the README: no access-mode (DAC) checks;
 * content is sizes and offline ranges, not bytes. An object whose last
 * name goes while it is open stays as an orphan until its final close, as
 * in Linux (fs-state.ts).
 */
import { fidOf, type Inode } from '../model/inode.js';
import { FAN_ATTRIB, FAN_CLOSE_NOWRITE, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_DELETE_SELF, FAN_HSM, FAN_LINK, FAN_MOVE_SELF, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_PRE_MODIFY, FAN_RENAME, FAN_SYMLINK, FAN_XATTR } from '../notify/masks.js';
import { fsError, parsePath, PATH_BYTES_MAX, type Resolved, resolve } from '../model/paths.js';
import type { Attrs, EngineRecord, Range } from '../record/record.js';
import { checkBoolean, checkInteger, checkOptions } from '../../validate.js';
import { checkByteRange, checkBytes, checkId, checkMode, checkTime } from './limits.js';

import { type Context, type ProcessContext, XATTR_VALUE_BYTES_MAX } from './fs-base.js';
import { checkXattrName, FsQueries } from './fs-queries.js';

export type { FsHost, OpenFlags, ProcessContext } from './fs-base.js';
export { PAGE_BYTES } from './fs-base.js';

export class FanlogFs extends FsQueries {
  // ---- namespace ----------------------------------------------------------

  async mkdir(path: string, options?: { mode?: number }, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    const { mode = 0o755 } = checkOptions<{ mode: number }>('options', options, ['mode']);
    checkMode('mode', mode);
    const at = this.absent(path);
    const fid = this.state.allocateFid();
    const op = this.opRecord(ctx, 'mkdir', { parentFid: fidOf(at.parent), name: at.name, fid, attrs: { mode, uid: ctx.uid, gid: ctx.gid } });
    await this.host.commit(op, () => [this.event(ctx, 'mkdir', FAN_CREATE, this.state.byFid(fid)!, this.where(at))]);
  }

  async create(
    path: string,
    options?: { mode?: number; uid?: number; gid?: number; size?: number; offline?: boolean },
    context?: ProcessContext,
  ): Promise<void> {
    const ctx = this.begin(context);
    const checked = checkOptions<{ mode: number; uid: number; gid: number; size: number; offline: boolean }>('options', options, [
      'mode',
      'uid',
      'gid',
      'size',
      'offline',
    ]);
    const attrs: Attrs = {
      mode: checkMode('mode', checked.mode ?? 0o644),
      uid: checkId('uid', checked.uid ?? ctx.uid),
      gid: checkId('gid', checked.gid ?? ctx.gid),
      size: checkBytes('size', checked.size ?? 0),
    };
    const offline = checkBoolean('offline', checked.offline ?? false);
    const at = this.absent(path);
    const fid = this.state.allocateFid();
    const op = this.opRecord(ctx, 'create', { parentFid: fidOf(at.parent), name: at.name, fid, attrs, offline });
    await this.host.commit(op, () => [this.event(ctx, 'create', FAN_CREATE, this.state.byFid(fid)!, this.where(at))]);
  }

  async symlink(target: string, path: string, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    if (typeof target !== 'string' || target.includes('\0')) throw fsError('EINVAL', 'symlink target must be a string without NUL');
    if (!target.isWellFormed()) throw fsError('EINVAL', 'symlink target is not well-formed Unicode (it has a lone surrogate)');
    // Linux: symlink("", path) is ENOENT.
    if (target.length === 0) throw fsError('ENOENT', 'symlink target is empty');
    if (Buffer.byteLength(target) > PATH_BYTES_MAX) throw fsError('ENAMETOOLONG', 'symlink target is too long');
    const at = this.absent(path);
    const fid = this.state.allocateFid();
    const op = this.opRecord(ctx, 'symlink', {
      parentFid: fidOf(at.parent),
      name: at.name,
      fid,
      target,
      attrs: { mode: 0o777, uid: ctx.uid, gid: ctx.gid },
    });
    await this.host.commit(op, () => [this.event(ctx, 'symlink', FAN_CREATE | FAN_SYMLINK, this.state.byFid(fid)!, this.where(at), { target })]);
  }

  async link(existingPath: string, newPath: string, context?: ProcessContext): Promise<void> {
    await this.linkWith(this.begin(context), existingPath, newPath);
  }

  /** @internal link, in a context already made (a mirror's, fs-mirror.ts). */
  protected async linkWith(ctx: Context, existingPath: unknown, newPath: unknown): Promise<void> {
    const source = this.existing(existingPath, false);
    if (source.inode.type === 'dir') throw fsError('EPERM', `cannot hard-link a directory: '${source.path}'`);
    const at = this.absent(newPath);
    const inode = source.inode;
    const op = this.opRecord(ctx, 'link', { fid: fidOf(inode), parentFid: fidOf(at.parent), name: at.name, oldPath: source.path });
    await this.host.commit(op, () => [
      this.event(ctx, 'link', FAN_CREATE | FAN_LINK, inode, this.where(at), { oldPath: source.path }),
      // The link count changed: on the inode alone, as Linux raises it.
      this.selfEvent(ctx, 'link', FAN_ATTRIB, inode, source.path),
    ]);
  }

  async unlink(path: string, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    const at = this.existing(path, false);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    await this.remove(ctx, 'unlink', at);
  }

  async rmdir(path: string, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    const at = this.existing(path, false);
    if (at.name === '') throw fsError('EBUSY', 'cannot remove the root directory');
    if (at.inode.type !== 'dir') throw fsError('ENOTDIR', `'${at.path}' is not a directory`);
    if (at.inode.entries!.size > 0) throw fsError('ENOTEMPTY', `'${at.path}' is not empty`);
    await this.remove(ctx, 'rmdir', at);
  }

  /**
   * unlink and rmdir. Events as Linux raises them: DELETE on the directory,
   * naming the child; on the object alone, the ATTRIB of its link count (not
   * for a directory) and, when its last link goes, DELETE_SELF. An object a
   * descriptor still has open stays as an orphan, and its DELETE_SELF comes
   * with the final close.
   * @internal
   */
  protected async remove(ctx: Context, op: 'unlink' | 'rmdir', at: Resolved & { inode: Inode }): Promise<void> {
    const inode = at.inode;
    const lastLink = inode.type === 'dir' || inode.nlink === 1;
    const orphan = lastLink && this.isOpen(fidOf(inode));
    // Deletions report the object as it was before.
    const before = { ...inode };
    const record = this.opRecord(ctx, op, { parentFid: fidOf(at.parent), name: at.name, fid: fidOf(inode), ...(orphan ? { orphan } : {}) });
    await this.host.commit(record, () => {
      const after = this.state.byFid(fidOf(inode)) ?? before;
      const selfMask = (inode.type === 'dir' ? 0n : FAN_ATTRIB) | (lastLink && !orphan ? FAN_DELETE_SELF : 0n);
      return [this.event(ctx, op, FAN_DELETE, before, this.where(at)), ...(selfMask === 0n ? [] : [this.selfEvent(ctx, op, selfMask, after, at.path)])];
    });
  }

  async rename(from: string, to: string, context?: ProcessContext): Promise<void> {
    await this.renameWith(this.begin(context), from, to);
  }

  /** @internal rename, in a context already made (a mirror's, fs-mirror.ts). */
  protected async renameWith(ctx: Context, from: unknown, to: unknown): Promise<void> {
    const source = this.existing(from, false);
    if (source.name === '') throw fsError('EBUSY', 'cannot rename the root directory');
    const targetComponents = parsePath(to, 'to');
    if (targetComponents.length === 0) throw fsError('EBUSY', 'cannot replace the root directory');
    const target = resolve(this.state, targetComponents, false);
    const moving = source.inode;
    if (moving.type === 'dir' && (target.path === source.path || target.path.startsWith(`${source.path}/`))) {
      if (target.path !== source.path) throw fsError('EINVAL', `cannot move '${source.path}' into itself`);
    }
    const replaced = target.inode;
    if (replaced !== undefined) {
      if (replaced.ino === moving.ino) return; // POSIX: renaming a name onto a link of the same file does nothing
      if (moving.type === 'dir' && replaced.type !== 'dir') throw fsError('ENOTDIR', `'${target.path}' is not a directory`);
      if (moving.type !== 'dir' && replaced.type === 'dir') throw fsError('EISDIR', `'${target.path}' is a directory`);
      if (replaced.type === 'dir' && replaced.entries!.size > 0) throw fsError('ENOTEMPTY', `'${target.path}' is not empty`);
    }
    const replacedBefore = replaced === undefined ? undefined : { ...replaced };
    const replacedLastLink = replaced !== undefined && (replaced.type === 'dir' || replaced.nlink === 1);
    const replacedOrphan = replacedLastLink && this.isOpen(fidOf(replaced!));
    const op = this.opRecord(ctx, 'rename', {
      oldParentFid: fidOf(source.parent),
      oldName: source.name,
      parentFid: fidOf(target.parent),
      name: target.name,
      fid: fidOf(moving),
      ...(replacedOrphan ? { orphan: true } : {}),
    });
    await this.host.commit(op, () => {
      const newWhere = this.where(target);
      const old = { oldParentFid: fidOf(source.parent), oldName: source.name, oldPath: source.path };
      const events = [
        this.event(ctx, 'rename', FAN_MOVED_FROM, moving, this.where(source)),
        this.event(ctx, 'rename', FAN_MOVED_TO, moving, newWhere, old),
        this.event(ctx, 'rename', FAN_RENAME, moving, newWhere, old),
        this.selfEvent(ctx, 'rename', FAN_MOVE_SELF, moving, newWhere.path, { oldPath: source.path }),
      ];
      if (replacedBefore !== undefined) {
        // The replaced object loses a link (ATTRIB, even a directory's, as Linux raises it), and its last one (DELETE_SELF) unless still open.
        const after = this.state.byFid(fidOf(replacedBefore)) ?? replacedBefore;
        events.push(this.selfEvent(ctx, 'rename', FAN_ATTRIB | (replacedLastLink && !replacedOrphan ? FAN_DELETE_SELF : 0n), after, newWhere.path));
      }
      return events;
    });
  }

  // ---- attributes ---------------------------------------------------------

  /** @internal */
  protected async setAttrs(ctx: Context, op: 'chmod' | 'chown' | 'utimes', path: unknown, attrs: Attrs): Promise<void> {
    const at = this.existing(path, true);
    const record = this.opRecord(ctx, op, { fid: fidOf(at.inode), attrs });
    await this.host.commit(record, () => [this.event(ctx, op, FAN_ATTRIB, at.inode, this.where(at))]);
  }

  async chmod(path: string, mode: number, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    await this.setAttrs(ctx, 'chmod', path, { mode: checkMode('mode', mode) });
  }

  async chown(path: string, uid: number, gid: number, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    await this.setAttrs(ctx, 'chown', path, { uid: checkId('uid', uid), gid: checkId('gid', gid) });
  }

  async utimes(path: string, atime: bigint, mtime: bigint, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    await this.setAttrs(ctx, 'utimes', path, { atime: checkTime('atime', atime), mtime: checkTime('mtime', mtime) });
  }

  async setxattr(path: string, name: string, value: Uint8Array, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    checkXattrName(name);
    if (!(value instanceof Uint8Array)) throw fsError('EINVAL', 'xattr value must be a Uint8Array');
    if (value.length > XATTR_VALUE_BYTES_MAX) throw fsError('E2BIG', `xattr value is larger than ${XATTR_VALUE_BYTES_MAX} bytes`);
    const at = this.existing(path, true);
    const op = this.opRecord(ctx, 'setxattr', { fid: fidOf(at.inode), xattr: name, value: new Uint8Array(value) });
    await this.host.commit(op, () => [this.event(ctx, 'setxattr', FAN_ATTRIB | FAN_XATTR, at.inode, this.where(at), { xattr: name })]);
  }

  async removexattr(path: string, name: string, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    checkXattrName(name);
    const at = this.existing(path, true);
    if (!at.inode.xattrs.has(name)) throw fsError('ENODATA', `'${at.path}' has no xattr '${name}'`);
    const op = this.opRecord(ctx, 'removexattr', { fid: fidOf(at.inode), xattr: name });
    await this.host.commit(op, () => [this.event(ctx, 'removexattr', FAN_ATTRIB | FAN_XATTR, at.inode, this.where(at), { xattr: name })]);
  }

  async truncate(path: string, size: number, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    checkBytes('size', size);
    const at = this.existing(path, true);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    const range: Range = { offset: Math.min(at.inode.size, size), count: Math.abs(at.inode.size - size) };
    const intent = this.intent(ctx, { op: 'truncate', size }, at.inode, this.where(at), [{ mask: FAN_PRE_MODIFY, range }]);
    await this.guarded(intent);
  }

  // ---- HSM ----------------------------------------------------------------

  async hsmFill(path: string, offset: number, length: number, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const at = this.regularFile(path);
    const end = Math.min(at.inode.size, offset + length);
    const range: Range = { offset, count: Math.max(0, end - offset) };
    const op = this.opRecord(ctx, 'hsmFill', { fid: fidOf(at.inode), range });
    await this.host.commit(op, () => [this.event(ctx, 'hsmFill', FAN_HSM, at.inode, this.where(at), { range })]);
  }

  async hsmRelease(path: string, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    const at = this.regularFile(path);
    const range: Range = { offset: 0, count: at.inode.size };
    const op = this.opRecord(ctx, 'hsmRelease', { fid: fidOf(at.inode), range });
    await this.host.commit(op, () => [this.event(ctx, 'hsmRelease', FAN_HSM, at.inode, this.where(at), { range })]);
  }

  /**
   * Closes a descriptor: CLOSE_WRITE or CLOSE_NOWRITE. The final close of an
   * orphan (an object that lost its last name while open) also releases it:
   * a `release` op, and DELETE_SELF on the object alone.
   */
  async close(fd: number, context?: ProcessContext): Promise<void> {
    const ctx = this.begin(context);
    const number = checkInteger('fd', fd, 0, Number.MAX_SAFE_INTEGER);
    const open = this.files.get(number);
    if (open === undefined) throw fsError('EBADF', `fd ${number} is not open`);
    this.files.delete(number);
    const inode = this.state.byFid(open.fid);
    if (inode === undefined) return;
    const closeEvent = (): EngineRecord => this.event(ctx, 'close', open.writable ? FAN_CLOSE_WRITE : FAN_CLOSE_NOWRITE, inode, open);
    if (inode.nlink > 0 || this.isOpen(open.fid)) {
      await this.host.commit(null, () => [closeEvent()]);
      return;
    }
    const release = this.opRecord(ctx, 'release', { fid: open.fid });
    await this.host.commit(release, () => [closeEvent(), this.selfEvent(ctx, 'release', FAN_DELETE_SELF, inode, open.path)]);
  }

  /**
   * Releases every orphan (see fs-state.ts) with a `release` op and its
   * DELETE_SELF: an engine that opens after a crash does, as Linux does at
   * mount, because the descriptors that kept them died with their processes.
   * @internal
   */
  async releaseOrphans(): Promise<number> {
    const orphans = this.state.orphans();
    for (const inode of orphans) {
      const ctx = this.begin(undefined);
      const release = this.opRecord(ctx, 'release', { fid: fidOf(inode) });
      // Its last path is not known any more: it reaches marks on it and filesystem marks.
      await this.host.commit(release, () => [this.selfEvent(ctx, 'release', FAN_DELETE_SELF, inode, undefined)]);
    }
    return orphans.length;
  }

  /** @internal Open descriptors (they do not survive a reopen: processes die with the engine). */
  get openFiles(): number {
    return this.files.size;
  }
}
