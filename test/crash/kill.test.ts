/**
 * Kill runs of the crash campaign through the real binary: `fanlog
 * crash-test --faults kill` starts a child process per run that runs the
 * workload on a real disk (lmdb, then level), SIGKILLs it at a random
 * moment, reopens and checks every invariant the model can check without a
 * write trace. FANLOG_CAMPAIGN_KILL_RUNS sets the runs per store.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_CAMPAIGN_KILL_RUNS ?? 4);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

for (const store of ['lmdb', 'level']) {
  it(`keeps every invariant over ${RUNS} SIGKILLed runs on ${store} (seed ${SEED})`, async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'crash-test', '--faults', 'kill', '--store', store, '--runs', String(RUNS), '--seed', String(SEED), '--json'],
      { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
      // Exit status 1 means violations: the JSON on stdout says which.
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const summary = JSON.parse(stdout) as { runs: number; faults: Record<string, number>; checks: number; violations: number; failures: unknown[] };
    expect(summary.failures).toEqual([]);
    expect(summary.violations).toBe(0);
    expect(summary.faults[`kill:${store}`]).toBe(RUNS);
    expect(summary.checks).toBeGreaterThan(RUNS * 20);
  });
}
