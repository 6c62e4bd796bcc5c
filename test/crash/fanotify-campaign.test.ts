/**
 * The campaign's fanotify runs through the real binary: `fanlog crash-test
 * --faults fanotify` makes, per run, an ext4, xfs or btrfs image (seeded;
 * ext4 half the time) with stubs and their
 * archive, runs an HSM handler under `fanlog supervise`, SIGKILLs the
 * handler at seeded points (before a read, mid-fill by pid, and at the
 * received, journaled, decided and answered crash points) while `cat`s and
 * `dd`s of the stubs wait in the kernel, and checks design invariant 11
 * (crash/fanotify-run.ts, crash/fanotify-checks.ts): every reader ends once
 * with the decided outcome (the archive's bytes, never a zero, or EIO), the
 * journal holds each kernel event's request once and each decision once,
 * every request decided and, on xfs and btrfs, carrying its file's own
 * handle, and the supervisor exits 0. In half the runs (seeded) the
 * handler journals the kernel's changelog too while a child process
 * creates, appends to, renames and deletes files beside the stubs, and
 * some of its kills come at the `notified` crash point, holding a read of
 * the changelog not yet journaled: every change's events must be in the
 * journal once, or be covered by a loss note of the read tally naming a
 * handler that died after the change, at the gap (invariant 10's promise;
 * crash/fanotify-changelog-checks.ts). FANLOG_FANOTIFY_RUNS
 * sets the runs (CI: 50), FANLOG_FANOTIFY_CAMPAIGN_SEED the seed, which is
 * in the test's name; a failure names the run and the command that replays
 * it. It needs root on Linux: without, it skips and says so.
 */
import { KILL_KINDS } from '../../crash/fanotify-plan.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FANLOG_FANOTIFY_RUNS ?? 4);
const SEED = Number(process.env.FANLOG_FANOTIFY_CAMPAIGN_SEED ?? Date.now() % 1_000_000);
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** Every kind of kill the plan makes: each run's first kill counts under one. */
const KINDS = KILL_KINDS;

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/crash/fanotify-campaign.test.ts: skipped, it needs root on Linux (it loop-mounts ext4 images and makes fanotify groups)');

interface Summary {
  runs: number;
  faults: Record<string, number>;
  checks: number;
  violations: number;
  failures: { run: number; invariant: number; what: string; replay: string }[];
}

it.skipIf(!isRoot)(
  `keeps invariants 11 and 10 over ${RUNS} fanotify runs whose handler is SIGKILLed while readers wait and changes are made (seed ${SEED})`,
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'crash-test', '--faults', 'fanotify', '--runs', String(RUNS), '--seed', String(SEED), '--json'],
      { env: { ...process.env, TMPDIR: tempDir() }, maxBuffer: 1 << 24 },
      // Exit status 1 means violations: the JSON on stdout says which.
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.failures.map((failure) => `run ${failure.run}: invariant ${failure.invariant}: ${failure.what} — replay: ${failure.replay}`)).toEqual([]);
    expect(summary.violations).toBe(0);
    // Every run's planned kills came: a run whose kill did not come is not counted as injected.
    const byKind = KINDS.map((kind) => summary.faults[`fanotify:${kind}`] ?? 0);
    expect(byKind.reduce((total, count) => total + count, 0)).toBe(RUNS);
    // Each reader's outcome, and each request and decision, is a check: a run makes a dozen at least.
    expect(summary.checks).toBeGreaterThan(RUNS * 12);
    console.log(
      `fanotify campaign (seed ${SEED}): ${RUNS} runs, first kills ${KINDS.map((kind, i) => `${kind} ${byKind[i]}`).join(', ')}; ${summary.checks} checks`,
    );
  },
  60_000 + RUNS * 10_000,
);
