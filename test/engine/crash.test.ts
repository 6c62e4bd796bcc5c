/**
 * Engine crash tests on MemoryIo with the `files` store (see
 * crash-harness.ts for what each case checks). Small workloads are crashed
 * at every I/O step; long ones at random steps, FANLOG_ENGINE_CRASH_RUNS
 * of them (small by default, thousands in CI). A failure prints its case;
 * FANLOG_CRASH_SEED=<seed> replays that seed.
 */
import { describe, expect, it } from 'vitest';
import { CRASH_MODES, Prng } from '../../index.js';
import { countEngineSteps, type EngineCrashCase, runEngineCrashCase } from './crash-harness.js';

const RUNS = Number(process.env.FANLOG_ENGINE_CRASH_RUNS ?? 100);
const ONLY_SEED = process.env.FANLOG_CRASH_SEED === undefined ? null : Number(process.env.FANLOG_CRASH_SEED);
const BASE_SEED = Number(process.env.FANLOG_CRASH_BASE_SEED ?? 20261123);

describe('engine crash recovery', () => {
  it('recovers the filesystem exactly when the power is cut at every I/O step of small workloads', async () => {
    const violations: string[] = [];
    let cases = 0;
    for (const seed of ONLY_SEED === null ? [1, 2] : [ONLY_SEED]) {
      const base: EngineCrashCase = { seed, ops: 40, cutAfter: null, mode: 'drop', checkpointEveryRecords: 15, cutRecoveryAfter: null };
      const { steps, succeeded } = await countEngineSteps(base);
      expect(succeeded).toBeGreaterThan(base.ops / 2);
      for (let cutAfter = 0; cutAfter <= steps; cutAfter++) {
        violations.push(...(await runEngineCrashCase({ ...base, cutAfter, mode: CRASH_MODES[cutAfter % CRASH_MODES.length]! })));
        cases++;
        if (violations.length > 10) break;
      }
    }
    expect(violations, `${cases} cases`).toEqual([]);
  });

  it(`recovers the filesystem exactly over ${RUNS} seeded random crashes of long workloads`, async () => {
    const violations: string[] = [];
    const seeds = ONLY_SEED === null ? Array.from({ length: RUNS }, (_, i) => BASE_SEED + i) : [ONLY_SEED];
    for (const seed of seeds) {
      const prng = new Prng(seed);
      const c: EngineCrashCase = {
        seed,
        ops: prng.between(30, 150),
        cutAfter: prng.chance(0.9) ? prng.int(600) : null,
        mode: 'any',
        checkpointEveryRecords: prng.pick([10, 50, 100_000]),
        cutRecoveryAfter: prng.chance(0.3) ? prng.int(10) : null,
      };
      violations.push(...(await runEngineCrashCase(c)));
      if (violations.length > 10) break;
    }
    expect(violations).toEqual([]);
  });
});
