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
