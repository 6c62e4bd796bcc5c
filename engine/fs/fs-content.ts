/**
 * FsContent: the calls on file content and the descriptors they use: open,
 * read, write, page faults, truncate and close, and the HSM's fill and
 * release of offline ranges. The guarded ones (all but close and the HSM's)
 * check their arguments here and describe themselves as an intent with the
 * permission events they raise, in order; fs-guarded.ts asks and performs.
 */

import {
  FAN_ACCESS_PERM,
  FAN_CLOSE_NOWRITE,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE_SELF,
  FAN_HSM,
  FAN_OPEN,
  FAN_OPEN_EXEC,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
  FAN_PRE_ACCESS,
  FAN_PRE_MODIFY,
} from '../notify/masks.js';
import { fidOf } from '../model/inode.js';
import { fsError, parsePath, resolve } from '../model/paths.js';
import type { EngineRecord, Fid, IntentStep, Range } from '../record/record.js';
import { checkBoolean, checkInteger, checkOneOf, checkOptions } from '../../validate.js';
import { type FsContext, type OpenFlags, PAGE_BYTES, type ProcessContext } from './fs-context.js';
import { type FsGuarded, intentFor } from './fs-guarded.js';
import { event, opRecord, selfEvent, whereOf } from './fs-records.js';
import { checkByteRange, checkBytes, checkMode } from './limits.js';

/** What `open` takes besides the path and flags. */
export interface OpenOptions {
  exec?: boolean;
  create?: boolean;
  truncate?: boolean;
  mode?: number;
}

export class FsContent {
  readonly #context: FsContext;
  readonly #guarded: FsGuarded;

  constructor(context: FsContext, guarded: FsGuarded) {
    this.#context = context;
    this.#guarded = guarded;
  }

  async open(path: string, flags: OpenFlags, options?: OpenOptions, context?: ProcessContext): Promise<number> {
    const fs = this.#context;
    const caller = fs.begin(context);
    checkOneOf('flags', flags, ['r', 'w', 'rw'] as const);
    const opts = checkOptions<Required<OpenOptions>>('options', options, ['exec', 'create', 'truncate', 'mode']);
    const exec = checkBoolean('exec', opts.exec ?? false);
    const create = checkBoolean('create', opts.create ?? false);
    const truncate = checkBoolean('truncate', opts.truncate ?? false);
    const mode = checkMode('mode', opts.mode ?? 0o644);
    const writable = flags !== 'r';
    const at = resolve(fs.state, parsePath(path), true);
    const where = whereOf(at);
    const existing = at.inode;
    if (existing === undefined && !create) throw fsError('ENOENT', `no such file or directory: '${at.path}'`);
    if (existing?.type === 'dir' && (writable || exec)) throw fsError('EISDIR', `'${at.path}' is a directory`);
    let fid: Fid;
    if (existing === undefined) {
      // A new file: nobody can have marked it yet, so no permission event guards its creation.
      fid = fs.state.allocateFid();
      const op = opRecord(caller, 'create', { parentFid: fidOf(at.parent), name: at.name, fid, attrs: { mode, uid: caller.uid, gid: caller.gid, size: 0 } });
      await fs.host.commit(op, () => {
        const inode = fs.state.byFid(fid)!;
        return [event(caller, 'open', FAN_CREATE, inode, where), event(caller, 'open', exec ? FAN_OPEN | FAN_OPEN_EXEC : FAN_OPEN, inode, where)];
      });
    } else {
      fid = fidOf(existing);
      const steps: IntentStep[] = [{ mask: exec ? FAN_OPEN_EXEC_PERM : FAN_OPEN_PERM }];
      steps.push({ mask: writable ? FAN_PRE_MODIFY : FAN_PRE_ACCESS, range: { offset: 0, count: 0 } });
      await this.#guarded.open(intentFor(caller, { op: 'open', flags, exec, truncate }, existing, where, steps));
    }
    return fs.addFile({ fid, path: where.path, parentFid: where.parentFid, name: where.name, readable: flags !== 'w', writable });
  }

  async read(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    const caller = this.#context.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const open = this.#context.file(fd);
    if (!open.readable) throw fsError('EBADF', `fd ${fd} is not open for reading`);
    if (open.inode.type === 'dir') throw fsError('EISDIR', `'${open.path}' is a directory`);
    const count = Math.max(0, Math.min(length, open.inode.size - offset));
    const steps: IntentStep[] = [{ mask: FAN_ACCESS_PERM }];
    if (count > 0) steps.push({ mask: FAN_PRE_ACCESS, range: { offset, count } });
    // Awaited, not returned: the call settles in the same microtask turn as it always has.
    return await this.#guarded.read(intentFor(caller, { op: 'read', offset, length }, open.inode, open, steps));
  }

  async write(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    const caller = this.#context.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const open = this.#context.file(fd);
    if (!open.writable) throw fsError('EBADF', `fd ${fd} is not open for writing`);
    if (length === 0) return 0;
    const steps = [{ mask: FAN_PRE_MODIFY, range: { offset, count: length } }];
    return await this.#guarded.write(intentFor(caller, { op: 'write', offset, length }, open.inode, open, steps));
  }

  async fault(fd: number, offset: number, options?: { write?: boolean }, context?: ProcessContext): Promise<Range> {
    const caller = this.#context.begin(context);
    checkBytes('offset', offset);
    const { write = false } = checkOptions<{ write: boolean }>('options', options, ['write']);
    checkBoolean('write', write);
    const open = this.#context.file(fd);
    if (write && !open.writable) throw fsError('EBADF', `fd ${fd} is not open for writing`);
    if (offset >= open.inode.size) throw fsError('EINVAL', `offset ${offset} is beyond the end of '${open.path}'`);
    const page: Range = { offset: offset - (offset % PAGE_BYTES), count: PAGE_BYTES };
    const steps = [{ mask: write ? FAN_PRE_MODIFY : FAN_PRE_ACCESS, range: page }];
    return await this.#guarded.fault(intentFor(caller, { op: 'fault', offset, write }, open.inode, open, steps));
  }

  async truncate(path: string, size: number, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    checkBytes('size', size);
    const at = this.#context.existing(path, true);
    if (at.inode.type === 'dir') throw fsError('EISDIR', `'${at.path}' is a directory`);
    const range: Range = { offset: Math.min(at.inode.size, size), count: Math.abs(at.inode.size - size) };
    await this.#guarded.truncate(intentFor(caller, { op: 'truncate', size }, at.inode, whereOf(at), [{ mask: FAN_PRE_MODIFY, range }]));
  }

  /**
   * CLOSE_WRITE or CLOSE_NOWRITE. The final close of an orphan (an object
   * that lost its last name while open) also releases it: a `release` op,
   * and DELETE_SELF on the object alone.
   */
  async close(fd: number, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    const number = checkInteger('fd', fd, 0, Number.MAX_SAFE_INTEGER);
    const open = fs.files.get(number);
    if (open === undefined) throw fsError('EBADF', `fd ${number} is not open`);
    fs.files.delete(number);
    const inode = fs.state.byFid(open.fid);
    if (inode === undefined) return;
    const closeEvent = (): EngineRecord => event(caller, 'close', open.writable ? FAN_CLOSE_WRITE : FAN_CLOSE_NOWRITE, inode, open);
    if (inode.nlink > 0 || fs.isOpen(open.fid)) {
      await fs.host.commit(null, () => [closeEvent()]);
      return;
    }
    const release = opRecord(caller, 'release', { fid: open.fid });
    await fs.host.commit(release, () => [closeEvent(), selfEvent(caller, 'release', FAN_DELETE_SELF, inode, open.path)]);
  }

  async hsmFill(path: string, offset: number, length: number, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const at = this.#context.regularFile(path);
    const end = Math.min(at.inode.size, offset + length);
    const range: Range = { offset, count: Math.max(0, end - offset) };
    const op = opRecord(caller, 'hsmFill', { fid: fidOf(at.inode), range });
    await this.#context.host.commit(op, () => [event(caller, 'hsmFill', FAN_HSM, at.inode, whereOf(at), { range })]);
  }

  async hsmRelease(path: string, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    const at = this.#context.regularFile(path);
    const range: Range = { offset: 0, count: at.inode.size };
    const op = opRecord(caller, 'hsmRelease', { fid: fidOf(at.inode), range });
    await this.#context.host.commit(op, () => [event(caller, 'hsmRelease', FAN_HSM, at.inode, whereOf(at), { range })]);
  }
}
