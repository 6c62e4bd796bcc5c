/**
 * `npm run bench -- <suite...> [--quick] [--json] [--only=case,case]`: runs
 * benchmark suites. Without a suite name it runs them all. Progress and
 * tables go to stderr; with --json, stdout gets one JSON object per suite.
 * `--only` runs just the named cases of the suites (for a profile:
 * `node --cpu-prof dist/bench/run.js engine --only=engine_ops_64`, then
 * `node dist/bench/cpu-top.js CPU.cpuprofile`).
 */
import { consumersSuite } from './consumers.js';
import { ratio } from './harness.js';
import { engineSuite } from './engine.js';
import { journalSuite } from './journal.js';
import { permissionsSuite } from './permissions.js';

const SUITES = { journal: journalSuite, engine: engineSuite, permissions: permissionsSuite, consumers: consumersSuite } as const;
type SuiteName = keyof typeof SUITES;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const onlyArg = args.find((arg) => arg.startsWith('--only='));
const only = onlyArg === undefined ? null : new Set(onlyArg.slice('--only='.length).split(',').filter((name) => name !== ''));
const unknownFlags = args.filter((arg) => arg.startsWith('--') && arg !== '--quick' && arg !== '--json' && arg !== onlyArg);
const names = args.filter((arg) => !arg.startsWith('--'));
const unknownSuites = names.filter((name) => !(name in SUITES));
if (unknownFlags.length > 0 || unknownSuites.length > 0) {
  process.stderr.write(`usage: npm run bench -- [${Object.keys(SUITES).join('|')}] [--quick] [--json] [--only=case,case]\n`);
  process.exit(2);
}
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const rates: Record<string, number> = {};
for (const name of (names.length > 0 ? names : Object.keys(SUITES)) as SuiteName[]) {
  const result = await SUITES[name]({ quick, only, log });
  Object.assign(rates, 'recordsPerSecond' in result ? result.recordsPerSecond : result.roundTripsPerSecond);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
// The write path's targets that compare suites, for the cases this run measured (issue 12).
const CROSS_TARGETS: [string, string, number][] = [
  ['engine_ops_64', 'fanlog_group64', 0.8],
  ['engine_ops_1', 'fanlog_single', 0.8],
  ['permission_1', 'fanlog_single', 0.3],
];
const measured = CROSS_TARGETS.filter(([a, b]) => rates[a] !== undefined && rates[b] !== undefined);
if (measured.length > 0) log('across suites (one run):');
for (const [a, b, target] of measured) log(`  ${`${a} / ${b}`.padEnd(36)}${ratio(rates[a], rates[b])}  (target >= ${target}x)`);
