/**
 * Invariant 5 under power cuts. Several simulated processes run guarded
 * operations on MemoryIo with the `files` store while a listener answers
 * two groups (a restartable pre-content group and a content group): it
 * allows, denies, denies with EIO, leaves events unanswered for a while, and
 * restarts the restartable queue. The power is cut at every I/O step of a
 * small workload (and at random steps of longer ones, FANLOG_PERMISSION_CRASH_RUNS),
 * then, from the recovered journal alone:
 *
 * - every decision answers a journaled request, and no request has two;
 * - an operation's requests go forward (step, then group priority) and all
 *   but its last were allowed: nothing decided is asked again;
 * - an operation's own entry exists at most once, and only after its last
 *   request was allowed;
 * - after reopening, each group's queue starts with exactly the undecided
 *   requests of that group, in seq order, once each;
 * - once everything is allowed, every resurrected operation settles, and
 *   no operation's entry exists twice.
 * A failure prints the case; FANLOG_CRASH_SEED=<seed> replays it.
 */
import { describe, expect, it } from 'vitest';
import { modeByStep, runSeeded, seeds, sweepEveryStep, sweepSeeds } from '../crash-driver.js';
import { settleEverything } from '../../crash/permission-checks.js';
import { type CrashMode, MemoryIo, Prng } from '../../testing.js';
import {
  Engine,
  ERRNO,
  type EventQueue,
  FAN_ACCESS_PERM,
  FAN_ALLOW,
  FAN_DENY,
  FAN_DENY_ERRNO,
  FAN_OPEN_PERM,
  FAN_PRE_ACCESS,
  FAN_PRE_MODIFY,
} from '../../index.js';

const RUNS = Number(process.env.FANLOG_PERMISSION_CRASH_RUNS ?? 40);
const FILES = 5;

interface Case {
  seed: number;
  opsPerProcess: number;
  cutAfter: number | null;
  mode: CrashMode;
}

const describeCase = (c: Case): string => `seed=${c.seed} opsPerProcess=${c.opsPerProcess} cutAfter=${c.cutAfter} mode=${c.mode}`;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function setup(io: MemoryIo): Promise<{ engine: Engine; fds: number[] }> {
  const engine = await Engine.open('/e', { io, store: 'files', checkpointEveryRecords: 2 ** 40 });
  await engine.fs.mkdir('/d');
  const fds: number[] = [];
  for (let i = 0; i < FILES; i++) {
    await engine.fs.create(`/d/f${i}`, { size: 50_000, offline: i % 2 === 0 });
    fds.push(await engine.fs.open(`/d/f${i}`, 'rw'));
  }
  const pre = await engine.groups.create('pre', { class: 'pre-content', restartable: true });
  await pre.mark({ path: '/', scope: 'filesystem', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
  const av = await engine.groups.create('av', { class: 'content' });
  await av.mark({ path: '/d', scope: 'mount', mask: FAN_OPEN_PERM | FAN_ACCESS_PERM });
  return { engine, fds };
}

async function workload(io: MemoryIo, c: Case): Promise<void> {
  const prng = new Prng(c.seed);
  const { engine, fds } = await setup(io);
  if (c.cutAfter !== null) io.cutPowerAfter(c.cutAfter);
  let running = 3;
  const processes = Array.from({ length: 3 }, async (_, p) => {
    try {
      for (let op = 0; op < c.opsPerProcess && !engine.failed; op++) {
        const file = prng.int(FILES);
        const ctx = { pid: 10 + p };
        const call = [
          () => engine.fs.read(fds[file]!, prng.int(60_000), prng.between(1, 8000), ctx),
          () => engine.fs.write(fds[file]!, prng.int(60_000), prng.between(1, 8000), ctx),
          () => engine.fs.truncate(`/d/f${file}`, prng.int(60_000), ctx),
          () => engine.fs.fault(fds[file]!, prng.int(40_000), { write: prng.chance(0.5) }, ctx),
          () => engine.fs.open(`/d/f${file}`, prng.pick(['r', 'w'] as const), {}, ctx),
        ][prng.int(5)]!;
        await call().catch(() => undefined);
      }
    } finally {
      running--;
    }
  });
  const queues: Record<string, EventQueue> = { pre: engine.groups.get('pre').openQueue(), av: engine.groups.get('av').openQueue() };
  const deferred: { group: string; id: number }[] = [];
  while (running > 0 && !engine.failed) {
    for (const name of ['pre', 'av']) {
      for (const event of await queues[name]!.read({ max: 4 }).catch(() => [])) {
        const roll = prng.next();
        if (roll < 0.15 && name === 'pre') continue; // unanswered: only a restart brings it back
        if (roll < 0.3) {
          deferred.push({ group: name, id: event.id });
          continue;
        }
        const response = roll < 0.75 ? FAN_ALLOW : roll < 0.88 || name === 'av' ? FAN_DENY : FAN_DENY_ERRNO(ERRNO.EIO);
        await queues[name]!.respond(event.id, response).catch(() => undefined);
      }
    }
    if (prng.chance(0.1)) {
      // Restart the restartable queue: its read, unanswered events come back.
      await queues.pre!.close().catch(() => undefined);
      for (let i = deferred.length - 1; i >= 0; i--) if (deferred[i]!.group === 'pre') deferred.splice(i, 1);
      queues.pre = engine.groups.get('pre').openQueue();
    }
    if (deferred.length > 0 && prng.chance(0.3)) {
      const { group, id } = deferred.shift()!;
      await queues[group]!.respond(id, FAN_ALLOW).catch(() => undefined);
    }
    await tick();
  }
  await Promise.all(processes);
}

async function runCase(c: Case): Promise<string[]> {
  const violations: string[] = [];
  const fail = (what: string): void => {
    violations.push(`${what} [${describeCase(c)}]`);
  };
  const io = new MemoryIo();
  try {
    await workload(io, c);
  } catch (error) {
    if (!io.isPoweredOff) fail(`workload failed without a power cut: ${String(error)}`);
  }
  io.crash(c.seed ^ 0x5eed, c.mode);
  let engine: Engine;
  try {
    engine = await Engine.open('/e', { io, store: 'files', checkpointEveryRecords: 2 ** 40 });
  } catch (error) {
    fail(`recovery failed: ${String(error)}`);
    return violations;
  }
  await settleEverything(engine, fail);
  await engine.close();
  return violations;
}

async function countSteps(c: Case): Promise<number> {
  const io = new MemoryIo();
  await workload(io, { ...c, cutAfter: null });
  return io.steps;
}

const PERMISSIONS = { run: runCase, steps: countSteps };

describe('permission requests across crashes (invariant 5)', () => {
  it('holds when the power is cut at every I/O step of a small workload', async () => {
    const bases = sweepSeeds([1, 2]).map((seed): Case => ({ seed, opsPerProcess: 6, cutAfter: null, mode: 'drop' }));
    // The first 30 steps set the engine up, before any permission traffic.
    const { violations, steps } = await sweepEveryStep(PERMISSIONS, bases, { modes: modeByStep, from: 30 });
    expect(Math.min(...steps)).toBeGreaterThan(40);
    expect(violations).toEqual([]);
  });

  it(`holds over ${RUNS} seeded random crashes of longer workloads`, async () => {
    const violations = await runSeeded(PERMISSIONS, seeds(RUNS, 7000), (seed, prng): Case => ({
      seed,
      opsPerProcess: prng.between(10, 30),
      cutAfter: prng.chance(0.9) ? prng.between(30, 600) : null,
      mode: 'any',
    }));
    expect(violations).toEqual([]);
  });
});
