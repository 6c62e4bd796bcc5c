/**
 * Fanotify suite (`npm run bench -- fanotify`, root on Linux): the real
 * kernel's events through engine.fanotify, on an ext4 image loop-mounted
 * in a temp dir (crash/fs-image.ts), beside a C program compiled with
 * gcc at bench time (bench/fanotify-handler.c), in the same run:
 *
 *   permission round trips   bench/fanotify-permission.ts: perm_c,
 *                            perm_never, perm_always, perm_blocking, disk_pairs
 *   notification events      bench/fanotify-storm.ts: storm_c,
 *                            storm_never, storm_always, storm_20k_never,
 *                            storm_20k_always
 *
 * The goals, measured and printed, never asserted: perm_never at
 * least 0.5x perm_c; perm_always at the disk's group-commit rate
 * (disk_pairs); no FAN_Q_OVERFLOW at 20,000 events/s.
 *
 * Its size, from the environment (a few seconds a case by default):
 *   FANLOG_BENCH_FANOTIFY_ROUNDS    rounds of the side-by-side cases (3; 2 with --quick)
 *   FANLOG_BENCH_FANOTIFY_ROUND_MS  each case's time in a round (1000; 250 with --quick)
 *   FANLOG_BENCH_FANOTIFY_READERS   concurrent reader processes (4)
 *   FANLOG_BENCH_FANOTIFY_EVENT     'open' (FAN_OPEN_PERM, default) or 'pre-access' (FAN_PRE_ACCESS)
 *
 * Cleanup, whatever fails: each case stops its handler (the engine's source
 * answers what is unanswered; the C handler exits, closing its group) in a
 * finally, so no reader stays blocked in the kernel; then every process
 * the suite started that is still alive is killed by its pid and waited
 * for; then the engines close, and withExt4 unmounts the image and
 * releases its loop device. SIGINT and SIGTERM fail the running case
 * (bench/fanotify-peers.ts abort), so the same path runs. Without root the
 * suite is skipped, and says so.
 */
import path from 'node:path';
import { withExt4 } from '../crash/fs-image.js';
import { NodeIo } from '../journal/node-io.js';
import { Engine } from '../fanlog.js';
import type { BenchSettings } from './harness.js';
import { type Engines, type FanotifyPlan, permissionOf, permissionRounds, type PermissionFigures } from './fanotify-permission.js';
import { Peers } from './fanotify-peers.js';
import { stormRounds, type StormFigures } from './fanotify-storm.js';

export interface FanotifySuiteResult {
  suite: 'fanotify';
  /** Why nothing was measured (not root, not Linux), or null. */
  skipped: string | null;
  /** Why the C peers were not run (no gcc), or null. */
  cSkipped: string | null;
  plan: FanotifyPlan | null;
  roundTripsPerSecond: Record<string, number>;
  latencyMs: PermissionFigures['latencyMs'];
  cpuUsPerTrip: PermissionFigures['cpuUsPerTrip'];
  ratios: Record<string, number>;
  storm: StormFigures | null;
}

/** A whole number from the environment, or `fallback`; a value that is not one is refused. */
function fromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number from 1, not ${JSON.stringify(text)}`);
  return value;
}

export function planOf(settings: BenchSettings): FanotifyPlan {
  const event = process.env.FANLOG_BENCH_FANOTIFY_EVENT ?? 'open';
  if (event !== 'open' && event !== 'pre-access') throw new Error(`FANLOG_BENCH_FANOTIFY_EVENT must be 'open' or 'pre-access', not ${JSON.stringify(event)}`);
  return {
    rounds: fromEnv('FANLOG_BENCH_FANOTIFY_ROUNDS', settings.quick ? 2 : 3),
    roundMs: fromEnv('FANLOG_BENCH_FANOTIFY_ROUND_MS', settings.quick ? 250 : 1000),
    readers: fromEnv('FANLOG_BENCH_FANOTIFY_READERS', 4),
    event,
  };
}

/** An engine in `dir` with sync `sync` and the permission group 'hsm' of the class `plan`'s event needs. */
async function openEngine(dir: string, sync: 'never' | 'always' | 'blocking', plan: FanotifyPlan): Promise<Engine> {
  const engine = await Engine.open(dir, sync === 'blocking' ? { sync: 'always', io: new NodeIo({ blocking: true }) } : { sync });
  try {
    await engine.groups.create('hsm', { class: permissionOf(plan.event).groupClass });
    return engine;
  } catch (error) {
    await engine.close();
    throw error;
  }
}

export async function fanotifySuite(settings: BenchSettings): Promise<FanotifySuiteResult> {
  const empty = { cSkipped: null, plan: null, roundTripsPerSecond: {}, latencyMs: {}, cpuUsPerTrip: {}, ratios: {}, storm: null };
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    const skipped = 'it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)';
    settings.log(`fanotify suite: skipped, ${skipped}`);
    return { suite: 'fanotify', skipped, ...empty };
  }
  const plan = planOf(settings);
  return withExt4(async (image) => {
    const peers = new Peers(image.scratch);
    const engines: Partial<Engines> = {};
    // Interrupted, the suite still releases what it holds: the running case fails, and the finally blocks run.
    const interrupt = (signal: NodeJS.Signals): void => {
      settings.log(`fanotify suite: ${signal}, stopping and releasing the image`);
      void peers.abort(signal);
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    try {
      engines.never = await openEngine(path.join(image.scratch, 'engine-never'), 'never', plan);
      engines.always = await openEngine(path.join(image.scratch, 'engine-always'), 'always', plan);
      engines.blocking = await openEngine(path.join(image.scratch, 'engine-blocking'), 'blocking', plan);
      settings.log(
        `fanotify suite (${settings.quick ? 'quick' : 'full'}): ext4 image, ${plan.readers} ${peers.workload} readers, ${plan.event === 'open' ? 'FAN_OPEN_PERM' : 'FAN_PRE_ACCESS'}, ${plan.rounds} rounds of ${plan.roundMs} ms`,
      );
      if (peers.skipped !== null) settings.log(`  the C peers are skipped: ${peers.skipped}`);
      settings.log('permission round trips (side by side):');
      const permission = await permissionRounds(image, engines as Engines, peers, plan, settings);
      settings.log('notification events under a create storm:');
      const storm = await stormRounds(image, engines as Engines, peers, plan, settings);
      return { suite: 'fanotify', skipped: null, cSkipped: peers.skipped, plan, ...permission, storm } satisfies FanotifySuiteResult;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      await peers.killAll();
      await engines.never?.close();
      await engines.always?.close();
      await engines.blocking?.close();
    }
  }, 64);
}
