/**
 * The simulated filesystem's state, and the one function that changes it.
 *
 * `apply(record)` redoes an `op` record: live operations build the record,
 * then apply it; recovery applies the journal's records after the latest
 * checkpoint. One code path for both is what makes invariant 3 (state is
 * replay) hold by construction. `apply` is deterministic: everything it
 * needs (new fids, times, sizes) is in the record. The live path checks
 * everything that could fail before it builds a record, so a failure inside
 * `apply` is a bug and asserts.
 *
 * Inode numbers come from a counter that only grows; generations from a
 * second one, so a fid is never reused.
 *
 * Orphans, as in Linux: an object whose last name goes while a descriptor
 * still has it open stays, with no name and a link count of 0, until that
 * descriptor's final close journals a `release` of it. The live filesystem
 * decides (it knows the descriptors) and says so in the op record
 * (`orphan: true`), so replay needs no descriptor to do the same. An engine
 * that opens after a crash releases the orphans it finds: their processes
 * are gone, and so are their descriptors.
 */
import assert from 'node:assert/strict';
import { type Inode, newInode, ROOT_INO } from './inode.js';
import type { Fid, OpName, OpSource } from '../record/record.js';

export class FsState {
  readonly inodes = new Map<number, Inode>();
  /** Inodes changed (or deleted) since the last checkpoint. */
  readonly dirty = new Set<number>();
  nextIno = ROOT_INO + 1;
  nextGen = 2;

  constructor(time: bigint = 0n, withRoot = true) {
    if (withRoot) {
      this.inodes.set(ROOT_INO, newInode({ ino: ROOT_INO, gen: 1 }, 'dir', { mode: 0o755, uid: 0, gid: 0, time, parent: ROOT_INO }));
      this.dirty.add(ROOT_INO);
    }
  }

  get(ino: number): Inode | undefined {
    return this.inodes.get(ino);
  }

  /** The inode a fid names, if it still exists with that generation. */
  byFid(fid: Fid): Inode | undefined {
    const inode = this.inodes.get(fid.ino);
    return inode !== undefined && inode.gen === fid.gen ? inode : undefined;
  }

  #must(fid: Fid | undefined, what: string): Inode {
    // Messages are built only on failure: this runs for every op applied and replayed.
    if (fid === undefined) assert.fail(`${what}: record has no fid`);
    const inode = this.byFid(fid);
    if (inode === undefined) assert.fail(`${what}: no inode ${fid.ino}/${fid.gen}`);
    return inode;
  }

  #touch(inode: Inode, time: bigint, { modified = true } = {}): void {
    if (modified) inode.mtime = time;
    inode.ctime = time;
    this.dirty.add(inode.ino);
  }

  /** Allocates the next fid; the caller puts it in the op record. */
  allocateFid(): Fid {
    return { ino: this.nextIno++, gen: this.nextGen++ };
  }

  #adopt(fid: Fid): void {
    // Replay sees allocations in record order; keep the counters ahead of them.
    if (fid.ino >= this.nextIno) this.nextIno = fid.ino + 1;
    if (fid.gen >= this.nextGen) this.nextGen = fid.gen + 1;
  }

  #link(parent: Inode, name: string, child: Inode, time: bigint): void {
    if (parent.entries === null || parent.entries.has(name)) assert.fail(`link: ${name} exists or parent is not a directory`);
    parent.entries.set(name, child.ino);
    if (child.type === 'dir') {
      parent.nlink++;
      child.parent = parent.ino;
    }
    this.#touch(parent, time);
  }

  /** Removes a name; an object left with no link goes, unless `orphan` (still open: it stays, unnamed, until released). */
  #unlinkEntry(parent: Inode, name: string, time: bigint, orphan: boolean): Inode {
    const ino = parent.entries?.get(name);
    if (ino === undefined) assert.fail(`unlink: no entry ${name}`);
    const child = this.inodes.get(ino)!;
    parent.entries!.delete(name);
    if (child.type === 'dir') {
      parent.nlink--;
      child.nlink = 0;
    } else {
      child.nlink--;
    }
    this.#touch(parent, time);
    child.ctime = time;
    this.dirty.add(child.ino);
    if (child.nlink === 0 && !orphan) this.inodes.delete(child.ino);
    return child;
  }

  /** Objects with no name left that a descriptor kept (see the header). */
  orphans(): Inode[] {
    return [...this.inodes.values()].filter((inode) => inode.nlink === 0);
  }

  /** Redoes an op record. See the header for the contract. */
  apply(record: OpSource): void {
    assert.equal(record.kind, 'op');
    const { op, time } = record;
    switch (op) {
      case 'mkdir':
      case 'create':
      case 'symlink':
        return this.#applyCreate(record, op, time);
      case 'write':
      case 'truncate':
      case 'hsmFill':
      case 'hsmRelease':
        return this.#applyContent(record, op, time);
      case 'unlink':
      case 'rmdir': {
        const parent = this.#must(record.parentFid, op);
        this.#unlinkEntry(parent, record.name!, time, record.orphan === true);
        return;
      }
      case 'release': {
        const inode = this.#must(record.fid, 'release');
        assert.equal(inode.nlink, 0, 'release: only an orphan is released');
        this.inodes.delete(inode.ino);
        this.dirty.add(inode.ino);
        return;
      }
      case 'rename':
        return this.#applyRename(record, time);
      case 'link': {
        const inode = this.#must(record.fid, 'link');
        const parent = this.#must(record.parentFid, 'link to');
        this.#link(parent, record.name!, inode, time);
        inode.nlink++;
        this.#touch(inode, time, { modified: false });
        return;
      }
      case 'chmod':
      case 'chown':
      case 'utimes':
        return this.#applyAttrs(record, op, time);
      case 'sync':
        return this.#applySync(record, time);
      case 'setxattr':
      case 'removexattr': {
        const inode = this.#must(record.fid, op);
        if (op === 'setxattr') inode.xattrs.set(record.xattr!, record.value!);
        else inode.xattrs.delete(record.xattr!);
        this.#touch(inode, time, { modified: false });
        return;
      }
      default:
        assert.fail(`op ${op} has no mutation to apply`);
    }
  }

  /** mkdir, create and symlink: a new inode linked into its parent. */
  #applyCreate(record: OpSource, op: OpName, time: bigint): void {
    const parent = this.#must(record.parentFid, op);
    const fid = record.fid!;
    this.#adopt(fid);
    const attrs = record.attrs;
    const type = op === 'mkdir' ? 'dir' : op === 'create' ? 'file' : 'symlink';
    const inode = newInode(fid, type, {
      mode: attrs?.mode ?? 0o644,
      uid: attrs?.uid ?? 0,
      gid: attrs?.gid ?? 0,
      time,
      parent: parent.ino,
    });
    // A mirror's create carries the times it found on disk.
    if (attrs?.mtime !== undefined) inode.mtime = attrs.mtime;
    if (attrs?.atime !== undefined) inode.atime = attrs.atime;
    if (type === 'file') {
      inode.size = attrs?.size ?? 0;
      if (record.offline === true) inode.offline.add(0, inode.size);
    } else if (type === 'symlink') {
      inode.target = record.target!;
      inode.size = Buffer.byteLength(inode.target);
    }
    this.inodes.set(inode.ino, inode);
    this.dirty.add(inode.ino);
    this.#link(parent, record.name!, inode, time);
  }

  /** rename: unlinks what the target replaces (an orphan if still open), then moves the entry. */
  #applyRename(record: OpSource, time: bigint): void {
    const from = this.#must(record.oldParentFid, 'rename from');
    const to = this.#must(record.parentFid, 'rename to');
    const oldName = record.oldName!;
    const name = record.name!;
    const ino = from.entries?.get(oldName);
    assert.ok(ino !== undefined, 'rename: no source');
    const moving = this.inodes.get(ino)!;
    if (from === to && oldName === name) return;
    if (to.entries!.has(name)) this.#unlinkEntry(to, name, time, record.orphan === true);
    from.entries!.delete(oldName);
    if (moving.type === 'dir') from.nlink--;
    this.#touch(from, time);
    this.#link(to, name, moving, time);
    moving.ctime = time;
    this.dirty.add(moving.ino);
  }

  /** chmod, chown and utimes: the attributes the record carries. */
  #applyAttrs(record: OpSource, op: OpName, time: bigint): void {
    const inode = this.#must(record.fid, op);
    const attrs = record.attrs!;
    if (attrs.mode !== undefined) inode.mode = attrs.mode;
    if (attrs.uid !== undefined) inode.uid = attrs.uid;
    if (attrs.gid !== undefined) inode.gid = attrs.gid;
    if (attrs.atime !== undefined) inode.atime = attrs.atime;
    if (attrs.mtime !== undefined) inode.mtime = attrs.mtime;
    this.#touch(inode, time, { modified: false });
  }

  /** A mirror's sync: the attributes and size found on disk, at once. */
  #applySync(record: OpSource, time: bigint): void {
    const inode = this.#must(record.fid, 'sync');
    const attrs = record.attrs!;
    const size = attrs.size;
    if (size !== undefined && size !== inode.size) {
      inode.offline.remove(size, Number.MAX_SAFE_INTEGER);
      inode.size = size;
    }
    this.#applyAttrs(record, 'sync', time);
  }

  /**
   * write, truncate, hsmFill and hsmRelease: a file's size and offline
   * ranges. A range is checked before anything changes: its end must be a
   * size the codec holds, or the events built from this state could not
   * be encoded (the live path refuses one with EFBIG; replay's is damage).
   */
  #applyContent(record: OpSource, op: OpName, time: bigint): void {
    const inode = this.#must(record.fid, op);
    switch (op) {
      case 'write': {
        const { offset, count } = record.range!;
        if (offset + count > Number.MAX_SAFE_INTEGER) assert.fail(`write: range ${offset}+${count} ends past 2^53 - 1`);
        inode.size = Math.max(inode.size, offset + count);
        inode.offline.remove(offset, offset + count);
        this.#touch(inode, time);
        return;
      }
      case 'truncate': {
        const size = record.attrs!.size!;
        inode.offline.remove(size, Number.MAX_SAFE_INTEGER);
        inode.size = size;
        this.#touch(inode, time);
        return;
      }
      case 'hsmFill': {
        const { offset, count } = record.range!;
        if (offset + count > Number.MAX_SAFE_INTEGER) assert.fail(`hsmFill: range ${offset}+${count} ends past 2^53 - 1`);
        inode.offline.remove(offset, offset + count);
        break;
      }
      default:
        inode.offline.add(0, inode.size);
    }
    this.dirty.add(inode.ino);
  }

  /** A canonical description of the whole state, for equality checks in tests and verify. */
  fingerprint(): string {
    const inodes = [...this.inodes.values()].sort((a, b) => a.ino - b.ino);
    return JSON.stringify(
      inodes.map((inode) => ({
        ...inode,
        atime: inode.atime.toString(),
        mtime: inode.mtime.toString(),
        ctime: inode.ctime.toString(),
        xattrs: [...inode.xattrs].map(([name, value]) => [name, Buffer.from(value).toString('hex')]).sort(),
        entries: inode.entries === null ? null : [...inode.entries].sort(),
        offline: inode.offline.toArray(),
      })),
    );
  }
}
