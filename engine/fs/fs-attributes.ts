/**
 * FsAttributes: the calls that change an object's attributes and extended
 * attributes: chmod, chown, utimes, setxattr and removexattr. Each raises
 * FAN_ATTRIB on the object, reached through the name it was found by (and
 * FAN_XATTR for an xattr); none is guarded by a permission event.
 */
import { FAN_ATTRIB, FAN_XATTR } from '../notify/masks.js';
import { fidOf } from '../model/inode.js';
import { fsError } from '../model/paths.js';
import type { Attrs } from '../record/record.js';
import { type Caller, type FsContext, type ProcessContext, XATTR_VALUE_BYTES_MAX } from './fs-context.js';
import { event, opRecord, whereOf } from './fs-records.js';
import { checkId, checkMode, checkTime, checkXattrName } from './limits.js';

export class FsAttributes {
  readonly #context: FsContext;

  constructor(context: FsContext) {
    this.#context = context;
  }

  async chmod(path: string, mode: number, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    await this.#set(caller, 'chmod', path, { mode: checkMode('mode', mode) });
  }

  async chown(path: string, uid: number, gid: number, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    await this.#set(caller, 'chown', path, { uid: checkId('uid', uid), gid: checkId('gid', gid) });
  }

  async utimes(path: string, atime: bigint, mtime: bigint, context?: ProcessContext): Promise<void> {
    const caller = this.#context.begin(context);
    await this.#set(caller, 'utimes', path, { atime: checkTime('atime', atime), mtime: checkTime('mtime', mtime) });
  }

  async setxattr(path: string, name: string, value: Uint8Array, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    checkXattrName(name);
    if (!(value instanceof Uint8Array)) throw fsError('EINVAL', 'xattr value must be a Uint8Array');
    if (value.length > XATTR_VALUE_BYTES_MAX) throw fsError('E2BIG', `xattr value is larger than ${XATTR_VALUE_BYTES_MAX} bytes`);
    const at = fs.existing(path, true);
    // The record keeps a copy: the caller may reuse its buffer once the call returns.
    const op = opRecord(caller, 'setxattr', { fid: fidOf(at.inode), xattr: name, value: new Uint8Array(value) });
    await fs.host.commit(op, () => [event(caller, 'setxattr', FAN_ATTRIB | FAN_XATTR, at.inode, whereOf(at), { xattr: name })]);
  }

  async removexattr(path: string, name: string, context?: ProcessContext): Promise<void> {
    const fs = this.#context;
    const caller = fs.begin(context);
    checkXattrName(name);
    const at = fs.existing(path, true);
    if (!at.inode.xattrs.has(name)) throw fsError('ENODATA', `'${at.path}' has no xattr '${name}'`);
    const op = opRecord(caller, 'removexattr', { fid: fidOf(at.inode), xattr: name });
    await fs.host.commit(op, () => [event(caller, 'removexattr', FAN_ATTRIB | FAN_XATTR, at.inode, whereOf(at), { xattr: name })]);
  }

  /** chmod, chown and utimes, their values checked: the attributes set, and FAN_ATTRIB. */
  async #set(caller: Caller, op: 'chmod' | 'chown' | 'utimes', path: unknown, attrs: Attrs): Promise<void> {
    const at = this.#context.existing(path, true);
    const record = opRecord(caller, op, { fid: fidOf(at.inode), attrs });
    await this.#context.host.commit(record, () => [event(caller, op, FAN_ATTRIB, at.inode, whereOf(at))]);
  }
}
