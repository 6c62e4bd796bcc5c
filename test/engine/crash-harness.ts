/**
 * One engine crash case on MemoryIo with the `files` store: a seeded,
 * sequential workload of every mutating filesystem operation (many of which
 * fail with POSIX errors, on purpose), checkpoints and clean reopens; a power
 * cut at a chosen I/O step; a crash; optionally a second power cut during
 * recovery; then the checks:
 *
 * (The workload includes a mirror's operations, engine/fs/fs-mirror.ts,
 * so that their replay is held to the live state as every other's is.)
 *
 * - recovery succeeds (invariant 1: the journal is a clean prefix);
 * - the recovered journal ends exactly where some operation's entry ended,
 *   and the recovered filesystem equals the live filesystem as it was right
 *   after that operation was applied (invariants 2 and 3: operations are
 *   atomic and state is replay, through checkpoints too);
 * - where the journal still starts at seq 1, replaying it from empty gives
 *   the same filesystem (invariant 3, directly);
 * - every operation that resolved is in the recovered journal;
 * - a second reopen changes nothing.
 *
 * The live filesystem is observed, not modelled: right after each call the
 * operation has been applied and appended (both happen synchronously in the
 * call), so the harness records the state's fingerprint under the journal
 * head. It needs no model of POSIX to tell a right recovery from a wrong one.
 */
import { decodeRecord } from '../../interop/index.js';
import { Engine, type EngineOptions } from '../../index.js';
import { MemoryIo, Prng, type CrashMode } from '../../testing.js';
import { FsState } from '../../engine/model/fs-state.js';

export interface EngineCrashCase {
  seed: number;
  ops: number;
  cutAfter: number | null;
  mode: CrashMode;
  checkpointEveryRecords: number;
  cutRecoveryAfter: number | null;
}

export const describeEngineCase = (c: EngineCrashCase): string =>
  `seed=${c.seed} ops=${c.ops} cutAfter=${c.cutAfter} mode=${c.mode} checkpointEveryRecords=${c.checkpointEveryRecords} cutRecoveryAfter=${c.cutRecoveryAfter}`;

const DIR = '/engine';

function options(io: MemoryIo, c: EngineCrashCase, clock: () => bigint): EngineOptions {
  return { io, store: 'files', clock, checkpointEveryRecords: c.checkpointEveryRecords, segmentBytesMax: 8192 };
}

interface Observed {
  /** Journal head -> fingerprint of the live state right after the op that ended there. */
  fingerprints: Map<bigint, string>;
  resolvedHead: bigint;
  /** Operations that succeeded, to show the workload does real work. */
  succeeded: number;
}

const NAMES = ['a', 'b', 'dir'];
/** The choice that checkpoints: it appends nothing an operation did, so the state is not observed after it. */
const CHECKPOINT = 18;

/**
 * The paths a workload names: mostly ones it made (they may be gone: that is
 * fine, failing operations are part of the test), sometimes new names.
 */
class WorkloadPaths {
  readonly dirs = ['/'];
  readonly files: string[] = [];
  readonly #prng: Prng;

  constructor(prng: Prng) {
    this.#prng = prng;
  }

  /** A new name in one of the directories made. */
  fresh(): string {
    const parent = this.#prng.pick(this.dirs);
    return `${parent === '/' ? '' : parent}/${this.#prng.pick(NAMES)}${this.#prng.int(4)}`;
  }

  /** A file or a directory made, or a new name. */
  any(): string {
    const roll = this.#prng.next();
    if (roll < 0.45 && this.files.length > 0) return this.#prng.pick(this.files);
    if (roll < 0.7) return this.#prng.pick(this.dirs);
    return this.fresh();
  }

  newDir(): string {
    const made = this.fresh();
    this.dirs.push(made);
    return made;
  }

  newFile(): string {
    const made = this.fresh();
    this.files.push(made);
    return made;
  }
}

async function workload(io: MemoryIo, c: EngineCrashCase, observed: Observed): Promise<void> {
  const prng = new Prng(c.seed);
  let time = 1_000_000_000n;
  const clock = (): bigint => (time += 1000n);
  const paths = new WorkloadPaths(prng);
  const observe = (e: Engine): void => {
    observed.fingerprints.set(e.journal.headSeq, e.state.fingerprint());
  };
  try {
    let engine = await Engine.open(DIR, options(io, c, clock));
    observe(engine);
    const fds: number[] = [];
    for (let op = 0; op < c.ops; op++) {
      const ctx = { pid: prng.between(1, 4) };
      const choice = prng.int(22);
      const call = startOperation(engine, prng, paths, fds, choice, ctx);
      if (call === null) {
        await engine.close();
        engine = await Engine.open(DIR, options(io, c, clock));
        observe(engine);
        fds.length = 0;
        continue;
      }
      if (choice !== CHECKPOINT) observe(engine);
      const head = engine.journal.headSeq;
      // Awaited here rather than in a helper: an extra await would shift where the workload's steps fall among the engine's.
      try {
        await call;
        observed.succeeded++;
        if (head > observed.resolvedHead) observed.resolvedHead = head;
      } catch (error) {
        if (io.isPoweredOff || !isPosixFailure(error)) throw error;
      }
    }
    await engine.close();
  } catch (error) {
    if (!io.isPoweredOff) throw error;
  }
}

/** A failure the workload expects of a random operation: a POSIX error, not the engine's own (EFAILED, EIO, ECORRUPT) nor a bug. */
function isPosixFailure(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return !(code === undefined || code === 'EFAILED' || code === 'EIO' || code === 'ECORRUPT');
}

/**
 * Starts the operation `choice` names, applied and appended when this
 * returns, with the promise it resolves; null for a clean reopen, which the
 * workload does itself since it replaces the engine.
 */
function startOperation(e: Engine, prng: Prng, paths: WorkloadPaths, fds: number[], choice: number, ctx: { pid: number }): Promise<unknown> | null {
  const fs = e.fs;
  switch (choice) {
    case 0:
    case 1:
      return fs.mkdir(paths.newDir(), {}, ctx);
    case 2:
    case 3:
      return fs.create(paths.newFile(), { size: prng.int(100_000), offline: prng.chance(0.5) }, ctx);
    case 4:
      return fs
        .open(
          prng.chance(0.3) ? paths.newFile() : paths.any(),
          prng.pick(['r', 'w', 'rw'] as const),
          { create: prng.chance(0.5), truncate: prng.chance(0.3) },
          ctx,
        )
        .then((fd) => fds.push(fd));
    case 5:
      return fds.length === 0 ? Promise.resolve() : fs.write(prng.pick(fds), prng.int(200_000), prng.between(1, 10_000), ctx);
    case 6:
      return fds.length === 0 ? Promise.resolve() : fs.close(fds.splice(prng.int(fds.length), 1)[0]!, ctx);
    case 7:
      return fs.truncate(paths.any(), prng.int(50_000), ctx);
    case 8:
      return fs.unlink(paths.any(), ctx);
    case 9:
      return fs.rmdir(paths.any(), ctx);
    case 10:
    case 11:
      return fs.rename(paths.any(), prng.chance(0.5) ? paths.fresh() : paths.any(), ctx);
    case 12:
      return fs.link(paths.any(), paths.newFile(), ctx);
    case 13:
      return fs.symlink(prng.pick(['a0', '/dir1', '../b2']), paths.fresh(), ctx);
    case 14:
      return fs.chmod(paths.any(), prng.int(0o777), ctx);
    case 15:
      return fs.setxattr(paths.any(), prng.pick(['user.a', 'user.b']), prng.bytes(prng.int(20)), ctx);
    case 16:
      return fs.hsmFill(paths.any(), prng.int(50_000), prng.int(50_000), ctx);
    case 17:
      return fs.hsmRelease(paths.any(), ctx);
    case CHECKPOINT:
      return e.checkpoint();
    // A mirror's operations (engine/fs/fs-mirror.ts): a create with the times found on disk, and a sync.
    case 20: {
      const type = prng.pick(['file', 'dir', 'symlink'] as const);
      return mirrorCreate(e, prng, type, type === 'dir' ? paths.newDir() : paths.newFile());
    }
    case 21:
      return e.mirrored.mirrorSync(
        paths.files.length > 0 ? prng.pick(paths.files) : paths.any(),
        { mode: prng.int(0o777), size: prng.int(100_000), mtime: BigInt(prng.int(1e9)) },
        prng.chance(0.3),
      );
    default:
      return null;
  }
}

/**
 * A mirror's create: it checks and applies synchronously (throwing what
 * fails), and is durable later. Async so that what it throws is a rejection,
 * as every other operation's failure is.
 */
async function mirrorCreate(engine: Engine, prng: Prng, type: 'file' | 'dir' | 'symlink', path: string): Promise<void> {
  const attrs = {
    mode: prng.int(0o777),
    uid: prng.int(5),
    gid: prng.int(5),
    size: prng.int(100_000),
    atime: BigInt(prng.int(1e9)),
    mtime: BigInt(prng.int(1e9)),
  };
  await engine.mirrored.mirrorCreate(path, type, attrs, type === 'symlink' ? 'a0' : undefined).durable;
}

export async function runEngineCrashCase(c: EngineCrashCase): Promise<string[]> {
  const violations: string[] = [];
  const fail = (what: string): void => {
    violations.push(`${what} [${describeEngineCase(c)}]`);
  };
  const io = new MemoryIo();
  // Before the first operation the filesystem is the empty one.
  const observed: Observed = { fingerprints: new Map([[0n, new FsState(0n).fingerprint()]]), resolvedHead: 0n, succeeded: 0 };
  if (c.cutAfter !== null) io.cutPowerAfter(c.cutAfter);
  try {
    await workload(io, c, observed);
  } catch (error) {
    fail(`workload failed without a power cut: ${String(error)}`);
    return violations;
  }
  io.crash(c.seed ^ 0x5eed, c.mode);
  let time = 9_000_000_000n;
  const clock = (): bigint => (time += 1000n);

  if (c.cutRecoveryAfter !== null) {
    io.cutPowerAfter(c.cutRecoveryAfter);
    try {
      const interrupted = await Engine.open(DIR, options(io, c, clock));
      await interrupted.close();
    } catch (error) {
      if (!io.isPoweredOff) fail(`recovery failed without a power cut: ${String(error)}`);
    }
    io.crash(c.seed ^ 0xbeef, c.mode);
  }

  let engine: Engine;
  try {
    engine = await Engine.open(DIR, options(io, c, clock));
  } catch (error) {
    fail(`recovery failed: ${String(error)}`);
    return violations;
  }
  await checkRecovered(engine, c, observed, fail);
  // The recovered engine takes operations again, and a clean reopen changes nothing.
  await engine.fs.mkdir('/after-recovery').catch((error: Error & { code?: string }) => {
    if (error.code !== 'EEXIST') fail(`operation after recovery failed: ${String(error)}`);
  });
  const after = engine.state.fingerprint();
  await engine.close();
  const again = await Engine.open(DIR, options(io, c, clock));
  if (again.state.fingerprint() !== after) fail('a clean reopen changed the filesystem');
  if (again.journal.recovery.repairs.length > 0) fail('a clean reopen repaired the journal again');
  await again.close();
  return violations;
}

/** The recovered engine against what the workload observed: where its journal ends, its filesystem, and a replay from empty. */
async function checkRecovered(engine: Engine, c: EngineCrashCase, observed: Observed, fail: (what: string) => void): Promise<void> {
  // The journal as recovered; the open then released what descriptors kept open (orphans), appending after it.
  const recoveredHead = engine.recovery.headSeq;
  // An open that the second power cut interrupted may have released orphans
  // (release entries) durably before the cut: after the workload's last
  // entry, nothing else may stand, and the filesystem is the last one
  // observed, its orphans released.
  const lastObserved = [...observed.fingerprints.keys()].reduce((a, b) => (a > b ? a : b));
  const head =
    recoveredHead > lastObserved && c.cutRecoveryAfter !== null && (await onlyReleasesAfter(engine, lastObserved, recoveredHead))
      ? lastObserved
      : recoveredHead;
  const fingerprint = engine.state.fingerprint();
  const expected = observed.fingerprints.get(head);
  if (expected === undefined) fail(`recovered head ${head} is not where any operation's entry ended`);
  else if (withoutOrphans(expected) !== fingerprint) fail(`recovered filesystem differs from the live one at seq ${head}, its orphans released`);
  if (head < observed.resolvedHead) fail(`an operation resolved at seq ${observed.resolvedHead} but the journal ends at ${head}`);
  if (engine.journal.firstSeq === 1n) {
    const replayed = new FsState(0n);
    for await (const { payload } of engine.journal.read()) {
      const record = decodeRecord(payload);
      if (record.kind === 'op') replayed.apply(record);
    }
    if (replayed.fingerprint() !== fingerprint) fail('replaying the recovered journal from empty gives a different filesystem');
  }
}

/** The mutating I/O steps a case's workload makes when nothing fails, and how many of its operations succeed. */
export async function countEngineSteps(c: EngineCrashCase): Promise<{ steps: number; succeeded: number }> {
  const io = new MemoryIo();
  const observed: Observed = { fingerprints: new Map(), resolvedHead: 0n, succeeded: 0 };
  await workload(io, { ...c, cutAfter: null }, observed);
  return { steps: io.steps, succeeded: observed.succeeded };
}

/** Whether the records after `from` through `to` are all an orphan's release (its op and its DELETE_SELF). */
async function onlyReleasesAfter(engine: Engine, from: bigint, to: bigint): Promise<boolean> {
  for await (const { payload } of engine.journal.read({ from: from + 1n, to })) if (decodeRecord(payload).op !== 'release') return false;
  return true;
}

/** A fingerprint (FsState.fingerprint) without the orphans (no link left, kept by a descriptor): what an open after a crash leaves. */
function withoutOrphans(fingerprint: string): string {
  return JSON.stringify((JSON.parse(fingerprint) as { nlink: number }[]).filter((inode) => inode.nlink > 0));
}
