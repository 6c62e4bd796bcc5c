/**
 * Engine crash tests on MemoryIo with the `files` store (see
 * crash-harness.ts for what each case checks). Small workloads are crashed
 * at every I/O step; long ones at random steps, FANLOG_ENGINE_CRASH_RUNS
 * of them (small by default, thousands in CI). A failure prints its case;
 * FANLOG_CRASH_SEED=<seed> replays that seed.
 */
import { describe, expect, it } from 'vitest';
import { modeByStep, runSeeded, seeds, sweepEveryStep, sweepSeeds } from '../crash-driver.js';
import { countEngineSteps, type EngineCrashCase, runEngineCrashCase } from './crash-harness.js';

const RUNS = Number(process.env.FANLOG_ENGINE_CRASH_RUNS ?? 100);
const BASE_SEED = Number(process.env.FANLOG_CRASH_BASE_SEED ?? 20261123);
const ENGINE = { run: runEngineCrashCase, steps: async (c: EngineCrashCase) => (await countEngineSteps(c)).steps };

describe('engine crash recovery', () => {
  it('recovers the filesystem exactly when the power is cut at every I/O step of small workloads', async () => {
    // Seeds whose small workloads do real work (more than half their calls succeed; with the mirror's calls in the draw, seed 2's lost its directories early).
    const bases = sweepSeeds([1, 5]).map((seed): EngineCrashCase => ({
      seed,
      ops: 40,
      cutAfter: null,
      mode: 'drop',
      checkpointEveryRecords: 15,
      cutRecoveryAfter: null,
    }));
    for (const base of bases) expect((await countEngineSteps(base)).succeeded).toBeGreaterThan(base.ops / 2);
    const { cases, violations } = await sweepEveryStep(ENGINE, bases, { modes: modeByStep });
    expect(violations, `${cases} cases`).toEqual([]);
  });

  it(`recovers the filesystem exactly over ${RUNS} seeded random crashes of long workloads`, async () => {
    const violations = await runSeeded(ENGINE, seeds(RUNS, BASE_SEED), (seed, prng): EngineCrashCase => ({
      seed,
      ops: prng.between(30, 150),
      cutAfter: prng.chance(0.9) ? prng.int(600) : null,
      mode: 'any',
      checkpointEveryRecords: prng.pick([10, 50, 100_000]),
      cutRecoveryAfter: prng.chance(0.3) ? prng.int(10) : null,
    }));
    expect(violations).toEqual([]);
  });
});
