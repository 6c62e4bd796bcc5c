/**
 * The crash campaign's inspect runs through the real binary: `fanlog
 * crash-test --faults inspect` races lock-free inspection (stat, consumers
 * list, tail, export) against a writer child that purges all the time,
 * kills the writer or damages its closed engine's newest segment, and
 * checks every view and read (crash/inspect-run.ts). FANLOG_INSPECT_RUNS
 * sets the runs (default 6), FANLOG_INSPECT_SEED the seed.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_INSPECT_RUNS ?? 6);
const SEED = Number(process.env.FANLOG_INSPECT_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

it(
  `keeps lock-free inspection whole or loud over ${RUNS} runs beside a purging, killed or damaged writer (seed ${SEED})`,
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'crash-test', '--faults', 'inspect', '--runs', String(RUNS), '--seed', String(SEED), '--json'],
      { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
      // Exit status 1 means violations: the JSON on stdout says which.
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const summary = JSON.parse(stdout) as { runs: number; faults: Record<string, number>; checks: number; violations: number; failures: unknown[] };
    expect(summary.failures).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.runs).toBe(RUNS);
    expect(Object.keys(summary.faults).every((fault) => fault.startsWith('inspect:'))).toBe(true);
    expect(summary.checks).toBeGreaterThan(RUNS * 20);
  },
  60_000 + RUNS * 6_000,
);
