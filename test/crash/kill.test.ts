/**
 * Kill and lock runs of the crash campaign through the real binary:
 * `fanlog crash-test --faults kill` starts a child process per run that
 * runs the workload on a real disk (lmdb, then level), SIGKILLs it at a
 * random moment, reopens and checks every invariant the model can check
 * without a write trace; `--faults lock` tries to open the engine a child
 * holds from this thread, a worker thread and another process, then kills
 * the holder and lets three processes race for it.
 * FANLOG_CAMPAIGN_KILL_RUNS and FANLOG_CAMPAIGN_LOCK_RUNS set the runs per
 * store.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_CAMPAIGN_KILL_RUNS ?? 4);
const LOCK_RUNS = Number(process.env.FANLOG_CAMPAIGN_LOCK_RUNS ?? 2);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

for (const [fault, runs, what] of [
  ['kill', RUNS, 'SIGKILLed runs'],
  ['lock', LOCK_RUNS, 'runs with lock contention and racing processes'],
] as const)
  for (const store of ['lmdb', 'level']) {
    it(
      `keeps every invariant over ${runs} ${what} on ${store} (seed ${SEED})`,
      async () => {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [CLI, 'crash-test', '--faults', fault, '--store', store, '--runs', String(runs), '--seed', String(SEED), '--json'],
          { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
          // Exit status 1 means violations: the JSON on stdout says which.
        ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
        const summary = JSON.parse(stdout) as { runs: number; faults: Record<string, number>; checks: number; violations: number; failures: unknown[] };
        expect(summary.failures).toEqual([]);
        expect(summary.violations).toBe(0);
        expect(summary.faults[`${fault}:${store}`]).toBe(runs);
        expect(summary.checks).toBeGreaterThan(runs * 20);
        // The time a run takes, with room for a loaded machine: a busy CI must not fail it.
      },
      60_000 + runs * 8_000,
    );
  }
