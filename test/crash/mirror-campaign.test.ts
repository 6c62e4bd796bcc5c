/**
 * The campaign's mirror runs through the real binary: `fanlog crash-test
 * --faults mirror` mirrors a real directory under a seeded churn in a
 * process of its own, SIGKILLs and restarts it, makes half the runs
 * overflow that process's inotify queue while it is stopped, and once the
 * mirror has settled checks invariant 10 (crash/mirror-run.ts): the
 * engine's tree is the disk's but where loss notes say, a consumer that
 * read every record rebuilds it, and no rename joins two objects.
 * FANLOG_MIRROR_RUNS sets the runs (CI: 50, of which at least 10 must
 * burst); FANLOG_MIRROR_CAMPAIGN_SEED the seed, which is in the test's name.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_MIRROR_RUNS ?? 6);
const SEED = Number(process.env.FANLOG_MIRROR_CAMPAIGN_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

it(
  `keeps invariant 10 over ${RUNS} mirror runs, some overflowing the inotify queue (seed ${SEED})`,
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'crash-test', '--faults', 'mirror', '--runs', String(RUNS), '--seed', String(SEED), '--json'],
      { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
      // Exit status 1 means violations: the JSON on stdout says which.
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const summary = JSON.parse(stdout) as { runs: number; faults: Record<string, number>; checks: number; violations: number; failures: unknown[] };
    expect(summary.failures).toEqual([]);
    expect(summary.violations).toBe(0);
    const bursts = summary.faults['mirror:burst'] ?? 0;
    expect((summary.faults.mirror ?? 0) + bursts).toBe(RUNS);
    if (RUNS >= 50) expect(bursts, 'runs with a burst beyond the inotify queue').toBeGreaterThanOrEqual(10);
    expect(summary.checks).toBeGreaterThan(RUNS * 5);
    console.log(`mirror campaign (seed ${SEED}): ${RUNS} runs, ${bursts} with bursts, ${summary.checks} checks`);
  },
  60_000 + RUNS * 6_000,
);
