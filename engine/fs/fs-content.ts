/**
 * FsContent: the operations on file content that permission events guard
 * (open, read, write, page faults) and the descriptors they use, on top of
 * FsBase. A guarded operation is described as an Intent and run by the
 * permission broker (permission/broker.ts), which asks and then calls
 * `perform` against the state as it is then; recovery runs an operation
 * whose caller died through the same broker and the same `perform`.
 */

import { fidOf, type Inode } from '../model/inode.js';
import { FAN_ACCESS, FAN_CREATE, FAN_MODIFY, FAN_ACCESS_PERM, FAN_OPEN, FAN_OPEN_EXEC, FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM, FAN_PRE_ACCESS, FAN_PRE_MODIFY, FAN_TRUNCATE } from '../notify/masks.js';
import { fsError, parsePath, resolve } from '../model/paths.js';
import type { EngineRecord, Fid, Range } from '../record/record.js';
import { checkBoolean, checkOneOf, checkOptions } from '../../validate.js';
import { checkByteRange, checkBytes, checkMode } from './limits.js';
import type { Intent, IntentArgs } from '../permission/intent.js';

import { type Context, FsBase, type OpenFlags, PAGE_BYTES, type ProcessContext } from './fs-base.js';

export abstract class FsContent extends FsBase {
  // ---- file descriptors -----------------------------------------------------

  async open(
    path: string,
    flags: OpenFlags,
    options?: { exec?: boolean; create?: boolean; truncate?: boolean; mode?: number },
    context?: ProcessContext,
  ): Promise<number> {
    const ctx = this.begin(context);
    checkOneOf('flags', flags, ['r', 'w', 'rw'] as const);
    const opts = checkOptions<{ exec: boolean; create: boolean; truncate: boolean; mode: number }>('options', options, [
      'exec',
      'create',
      'truncate',
      'mode',
    ]);
    const exec = checkBoolean('exec', opts.exec ?? false);
    const create = checkBoolean('create', opts.create ?? false);
    const truncate = checkBoolean('truncate', opts.truncate ?? false);
    const mode = checkMode('mode', opts.mode ?? 0o644);
    const writable = flags !== 'r';
    const at = resolve(this.state, parsePath(path), true);
    const where = this.where(at);
    const existing = at.inode;
    if (existing === undefined && !create) throw fsError('ENOENT', `no such file or directory: '${at.path}'`);
    if (existing?.type === 'dir' && (writable || exec)) throw fsError('EISDIR', `'${at.path}' is a directory`);
    let fid: Fid;
    if (existing === undefined) {
      // A new file: nobody can have marked it yet, so no permission event guards its creation.
      fid = this.state.allocateFid();
      const op = this.opRecord(ctx, 'create', { parentFid: fidOf(at.parent), name: at.name, fid, attrs: { mode, uid: ctx.uid, gid: ctx.gid, size: 0 } });
      await this.host.commit(op, () => {
        const inode = this.state.byFid(fid)!;
        return [this.event(ctx, 'open', FAN_CREATE, inode, where), this.event(ctx, 'open', exec ? FAN_OPEN | FAN_OPEN_EXEC : FAN_OPEN, inode, where)];
      });
    } else {
      fid = fidOf(existing);
      const steps: { mask: bigint; range?: Range }[] = [{ mask: exec ? FAN_OPEN_EXEC_PERM : FAN_OPEN_PERM }];
      steps.push({ mask: writable ? FAN_PRE_MODIFY : FAN_PRE_ACCESS, range: { offset: 0, count: 0 } });
      await this.guarded(this.intent(ctx, { op: 'open', flags, exec, truncate }, existing, where, steps));
    }
    const fd = this.nextFd++;
    this.files.set(fd, { fid, path: where.path, parentFid: where.parentFid, name: where.name, readable: flags !== 'w', writable });
    return fd;
  }

  async read(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    const ctx = this.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const open = this.file(fd);
    if (!open.readable) throw fsError('EBADF', `fd ${fd} is not open for reading`);
    if (open.inode.type === 'dir') throw fsError('EISDIR', `'${open.path}' is a directory`);
    const count = Math.max(0, Math.min(length, open.inode.size - offset));
    const steps: { mask: bigint; range?: Range }[] = [{ mask: FAN_ACCESS_PERM }];
    if (count > 0) steps.push({ mask: FAN_PRE_ACCESS, range: { offset, count } });
    return (await this.guarded(this.intent(ctx, { op: 'read', offset, length }, open.inode, open, steps))) as number;
  }

  async write(fd: number, offset: number, length: number, context?: ProcessContext): Promise<number> {
    const ctx = this.begin(context);
    checkByteRange('offset', offset, 'length', length);
    const open = this.file(fd);
    if (!open.writable) throw fsError('EBADF', `fd ${fd} is not open for writing`);
    if (length === 0) return 0;
    const steps = [{ mask: FAN_PRE_MODIFY, range: { offset, count: length } }];
    return (await this.guarded(this.intent(ctx, { op: 'write', offset, length }, open.inode, open, steps))) as number;
  }

  /** A page fault on the 4096-byte page holding `offset`: raises only the pre-content event for the page. */
  async fault(fd: number, offset: number, options?: { write?: boolean }, context?: ProcessContext): Promise<Range> {
    const ctx = this.begin(context);
    checkBytes('offset', offset);
    const { write = false } = checkOptions<{ write: boolean }>('options', options, ['write']);
    checkBoolean('write', write);
    const open = this.file(fd);
    if (write && !open.writable) throw fsError('EBADF', `fd ${fd} is not open for writing`);
    if (offset >= open.inode.size) throw fsError('EINVAL', `offset ${offset} is beyond the end of '${open.path}'`);
    const page: Range = { offset: offset - (offset % PAGE_BYTES), count: PAGE_BYTES };
    const steps = [{ mask: write ? FAN_PRE_MODIFY : FAN_PRE_ACCESS, range: page }];
    return (await this.guarded(this.intent(ctx, { op: 'fault', offset, write }, open.inode, open, steps))) as Range;
  }

  // ---- guarded operations ---------------------------------------------------

  /** @internal Completes `args` (a fresh object of the caller's) into the intent: no copy. */
  protected intent(
    ctx: Context,
    args: IntentArgs,
    inode: Inode,
    where: { parentFid: Fid; name: string; path: string },
    steps: { mask: bigint; range?: Range }[],
  ): Intent {
    // Pre-content events apply to regular files and directories only.
    const contentful = inode.type === 'file' || inode.type === 'dir';
    const applicable = contentful ? steps : steps.filter((step) => (step.mask & (FAN_PRE_ACCESS | FAN_PRE_MODIFY)) === 0n);
    const intent = args as Intent;
    intent.fid = fidOf(inode);
    intent.path = where.path;
    intent.parentFid = where.parentFid;
    intent.name = where.name;
    intent.pid = ctx.pid;
    intent.tid = ctx.tid;
    intent.uid = ctx.uid;
    intent.gid = ctx.gid;
    intent.steps = applicable;
    return intent;
  }

  /**
   * Runs a guarded operation through the broker: it asks, then performs.
   * With nobody to ask it performs at once, so the operation is applied and
   * appended within the call, as every other one.
   * @internal
   */
  protected guarded(intent: Intent): Promise<unknown> {
    return this.host.permissions.run(intent, (allowed, operationSeq) => this.perform(allowed, operationSeq));
  }

  /**
   * Performs a guarded operation whose permissions were granted, against
   * the state as it is now: the live path, and recovery for an operation
   * whose caller died while it waited. `operationSeq` (the seq of its first
   * request, if it asked any) tags the entry: recovery's sign that it ran.
   * @internal
   */
  async perform(intent: Intent, operationSeq: bigint | undefined): Promise<unknown> {
    const ctx: Context = { pid: intent.pid, tid: intent.tid, uid: intent.uid, gid: intent.gid ?? 0, time: this.host.now() };
    // The first record of the operation's entry names the operation.
    const tag = operationSeq === undefined ? {} : { operationSeq };
    const inode = this.state.byFid(intent.fid);
    if (inode === undefined) throw fsError('ENOENT', `'${intent.path}' was deleted while its ${intent.op} waited for permission`);
    const where = { parentFid: intent.parentFid, name: intent.name, path: intent.path };
    switch (intent.op) {
      case 'open': {
        const writable = intent.flags !== 'r';
        const op = intent.truncate && writable && inode.type === 'file'
          ? this.opRecord(ctx, 'truncate', { fid: intent.fid, attrs: { size: 0 }, range: { offset: 0, count: inode.size }, ...tag })
          : null;
        await this.host.commit(op, () => {
          const events: EngineRecord[] = [];
          if (op !== null) events.push(this.event(ctx, 'open', FAN_MODIFY | FAN_TRUNCATE, inode, where, { range: op.range! }));
          events.push(this.event(ctx, 'open', intent.exec ? FAN_OPEN | FAN_OPEN_EXEC : FAN_OPEN, inode, where, op === null ? tag : {}));
          return events;
        });
        return undefined;
      }
      case 'read': {
        const { offset } = intent;
        const count = Math.max(0, Math.min(intent.length, inode.size - offset));
        if (count > 0 && inode.offline.intersects(offset, offset + count)) {
          throw fsError('EIO', `'${intent.path}' bytes ${offset}..${offset + count} are offline`);
        }
        if (count > 0) await this.host.commit(null, () => [this.event(ctx, 'read', FAN_ACCESS, inode, where, { range: { offset, count }, ...tag })]);
        return count;
      }
      case 'write': {
        const range = { offset: intent.offset, count: intent.length };
        const op = this.opRecord(ctx, 'write', { fid: intent.fid, range, ...tag });
        await this.host.commit(op, () => [this.event(ctx, 'write', FAN_MODIFY, inode, where, { range })]);
        return intent.length;
      }
      case 'truncate': {
        const { size } = intent;
        const range: Range = { offset: Math.min(inode.size, size), count: Math.abs(inode.size - size) };
        const op = this.opRecord(ctx, 'truncate', { fid: intent.fid, attrs: { size }, range, ...tag });
        await this.host.commit(op, () => [this.event(ctx, 'truncate', FAN_MODIFY | FAN_TRUNCATE, inode, where, { range })]);
        return undefined;
      }
      case 'fault': {
        const { offset } = intent;
        const page: Range = { offset: offset - (offset % PAGE_BYTES), count: PAGE_BYTES };
        const end = Math.min(inode.size, page.offset + PAGE_BYTES);
        if (inode.offline.intersects(page.offset, end)) throw fsError('EIO', `'${intent.path}' page at ${page.offset} is offline`);
        return page;
      }
    }
  }

}
