/**
 * `MemoryIo`: a simulated disk that knows which bytes and which directory
 * entries are durable, for crash tests.
 *
 * Model
 * - A file (inode) has its current bytes and its durable bytes, plus the
 *   ordered list of writes and truncates since its last `datasync`.
 *   `datasync` applies that list to the durable bytes.
 * - The namespace (path -> inode) has a current and a durable version plus
 *   one ordered log of unsynced directory operations (create, unlink,
 *   rename). `syncDir(dir)` makes that directory's pending operations
 *   durable. Like a journaling file system, a crash keeps a prefix of the
 *   directory log, never a random subset.
 * - Directories themselves are created durably by `mkdirp` (a simplification:
 *   fanlog creates its directory once, before any data goes in), and
 *   `lock` leaves a durable empty file named LOCK, as NodeIo does.
 * - It keeps the Io contract as NodeIo does (test/journal/io-conformance):
 *   readdir lists files and directories; a missing directory is ENOENT.
 *   One thing only NodeIo does: rename across directories (EXDEV here;
 *   fanlog renames within a directory only).
 *
 * `crash(seed, mode)` turns the disk into what a power cut could leave, per
 * file, according to `mode`:
 *   'drop'         every unsynced write and truncate is lost;
 *   'prefix'       a random prefix of them survives;
 *   'torn-garbage' a random prefix survives, then the next write is torn:
 *                  a random part of it lands, the rest of its range is garbage;
 *   'torn-zeros'   the same, with zeros instead of garbage (a file extended
 *                  before its data blocks were written);
 *   'scatter'      what a disk does with pages written in place: the bytes a
 *                  write puts over bytes already durable land a unit (512 B
 *                  or 4 KiB, by file offset) at a time, each unit or not, in
 *                  no order, whatever happened to the writes around it; the
 *                  rest (a truncate, the bytes a write adds past the durable
 *                  end) keeps a random prefix, as 'prefix' does;
 *   'any'          one of the above, chosen per file.
 * Unsynced directory operations are all undone in 'drop' mode, otherwise a
 * random prefix of them survives. After `crash`, open handles are dead, locks
 * are free (their holder died), and the same instance is handed to the next
 * `open` for recovery.
 *
 * Faults: `cutPowerAfter(steps)` makes the (steps+1)-th mutating call and
 * everything after it fail with EIO without effect, so a workload stops at an
 * exact I/O step; `injectFault({ op, nth, code })` fails the nth write or
 * sync from now on with EIO or ENOSPC, once, without effect.
 */
import path from 'node:path';
import type { Io, IoFile, IoLock, IoOpenMode } from './io.js';
import { type CrashMode, CRASH_MODES, Inode } from './memory-inode.js';
import { Prng } from './prng.js';

export { type CrashMode, CRASH_MODES } from './memory-inode.js';

export interface FaultPlan {
  op: 'write' | 'sync';
  /** 1 fails the next such operation. */
  nth: number;
  code: 'EIO' | 'ENOSPC';
}

function ioError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** A growable byte array. */
type DirOp =
  | { kind: 'create'; dir: string; name: string; inode: Inode }
  | { kind: 'unlink'; dir: string; name: string }
  | { kind: 'rename'; dir: string; from: string; to: string };

/** Applies a directory operation; operations are always applied in log order, so a renamed name exists. */
function applyDirOp(names: Map<string, Inode>, op: DirOp): void {
  if (op.kind === 'create') names.set(op.name, op.inode);
  else if (op.kind === 'unlink') names.delete(op.name);
  else {
    const inode = names.get(op.from);
    if (inode === undefined) throw new Error(`MemoryIo bug: rename of unknown ${op.from}`);
    names.delete(op.from);
    names.set(op.to, inode);
  }
}

class MemoryFile implements IoFile {
  readonly #io: MemoryIo;
  readonly #inode: Inode;
  readonly #writable: boolean;
  readonly #generation: number;

  constructor(
    io: MemoryIo,
    readonly path: string,
    inode: Inode,
    writable: boolean,
    generation: number,
  ) {
    this.#io = io;
    this.#inode = inode;
    this.#writable = writable;
    this.#generation = generation;
  }

  #live(): void {
    this.#io.checkHandle(this.#generation, this.path);
  }

  async size(): Promise<number> {
    this.#live();
    return this.#inode.current.length;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    this.#live();
    const bytes = this.#inode.current.view();
    if (position >= bytes.length) return 0;
    const count = Math.min(buffer.length, bytes.length - position);
    buffer.set(bytes.subarray(position, position + count));
    return count;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#live();
    if (!this.#writable) throw ioError('EBADF', `${this.path} is open read-only`);
    this.#io.step('write', this.path);
    // A copy: the caller may reuse its buffer (and Buffer#slice would not copy).
    this.#inode.apply({ kind: 'write', position, data: new Uint8Array(data) });
  }

  async truncate(length: number): Promise<void> {
    this.#live();
    if (!this.#writable) throw ioError('EBADF', `${this.path} is open read-only`);
    this.#io.step('write', this.path);
    this.#inode.apply({ kind: 'truncate', length });
  }

  async datasync(): Promise<void> {
    this.#live();
    this.#io.step('sync', this.path);
    this.#inode.sync();
  }

  async close(): Promise<void> {}
}

export class MemoryIo implements Io {
  #names = new Map<string, Inode>();
  #durableNames = new Map<string, Inode>();
  #dirLog: DirOp[] = [];
  readonly #dirs = new Set<string>(['/']);
  readonly #locks = new Set<string>();
  #generation = 0;
  #stepsLeft = Infinity;
  #poweredOff = false;
  #faults: { plan: FaultPlan; remaining: number }[] = [];

  /** Mutating calls made so far (writes, truncates, syncs, creates, unlinks, renames). */
  steps = 0;
  /** Power cuts and injected faults that fired since construction. */
  faultsFired = 0;

  cutPowerAfter(steps: number): void {
    this.#stepsLeft = steps;
  }

  injectFault(plan: FaultPlan): void {
    this.#faults.push({ plan, remaining: plan.nth });
  }

  get isPoweredOff(): boolean {
    return this.#poweredOff;
  }

  /** Called before every mutating operation: counts it, or fails it. */
  step(kind: 'write' | 'sync', file: string): void {
    if (this.#poweredOff) throw ioError('EIO', `power is off (${file})`);
    if (this.#stepsLeft <= 0) {
      this.#poweredOff = true;
      this.faultsFired++;
      throw ioError('EIO', `power cut at step ${this.steps} (${file})`);
    }
    for (const fault of this.#faults) {
      if (fault.plan.op === kind && fault.remaining > 0 && --fault.remaining === 0) {
        this.faultsFired++;
        throw ioError(fault.plan.code, `injected ${fault.plan.code} on ${kind} (${file})`);
      }
    }
    this.#stepsLeft--;
    this.steps++;
  }

  checkHandle(generation: number, file: string): void {
    if (this.#poweredOff) throw ioError('EIO', `power is off (${file})`);
    if (generation !== this.#generation) throw ioError('EBADF', `${file}: handle died in a crash`);
  }

  #resolve(filePath: string): string {
    return path.resolve('/', filePath);
  }

  async mkdirp(dir: string): Promise<void> {
    if (this.#poweredOff) throw ioError('EIO', 'power is off');
    for (let current = this.#resolve(dir); !this.#dirs.has(current); current = path.dirname(current)) {
      this.#dirs.add(current);
    }
  }

  async readdir(dir: string): Promise<string[]> {
    if (this.#poweredOff) throw ioError('EIO', 'power is off');
    const resolved = this.#resolve(dir);
    if (!this.#dirs.has(resolved)) throw ioError('ENOENT', `no such directory ${dir}`);
    const files = [...this.#names.keys()].filter((name) => path.dirname(name) === resolved);
    const subdirs = [...this.#dirs].filter((name) => name !== resolved && path.dirname(name) === resolved);
    return [...files, ...subdirs].map((name) => path.basename(name));
  }

  async open(filePath: string, mode: IoOpenMode): Promise<IoFile> {
    if (this.#poweredOff) throw ioError('EIO', 'power is off');
    const resolved = this.#resolve(filePath);
    let inode = this.#names.get(resolved);
    if (mode === 'create') {
      if (inode !== undefined) throw ioError('EEXIST', `${filePath} exists`);
      if (!this.#dirs.has(path.dirname(resolved))) throw ioError('ENOENT', `no such directory for ${filePath}`);
      this.step('write', filePath);
      inode = new Inode();
      this.#names.set(resolved, inode);
      this.#dirLog.push({ kind: 'create', dir: path.dirname(resolved), name: resolved, inode });
    }
    if (inode === undefined) throw ioError('ENOENT', `no such file ${filePath}`);
    return new MemoryFile(this, filePath, inode, mode !== 'read', this.#generation);
  }

  async unlink(filePath: string): Promise<void> {
    const resolved = this.#resolve(filePath);
    if (!this.#names.has(resolved)) throw ioError('ENOENT', `no such file ${filePath}`);
    this.step('write', filePath);
    this.#names.delete(resolved);
    this.#dirLog.push({ kind: 'unlink', dir: path.dirname(resolved), name: resolved });
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.#resolve(from);
    const target = this.#resolve(to);
    const inode = this.#names.get(source);
    if (inode === undefined) throw ioError('ENOENT', `no such file ${from}`);
    if (path.dirname(source) !== path.dirname(target)) throw ioError('EXDEV', 'rename across directories');
    this.step('write', from);
    this.#names.delete(source);
    this.#names.set(target, inode);
    this.#dirLog.push({ kind: 'rename', dir: path.dirname(source), from: source, to: target });
  }

  async syncDir(dir: string): Promise<void> {
    const resolved = this.#resolve(dir);
    if (!this.#dirs.has(resolved)) throw ioError('ENOENT', `no such directory ${dir}`);
    this.step('sync', dir);
    const remaining: DirOp[] = [];
    for (const op of this.#dirLog) {
      if (op.dir === resolved) applyDirOp(this.#durableNames, op);
      else remaining.push(op);
    }
    this.#dirLog = remaining;
  }

  async lock(dir: string): Promise<IoLock> {
    if (this.#poweredOff) throw ioError('EIO', 'power is off');
    const resolved = this.#resolve(dir);
    if (!this.#dirs.has(resolved)) throw ioError('ENOENT', `no such directory ${dir}`);
    if (this.#locks.has(resolved)) throw ioError('EBUSY', `${dir} is locked`);
    // As NodeIo, the lock is a file named LOCK in the directory, never
    // unlinked (made durable at once: a simplification, as mkdirp's).
    const lockFile = path.join(resolved, 'LOCK');
    if (!this.#names.has(lockFile)) {
      const inode = new Inode();
      this.#names.set(lockFile, inode);
      this.#durableNames.set(lockFile, inode);
    }
    this.#locks.add(resolved);
    const generation = this.#generation;
    return {
      release: async () => {
        if (generation === this.#generation) this.#locks.delete(resolved);
      },
    };
  }

  /** Simulates a power cut and restart; see the header for what survives. */
  crash(seed: number, mode: CrashMode = 'any'): void {
    const prng = new Prng(seed);
    const keptDirOps = mode === 'drop' ? 0 : prng.int(this.#dirLog.length + 1);
    for (const op of this.#dirLog.slice(0, keptDirOps)) applyDirOp(this.#durableNames, op);
    this.#dirLog = [];
    this.#names = new Map(this.#durableNames);
    const inodes = new Set(this.#names.values());
    for (const inode of inodes) inode.crash(prng, mode === 'any' ? prng.pick(CRASH_MODES) : mode);
    this.#generation++;
    this.#locks.clear();
    this.#poweredOff = false;
    this.#stepsLeft = Infinity;
    this.#faults = [];
  }

  /** Test helper: the current bytes of a file. */
  fileBytes(filePath: string): Uint8Array {
    const inode = this.#names.get(this.#resolve(filePath));
    if (inode === undefined) throw ioError('ENOENT', `no such file ${filePath}`);
    return new Uint8Array(inode.current.view());
  }
}
