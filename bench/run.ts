/**
 * `npm run bench -- <suite...> [--quick] [--json] [--only=case,case]
 * [--report FILE.svg]`: runs benchmark suites. Without a suite name it runs them all. Progress and
 * tables go to stderr; with --json, stdout gets one JSON object per suite.
 * Each suite runs in a child process of its own (this script with
 * --child=NAME), so that no suite measures in a heap another left behind.
 * `--only` runs just the named cases of the suites. For a profile, run the
 * suite in this process: `node --cpu-prof dist/bench/run.js --child=engine
 * --only=engine_ops_64`, then `node dist/bench/cpu-top.js CPU.cpuprofile`.
 * `--report FILE.svg` draws the ratios the suites measured (bench/report.ts).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { consumersSuite } from './consumers.js';
import { ratio } from './harness.js';
import { engineSuite } from './engine.js';
import { fanotifySuite } from './fanotify.js';
import { journalSuite } from './journal.js';
import { peersSuite } from './peers.js';
import { permissionsSuite } from './permissions.js';
import { renderReport, reportGroups } from './report.js';
import { replicationSuite } from './replication.js';
import { mirrorSuite } from './mirror.js';

const SUITES = {
  journal: journalSuite,
  engine: engineSuite,
  permissions: permissionsSuite,
  consumers: consumersSuite,
  replication: replicationSuite,
  mirror: mirrorSuite,
  fanotify: fanotifySuite,
  peers: peersSuite,
} as const;
type SuiteName = keyof typeof SUITES;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const childSuite = args.find((arg) => arg.startsWith('--child='))?.slice('--child='.length);
const onlyArg = args.find((arg) => arg.startsWith('--only='));
const only =
  onlyArg === undefined
    ? null
    : new Set(
        onlyArg
          .slice('--only='.length)
          .split(',')
          .filter((name) => name !== ''),
      );
// `--report FILE.svg` or `--report=FILE.svg`.
const reportAt = args.findIndex((arg) => arg === '--report' || arg.startsWith('--report='));
const reportArg = reportAt < 0 ? undefined : args[reportAt];
const reportFile = reportArg === '--report' ? args[reportAt + 1] : reportArg?.slice('--report='.length);
const unknownFlags = args.filter(
  (arg) => arg.startsWith('--') && arg !== '--quick' && arg !== '--json' && arg !== onlyArg && arg !== reportArg && !arg.startsWith('--child='),
);
const names = args.filter((arg, i) => !arg.startsWith('--') && !(reportArg === '--report' && i === reportAt + 1));
const unknownSuites = [...names, ...(childSuite === undefined ? [] : [childSuite])].filter((name) => !(name in SUITES));
if (
  unknownFlags.length > 0 ||
  unknownSuites.length > 0 ||
  (reportArg !== undefined && (reportFile === undefined || reportFile === '' || reportFile.startsWith('--')))
) {
  process.stderr.write(`usage: npm run bench -- [${Object.keys(SUITES).join('|')}] [--quick] [--json] [--only=case,case] [--report FILE.svg]\n`);
  process.exit(2);
}
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

// A suite runs in a process of its own, so that no suite measures in the heap another left behind.
if (childSuite !== undefined) {
  const result = await SUITES[childSuite as SuiteName]({ quick, only, log });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** Runs one suite in a child process (this script with --child=NAME); resolves with its result. */
function runSuiteInChild(name: SuiteName): Promise<Record<string, unknown>> {
  const flags = [`--child=${name}`, ...(quick ? ['--quick'] : []), ...(onlyArg === undefined ? [] : [onlyArg])];
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(JSON.parse(output) as Record<string, unknown>);
      else reject(new Error(`suite ${name} exited with ${code ?? signal}`));
    });
  });
}

const rates: Record<string, number> = {};
const results: Record<string, unknown>[] = [];
for (const name of (names.length > 0 ? names : Object.keys(SUITES)) as SuiteName[]) {
  const result = await runSuiteInChild(name);
  results.push(result);
  Object.assign(rates, (result.recordsPerSecond ?? result.roundTripsPerSecond ?? {}) as Record<string, number>);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
// What the engine does against what the bare journal does, across suites: for reading
// only, since they were measured minutes apart; each suite's targets compare side by side.
const ACROSS: [string, string][] = [
  ['engine_ops_64', 'fanlog_group64'],
  ['engine_ops_1', 'fanlog_single'],
  ['permission_1', 'fanlog_single'],
];
const measured = ACROSS.filter(([a, b]) => rates[a] !== undefined && rates[b] !== undefined);
if (measured.length > 0) log('across suites (minutes apart, for reading only):');
for (const [a, b] of measured) log(`  ${`${a} / ${b}`.padEnd(36)}${ratio(rates[a], rates[b])}`);
if (reportFile !== undefined) {
  const groups = reportGroups(results);
  const title = `npm run bench -- ${args.filter((_arg, i) => i !== reportAt && !(reportArg === '--report' && i === reportAt + 1)).join(' ')}`;
  writeFileSync(reportFile, renderReport(title, groups));
  log(`report: ${groups.length} groups of ratios drawn in ${reportFile}`);
}
