/**
 * The crash campaign (crash/campaign.ts): seeded runs of the whole engine,
 * each with a power cut, a crash during recovery, an injected EIO/ENOSPC, a
 * deleted newest segment, or a damaged store (files simulated, lmdb and
 * level on a real disk), and every invariant checked against the
 * write-trace model. FANLOG_CAMPAIGN_RUNS sets the runs (small by default, thousands in
 * CI); FANLOG_CAMPAIGN_SEED the seed. A failure prints, per violation, the
 * run index and the command that replays it.
 */
import { describe, expect, it } from 'vitest';
import { runCrashTests } from '../../testing.js';

const RUNS = Number(process.env.FANLOG_CAMPAIGN_RUNS ?? 150);
const SEED = Number(process.env.FANLOG_CAMPAIGN_SEED ?? 20261123);

const replay = (failure: { run: number; invariant: number; fault: string; what: string }): string =>
  `invariant ${failure.invariant} in run ${failure.run} (${failure.fault}): ${failure.what} — replay: fanlog crash-test --seed ${SEED} --runs ${RUNS} --run ${failure.run}`;

describe('crash campaign', () => {
  it(`keeps every invariant over ${RUNS} seeded runs with power cuts, crashes during recovery, EIO, ENOSPC, lost segments and damaged stores (seed ${SEED})`, async () => {
    const summary = await runCrashTests({ runs: RUNS, seed: SEED });
    expect(summary.failures.map(replay)).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.runs).toBe(RUNS);
    // The faults really happen, of every kind, and the checks really run.
    const kinds = new Set(Object.keys(summary.faults).map((kind) => kind.split(':')[0]));
    expect([...kinds].sort()).toEqual(['eio', 'enospc', 'power-cut', 'recovery-crash', 'segment-loss', 'store-damage']);
    // Store damage takes every store in turn.
    expect(
      Object.keys(summary.faults)
        .filter((kind) => kind.startsWith('store-damage'))
        .sort(),
    ).toEqual(['store-damage:files', 'store-damage:level', 'store-damage:lmdb']);
    const injected = Object.values(summary.faults).reduce((total, count) => total + count, 0);
    expect(injected).toBeGreaterThan(RUNS * 0.7);
    expect(summary.checks).toBeGreaterThan(RUNS * 50);
    // Thousands of runs in CI, beside the other test files on two cores.
  }, 900_000);

  // Real-disk runs (store damage on lmdb and level) depend on the disk's timing; the simulated ones are exact.
  const SIMULATED = ['power-cut', 'recovery-crash', 'eio', 'enospc', 'segment-loss'] as const;

  it('gives the same runs, faults and checks for the same seed', async () => {
    const first = await runCrashTests({ runs: 25, seed: 99, faults: SIMULATED });
    const second = await runCrashTests({ runs: 25, seed: 99, faults: SIMULATED });
    expect({ ...second, ms: 0 }).toEqual({ ...first, ms: 0 });
    const other = await runCrashTests({ runs: 25, seed: 100, faults: SIMULATED });
    expect(other.checks).not.toBe(first.checks);
  });

  it('replays one run alone exactly as it ran inside its campaign', async () => {
    const runs: { checks: number; faults: Record<string, number> }[] = [];
    let previous = 0;
    for (let run = 0; run < 6; run++) {
      const alone = await runCrashTests({ runs: 6, seed: 7, only: run, faults: SIMULATED });
      runs.push({ checks: alone.checks, faults: alone.faults });
      previous += alone.checks;
    }
    const whole = await runCrashTests({ runs: 6, seed: 7, faults: SIMULATED });
    expect(previous).toBe(whole.checks);
    const faults: Record<string, number> = {};
    for (const run of runs) for (const [kind, count] of Object.entries(run.faults)) faults[kind] = (faults[kind] ?? 0) + count;
    expect(faults).toEqual(whole.faults);
  });

  it('rejects bad options with EINVAL', async () => {
    for (const options of [
      { runs: 0 },
      { runs: 1.5 },
      { seed: -1 },
      { opsPerRun: 0 },
      { faults: [] },
      { faults: ['meteor'] },
      { only: 5, runs: 5 },
      { store: 'files', faults: ['kill'] },
      { store: 'files', faults: ['lock'] },
      { bogus: 1 },
    ]) {
      await expect(runCrashTests(options as never), JSON.stringify(options)).rejects.toMatchObject({ code: 'EINVAL' });
    }
  });
});
