/**
 * FsNamespace: the calls that add, remove and move names: mkdir, create,
 * symlink, link, unlink, rmdir, rename, and the release of orphans after a
 * crash. None is guarded by a permission event (Linux raises none for
 * them). Dirent events (create, delete, moves, link, symlink) are records
 * about the directory naming the child; self events (DELETE_SELF,
 * MOVE_SELF, the ATTRIB of a link count) are about the inode alone, with
 * no parent and no name, so no parent's mark receives them.
 *
 * link, remove and rename also take a caller already made (`linkAs`,
 * `removeAs`, `renameAs`): the mirror's operations (fs-mirror.ts) are
 * these, with no process behind them.
 */
import {
  FAN_ATTRIB,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_LINK,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_RENAME,
  FAN_SYMLINK,
} from '../notify/masks.js';
import { fidOf } from '../model/inode.js';
import { fsError, parsePath, PATH_BYTES_MAX, resolve } from '../model/paths.js';
import type { Attrs } from '../record/record.js';
import { checkBoolean, checkOptions } from '../../validate.js';
import type { Caller, Found, FsContext, ProcessContext } from './fs-context.js';
import { event, opRecord, selfEvent, whereOf } from './fs-records.js';
import { checkBytes, checkId, checkMode } from './limits.js';

/** What `create` takes besides the path. */
export interface CreateOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  offline?: boolean;
}

export class FsNamespace {
  readonly #context: FsContext;

  constructor(context: FsContext) {
    this.#context = context;
  }

  async mkdir(path: string, options?: { mode?: number }, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    const { mode = 0o755 } = checkOptions<{ mode: number }>('options', options, ['mode']);
    checkMode('mode', mode);
    const at = fs.absent(path);
    const fid = fs.state.allocateFid();
    const op = opRecord(caller, 'mkdir', { parentFid: fidOf(at.parent), name: at.name, fid, attrs: { mode, uid: caller.uid, gid: caller.gid } });
    await fs.host.commit(op, () => [event(caller, 'mkdir', FAN_CREATE, fs.state.byFid(fid)!, whereOf(at))]);
  }

  async create(path: string, options?: CreateOptions, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    const checked = checkOptions<Required<CreateOptions>>('options', options, ['mode', 'uid', 'gid', 'size', 'offline']);
    const attrs: Attrs = {
      mode: checkMode('mode', checked.mode ?? 0o644),
      uid: checkId('uid', checked.uid ?? caller.uid),
      gid: checkId('gid', checked.gid ?? caller.gid),
      size: checkBytes('size', checked.size ?? 0),
    };
    const offline = checkBoolean('offline', checked.offline ?? false);
    const at = fs.absent(path);
    const fid = fs.state.allocateFid();
    const op = opRecord(caller, 'create', { parentFid: fidOf(at.parent), name: at.name, fid, attrs, offline });
    await fs.host.commit(op, () => [event(caller, 'create', FAN_CREATE, fs.state.byFid(fid)!, whereOf(at))]);
  }

  async symlink(target: string, path: string, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    if (typeof target !== 'string' || target.includes('\0')) throw fsError('EINVAL', 'symlink target must be a string without NUL');
    if (!target.isWellFormed()) throw fsError('EINVAL', 'symlink target is not well-formed Unicode (it has a lone surrogate)');
    // Linux: symlink("", path) is ENOENT.
    if (target.length === 0) throw fsError('ENOENT', 'symlink target is empty');
    if (Buffer.byteLength(target) > PATH_BYTES_MAX) throw fsError('ENAMETOOLONG', 'symlink target is too long');
    const at = fs.absent(path);
    const fid = fs.state.allocateFid();
    const op = opRecord(caller, 'symlink', {
      parentFid: fidOf(at.parent),
      name: at.name,
      fid,
      target,
      attrs: { mode: 0o777, uid: caller.uid, gid: caller.gid },
    });
    await fs.host.commit(op, () => [event(caller, 'symlink', FAN_CREATE | FAN_SYMLINK, fs.state.byFid(fid)!, whereOf(at), { target })]);
  }

  async link(existingPath: string, newPath: string, context?: ProcessContext): Promise<void> {
    await this.linkAs(this.#context.begin(context), existingPath, newPath);
  }

  async linkAs(caller: Caller, existingPath: unknown, newPath: unknown): Promise<void> {
    const fs = this.#context;
    const source = fs.existing(existingPath, false);
    if (source.inode.type === 'dir') throw fsError('EPERM', `cannot hard-link a directory: '${source.path}'`);
    const at = fs.absent(newPath);
    const inode = source.inode;
    const op = opRecord(caller, 'link', { fid: fidOf(inode), parentFid: fidOf(at.parent), name: at.name, oldPath: source.path });
    await fs.host.commit(op, () => [
      event(caller, 'link', FAN_CREATE | FAN_LINK, inode, whereOf(at), { oldPath: source.path }),
      // The link count changed: on the inode alone, as Linux raises it.
      selfEvent(caller, 'link', FAN_ATTRIB, inode, source.path),
    ]);
  }

  async unlink(path: string, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    const at = this.#context.existing(path, false);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    await this.removeAs(caller, 'unlink', at);
  }

  async rmdir(path: string, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    const at = this.#context.existing(path, false);
    if (at.name === '') throw fsError('EBUSY', 'cannot remove the root directory');
    if (at.inode.type !== 'dir') throw fsError('ENOTDIR', `'${at.path}' is not a directory`);
    if (at.inode.entries!.size > 0) throw fsError('ENOTEMPTY', `'${at.path}' is not empty`);
    await this.removeAs(caller, 'rmdir', at);
  }

  /**
   * unlink and rmdir, checked. Events as Linux raises them: DELETE on the
   * directory, naming the child; on the object alone, the ATTRIB of its
   * link count (not for a directory) and, when its last link goes,
   * DELETE_SELF. An object a descriptor still has open stays as an orphan,
   * and its DELETE_SELF comes with the final close.
   */
  async removeAs(caller: Caller, op: 'unlink' | 'rmdir', at: Found): Promise<void> {
    const fs = this.#context;
    const inode = at.inode;
    const lastLink = inode.type === 'dir' || inode.nlink === 1;
    const orphan = lastLink && fs.isOpen(fidOf(inode));
    // Deletions report the object as it was before.
    const before = { ...inode };
    const record = opRecord(caller, op, { parentFid: fidOf(at.parent), name: at.name, fid: fidOf(inode), ...(orphan ? { orphan } : {}) });
    await fs.host.commit(record, () => {
      const after = fs.state.byFid(fidOf(inode)) ?? before;
      const selfMask = (inode.type === 'dir' ? 0n : FAN_ATTRIB) | (lastLink && !orphan ? FAN_DELETE_SELF : 0n);
      return [event(caller, op, FAN_DELETE, before, whereOf(at)), ...(selfMask === 0n ? [] : [selfEvent(caller, op, selfMask, after, at.path)])];
    });
  }

  async rename(from: string, to: string, context?: ProcessContext): Promise<void> {
    await this.renameAs(this.#context.begin(context), from, to);
  }

  async renameAs(caller: Caller, from: unknown, to: unknown): Promise<void> {
    const fs = this.#context;
    const source = fs.existing(from, false);
    if (source.name === '') throw fsError('EBUSY', 'cannot rename the root directory');
    const targetComponents = parsePath(to, 'to');
    if (targetComponents.length === 0) throw fsError('EBUSY', 'cannot replace the root directory');
    const target = resolve(fs.state, targetComponents, false);
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
    const replacedOrphan = replacedLastLink && fs.isOpen(fidOf(replaced));
    const op = opRecord(caller, 'rename', {
      oldParentFid: fidOf(source.parent),
      oldName: source.name,
      parentFid: fidOf(target.parent),
      name: target.name,
      fid: fidOf(moving),
      ...(replacedOrphan ? { orphan: true } : {}),
    });
    await fs.host.commit(op, () => {
      const newWhere = whereOf(target);
      const old = { oldParentFid: fidOf(source.parent), oldName: source.name, oldPath: source.path };
      const events = [
        event(caller, 'rename', FAN_MOVED_FROM, moving, whereOf(source)),
        event(caller, 'rename', FAN_MOVED_TO, moving, newWhere, old),
        event(caller, 'rename', FAN_RENAME, moving, newWhere, old),
        selfEvent(caller, 'rename', FAN_MOVE_SELF, moving, newWhere.path, { oldPath: source.path }),
      ];
      if (replacedBefore !== undefined) {
        // The replaced object loses a link (ATTRIB, even a directory's, as Linux raises it), and its last one (DELETE_SELF) unless still open.
        const after = fs.state.byFid(fidOf(replacedBefore)) ?? replacedBefore;
        events.push(selfEvent(caller, 'rename', FAN_ATTRIB | (replacedLastLink && !replacedOrphan ? FAN_DELETE_SELF : 0n), after, newWhere.path));
      }
      return events;
    });
  }

  /**
   * Releases every orphan (see model/fs-state.ts) with a `release` op and
   * its DELETE_SELF: an engine that opens after a crash does, as Linux does
   * at mount, because the descriptors that kept them died with their
   * processes.
   */
  async releaseOrphans(): Promise<number> {
    const fs = this.#context;
    const orphans = fs.state.orphans();
    for (const inode of orphans) {
      const caller = fs.begin(undefined);
      const release = opRecord(caller, 'release', { fid: fidOf(inode) });
      // Its last path is not known any more: it reaches marks on it and filesystem marks.
      await fs.host.commit(release, () => [selfEvent(caller, 'release', FAN_DELETE_SELF, inode, undefined)]);
    }
    return orphans.length;
  }
}
