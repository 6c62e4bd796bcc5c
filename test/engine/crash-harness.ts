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

async function workload(io: MemoryIo, c: EngineCrashCase, observed: Observed): Promise<void> {
  const prng = new Prng(c.seed);
  let time = 1_000_000_000n;
  const clock = (): bigint => (time += 1000n);
  // Paths are mostly ones the workload made (they may be gone: that is fine,
  // failing operations are part of the test), sometimes new names.
  const dirs = ['/'];
  const files: string[] = [];
  const fresh = (): string => {
    const parent = prng.pick(dirs);
    return `${parent === '/' ? '' : parent}/${prng.pick(NAMES)}${prng.int(4)}`;
  };
  const path = (): string => {
    const roll = prng.next();
    if (roll < 0.45 && files.length > 0) return prng.pick(files);
    if (roll < 0.7) return prng.pick(dirs);
    return fresh();
  };
  const newDir = (): string => {
    const made = fresh();
    dirs.push(made);
    return made;
  };
  const newFile = (): string => {
    const made = fresh();
    files.push(made);
    return made;
  };
  let engine: Engine | null = null;
  const observe = (e: Engine): void => {
    observed.fingerprints.set(e.journal.headSeq, e.state.fingerprint());
  };
  try {
    engine = await Engine.open(DIR, options(io, c, clock));
    observe(engine);
    const fds: number[] = [];
    for (let op = 0; op < c.ops; op++) {
      const e: Engine = engine;
      const fs = e.fs;
      const ctx = { pid: prng.between(1, 4) };
      const choice = prng.int(22);
      let call: Promise<unknown>;
      switch (choice) {
        case 0:
        case 1:
          call = fs.mkdir(newDir(), {}, ctx);
          break;
        case 2:
        case 3:
          call = fs.create(newFile(), { size: prng.int(100_000), offline: prng.chance(0.5) }, ctx);
          break;
        case 4:
          call = fs
            .open(prng.chance(0.3) ? newFile() : path(), prng.pick(['r', 'w', 'rw'] as const), { create: prng.chance(0.5), truncate: prng.chance(0.3) }, ctx)
            .then((fd) => fds.push(fd));
          break;
        case 5:
          call = fds.length === 0 ? Promise.resolve() : fs.write(prng.pick(fds), prng.int(200_000), prng.between(1, 10_000), ctx);
          break;
        case 6:
          call = fds.length === 0 ? Promise.resolve() : fs.close(fds.splice(prng.int(fds.length), 1)[0]!, ctx);
          break;
        case 7:
          call = fs.truncate(path(), prng.int(50_000), ctx);
          break;
        case 8:
          call = fs.unlink(path(), ctx);
          break;
        case 9:
          call = fs.rmdir(path(), ctx);
          break;
        case 10:
        case 11:
          call = fs.rename(path(), prng.chance(0.5) ? fresh() : path(), ctx);
          break;
        case 12:
          call = fs.link(path(), newFile(), ctx);
          break;
        case 13:
          call = fs.symlink(prng.pick(['a0', '/dir1', '../b2']), fresh(), ctx);
          break;
        case 14:
          call = fs.chmod(path(), prng.int(0o777), ctx);
          break;
        case 15:
          call = fs.setxattr(path(), prng.pick(['user.a', 'user.b']), prng.bytes(prng.int(20)), ctx);
          break;
        case 16:
          call = fs.hsmFill(path(), prng.int(50_000), prng.int(50_000), ctx);
          break;
        case 17:
          call = fs.hsmRelease(path(), ctx);
          break;
        case 18:
          call = e.checkpoint();
          break;
        // A mirror's operations (engine/fs/fs-mirror.ts): a create with the times found on disk, and a sync.
        case 20: {
          const type = prng.pick(['file', 'dir', 'symlink'] as const);
          call = mirrorCreate(e, prng, type, type === 'dir' ? newDir() : newFile());
          break;
        }
        case 21:
          call = e.mirrored.mirrorSync(
            files.length > 0 ? prng.pick(files) : path(),
            { mode: prng.int(0o777), size: prng.int(100_000), mtime: BigInt(prng.int(1e9)) },
            prng.chance(0.3),
          );
          break;
        default: {
          await e.close();
          engine = null;
          engine = await Engine.open(DIR, options(io, c, clock));
          observe(engine);
          fds.length = 0;
          continue;
        }
      }
      if (choice !== 18) observe(e);
      const head = e.journal.headSeq;
      try {
        await call;
        observed.succeeded++;
        if (head > observed.resolvedHead) observed.resolvedHead = head;
      } catch (error) {
        if (io.isPoweredOff) throw error;
        const code = (error as { code?: string }).code;
        if (code === undefined || code === 'EFAILED' || code === 'EIO' || code === 'ECORRUPT') throw error;
      }
    }
    await engine.close();
  } catch (error) {
    if (!io.isPoweredOff) throw error;
  }
}

/** A mirror's create: it checks and applies synchronously (throwing what fails), and is durable later. */
function mirrorCreate(engine: Engine, prng: Prng, type: 'file' | 'dir' | 'symlink', path: string): Promise<void> {
  const attrs = {
    mode: prng.int(0o777),
    uid: prng.int(5),
    gid: prng.int(5),
    size: prng.int(100_000),
    atime: BigInt(prng.int(1e9)),
    mtime: BigInt(prng.int(1e9)),
  };
  try {
    return engine.mirrored.mirrorCreate(path, type, attrs, type === 'symlink' ? 'a0' : undefined).durable;
  } catch (error) {
    return Promise.reject(error);
  }
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
  // The recovered engine takes operations again, and a clean reopen changes nothing.
  await engine.fs.mkdir('/after-recovery').catch((error: { code?: string }) => {
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
