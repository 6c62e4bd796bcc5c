/**
 * Crash tests on MemoryIo. Small workloads are crashed at every I/O step in
 * every crash mode; long ones at random steps, with random modes, sometimes
 * crashing again during recovery. The number of random runs scales with
 * FANLOG_CRASH_RUNS (small by default; CI sets thousands). A failure prints
 * the case, and FANLOG_CRASH_SEED=<seed> replays only that seed.
 */
import { describe, expect, it } from 'vitest';
import { everyMode, runSeeded, seeds, sweepEveryStep, sweepSeeds } from '../crash-driver.js';
import { type CrashCase, countSteps, runCrashCase } from './crash-harness.js';

const RUNS = Number(process.env.FANLOG_CRASH_RUNS ?? 300);
const BASE_SEED = Number(process.env.FANLOG_CRASH_BASE_SEED ?? 20261123);
const JOURNAL = { run: runCrashCase, steps: countSteps };

describe('journal crash recovery', () => {
  it('holds every property when the power is cut at every I/O step of small workloads, in every crash mode', async () => {
    const bases = sweepSeeds([1, 2, 3, 4]).flatMap((seed) =>
      (['always', 'never'] as const).map((sync): CrashCase => ({ seed, ops: 14, cutAfter: null, mode: 'drop', sync, cutRecoveryAfter: null })),
    );
    const { cases, violations, steps } = await sweepEveryStep(JOURNAL, bases, { modes: everyMode });
    expect(Math.min(...steps)).toBeGreaterThan(10);
    expect(violations, `${cases} cases`).toEqual([]);
  });

  it(`holds every property over ${RUNS} seeded random crashes of long workloads`, async () => {
    const violations = await runSeeded(
      JOURNAL,
      seeds(RUNS, BASE_SEED),
      (seed, prng): CrashCase => ({
        seed,
        ops: prng.between(20, 120),
        cutAfter: prng.chance(0.9) ? prng.int(400) : null,
        mode: 'any',
        sync: prng.chance(0.75) ? 'always' : 'never',
        cutRecoveryAfter: prng.chance(0.3) ? prng.int(6) : null,
      }),
      20,
    );
    expect(violations).toEqual([]);
  });
});
