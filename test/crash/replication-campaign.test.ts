/**
 * The replication runs of the crash campaign through the real binary:
 * `fanlog crash-test --faults replication` starts a real redis-server per
 * run and replicates a seeded workload on a real disk into it while the
 * server is SIGKILLed and restarted, frozen and thawed, restored from an
 * older RDB or AOF copy, written by someone else, contended by second
 * replicators, and trimmed under its readers (crash/replication-run.ts);
 * then design invariant 9 is checked. FANLOG_REPLICATION_RUNS sets the
 * runs (CI: at least 100), FANLOG_REPLICATION_SEED the seed; a failure
 * names the run that replays it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_REPLICATION_RUNS ?? 10);
const SEED = Number(process.env.FANLOG_REPLICATION_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface Summary {
  runs: number;
  faults: Record<string, number>;
  checks: number;
  violations: number;
  failures: { run: number; invariant: number; what: string; replay: string }[];
}

it(
  `keeps replication exact or loud over ${RUNS} runs against a real redis-server (seed ${SEED})`,
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'crash-test', '--faults', 'replication', '--runs', String(RUNS), '--seed', String(SEED), '--json'],
      { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
      // Exit status 1 means violations: the JSON on stdout says which.
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.failures.map((failure) => `run ${failure.run}: invariant ${failure.invariant}: ${failure.what} — replay: ${failure.replay}`)).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.runs).toBe(RUNS);
    // Nearly every run injects faults; the checks really run.
    const injected = Object.values(summary.faults).reduce((total, count) => total + count, 0);
    expect(injected).toBeGreaterThanOrEqual(RUNS * 0.8);
    expect(summary.checks).toBeGreaterThan(RUNS * 5);
    if (RUNS >= 50) expect(Object.keys(summary.faults).sort()).toEqual(['replication:faults', 'replication:foreign', 'replication:restore']);
  },
  60_000 + RUNS * 10_000,
);
