/**
 * `fanlog crash-test`: runs a crash campaign (crash/campaign.ts) and prints
 * its summary, or one JSON object with --json. Exit status 1 when any
 * invariant was violated; each failure names the run and the command that
 * replays exactly that run.
 */
import { InvalidArgumentError } from 'commander';
import { type CrashTestSummary, type FaultKind, FAULT_KINDS, REAL_SYSTEM_FAULTS, runCrashTests } from '../crash/campaign.js';
import type { StoreKind } from '../store/meta-store.js';
import { progressBar } from './progress.js';

export interface CrashTestCommand {
  runs: number;
  seed: number;
  ops: number;
  store?: StoreKind;
  kill?: boolean;
  faults?: FaultKind[];
  run?: number;
  json?: boolean;
}

const n = (value: number): string => value.toLocaleString('en-US');

export async function crashTest(options: CrashTestCommand): Promise<boolean> {
  const faults = selectFaults(options);
  const store = options.store ?? 'lmdb';
  const runs = options.run === undefined ? options.runs : Math.max(options.runs, options.run + 1);
  const progress = options.json === true || options.run !== undefined ? null : progressBar('runs', runs, { stream: process.stderr, quietOnPipe: true });
  const summary = await runCrashTests({
    runs,
    seed: options.seed,
    opsPerRun: options.ops,
    store,
    faults,
    ...(options.run === undefined ? {} : { only: options.run }),
    ...(progress === null ? {} : { onProgress: (done: number) => progress.update(done) }),
  });
  progress?.stop();
  const replay = (run: number): string => replayCommand(options, faults, store, run);
  if (options.json === true) {
    const failures = summary.failures.map((failure) => ({ ...failure, replay: replay(failure.run) }));
    process.stdout.write(
      `${JSON.stringify({ runs: summary.runs, faults: summary.faults, checks: summary.checks, violations: summary.violations, seed: summary.seed, ms: summary.ms, failures })}\n`,
    );
  } else {
    printSummary(summary, options.ops, replay);
  }
  return summary.violations === 0;
}

function selectFaults(options: CrashTestCommand): FaultKind[] {
  const faults = [...(options.faults ?? FAULT_KINDS.filter((kind) => !REAL_SYSTEM_FAULTS.includes(kind)))];
  if (options.kill === true && !faults.includes('kill')) faults.push('kill');
  return faults;
}

/** Parses --faults: a comma-separated list of fault kinds. */
export function parseFaults(value: string): FaultKind[] {
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(FAULT_KINDS as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown fault '${name}' (${FAULT_KINDS.join(', ')})`);
  }
  return names as FaultKind[];
}

function replayCommand(options: CrashTestCommand, faults: readonly FaultKind[], store: StoreKind, run: number): string {
  const parts = [
    'fanlog crash-test',
    `--seed ${options.seed}`,
    `--run ${run}`,
    `--runs ${Math.max(options.runs, run + 1)}`,
    `--ops ${options.ops}`,
    `--faults ${faults.join(',')}`,
  ];
  if (faults.includes('kill') || faults.includes('lock')) parts.push(`--store ${store}`);
  return parts.join(' ');
}

function printSummary(summary: CrashTestSummary, ops: number, replay: (run: number) => string): void {
  const say = (line = ''): void => void process.stdout.write(`${line}\n`);
  const faults = Object.entries(summary.faults)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([kind, count]) => `${kind} ${n(count)}`);
  const injected = Object.values(summary.faults).reduce((total, count) => total + count, 0);
  say(`fanlog crash-test: seed ${summary.seed}, ${n(summary.runs)} runs of ${n(ops)} operations`);
  say(`  faults injected   ${n(injected)} (runs that ended before their fault count as none)`);
  for (let i = 0; i < faults.length; i += 4) say(`                    ${faults.slice(i, i + 4).join(', ')}`);
  say(`  checks            ${n(summary.checks)}`);
  say(`  violations        ${n(summary.violations)}`);
  say(`  time              ${(summary.ms / 1000).toFixed(1)} s`);
  for (const failure of summary.failures) {
    say();
    say(`  run ${failure.run} (${failure.fault}, run seed ${failure.runSeed}): invariant ${failure.invariant}: ${failure.what}`);
    say(`    replay: ${replay(failure.run)}`);
  }
  if (summary.failures.length < summary.violations) say(`  … and ${n(summary.violations - summary.failures.length)} more`);
}
