/**
 * `fanlog crash-test` through the real binary: the summary as text and as
 * JSON, and `--run K` replaying one run of a campaign with the same checks
 * it made inside the campaign.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const fanlog = (...args: string[]) => spawnSync(process.execPath, [CLI, 'crash-test', ...args], { encoding: 'utf8', timeout: 120_000 });

interface Summary {
  runs: number;
  faults: Record<string, number>;
  checks: number;
  violations: number;
  seed: number;
  failures: unknown[];
}

// The simulated faults, whose runs are exact (real-disk store damage depends on the disk's timing).
const SIMULATED = ['--faults', 'power-cut,recovery-crash,eio,enospc,segment-loss'];

it('prints a summary of runs, faults, checks and violations, as text or JSON, and replays one run', () => {
  const text = fanlog('--runs', '12', '--seed', '5', ...SIMULATED);
  expect(text.status).toBe(0);
  expect(text.stdout).toMatch(/^fanlog crash-test: seed 5, 12 runs of 60 operations$/m);
  expect(text.stdout).toMatch(/^ {2}violations\s+0$/m);
  const whole = JSON.parse(fanlog('--runs', '12', '--seed', '5', ...SIMULATED, '--json').stdout) as Summary;
  expect(whole).toMatchObject({ runs: 12, seed: 5, violations: 0, failures: [] });
  expect(text.stdout).toContain(`checks            ${whole.checks.toLocaleString('en-US')}`);
  let replayed = 0;
  for (let run = 0; run < 12; run++)
    replayed += (JSON.parse(fanlog('--runs', '12', '--seed', '5', ...SIMULATED, '--run', String(run), '--json').stdout) as Summary).checks;
  expect(replayed).toBe(whole.checks);
});
