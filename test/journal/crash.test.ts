/**
 * Crash tests on MemoryIo. Small workloads are crashed at every I/O step in
 * every crash mode; long ones at random steps, with random modes, sometimes
 * crashing again during recovery. The number of random runs scales with
 * FANLOG_CRASH_RUNS (small by default; CI sets thousands). A failure prints
 * the case, and FANLOG_CRASH_SEED=<seed> replays only that seed.
 */
import { describe, expect, it } from 'vitest';
import { Prng } from '../../index.js';
import { CRASH_MODES, type CrashCase, countSteps, runCrashCase } from './crash-harness.js';

const RUNS = Number(process.env.FANLOG_CRASH_RUNS ?? 300);
const ONLY_SEED = process.env.FANLOG_CRASH_SEED === undefined ? null : Number(process.env.FANLOG_CRASH_SEED);
const BASE_SEED = Number(process.env.FANLOG_CRASH_BASE_SEED ?? 20261123);

describe('journal crash recovery', () => {
  it('holds every property when the power is cut at every I/O step of small workloads, in every crash mode', async () => {
    const violations: string[] = [];
    let cases = 0;
    for (const seed of ONLY_SEED === null ? [1, 2, 3, 4] : [ONLY_SEED]) {
      for (const sync of ['always', 'never'] as const) {
        const base: CrashCase = { seed, ops: 14, cutAfter: null, mode: 'drop', sync, cutRecoveryAfter: null };
        const steps = await countSteps(base);
        expect(steps).toBeGreaterThan(10);
        for (let cutAfter = 0; cutAfter <= steps; cutAfter++) {
          for (const mode of CRASH_MODES) {
            violations.push(...(await runCrashCase({ ...base, cutAfter, mode })));
            cases++;
          }
        }
      }
    }
    expect(violations, `${cases} cases`).toEqual([]);
  });

  it(`holds every property over ${RUNS} seeded random crashes of long workloads`, async () => {
    const violations: string[] = [];
    const seeds = ONLY_SEED === null ? Array.from({ length: RUNS }, (_, i) => BASE_SEED + i) : [ONLY_SEED];
    for (const seed of seeds) {
      const prng = new Prng(seed);
      const c: CrashCase = {
        seed,
        ops: prng.between(20, 120),
        cutAfter: prng.chance(0.9) ? prng.int(400) : null,
        mode: 'any',
        sync: prng.chance(0.75) ? 'always' : 'never',
        cutRecoveryAfter: prng.chance(0.3) ? prng.int(6) : null,
      };
      violations.push(...(await runCrashCase(c)));
      if (violations.length > 20) break;
    }
    expect(violations).toEqual([]);
  });
});
