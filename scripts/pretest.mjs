// `npm test` runs this first, and says what it does while it does it (it
// takes the better part of a minute on two cores, before the first test):
// the system tools the tests need (ensure-test-tools.mjs), a type-check of
// everything, tests and benches included, and the build of dist/, which
// the tests of the command line and the examples run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const steps = [
  ['the system tools the tests need (redis-server, mkfs.ext4, losetup, python3, gcc, tmux)', [process.execPath, 'scripts/ensure-test-tools.mjs']],
  ['type-checking (tsc --noEmit)', ['npm', 'run', 'typecheck', '--silent']],
  ['building dist/ (npm run build)', ['npm', 'run', 'build', '--silent']],
];
for (const [what, [command, ...args]] of steps) {
  process.stderr.write(`pretest: ${what}…\n`);
  const started = performance.now();
  const run = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) {
    process.stderr.write(`pretest: ${what} failed${run.signal === null ? '' : ` (${run.signal})`}\n`);
    process.exit(run.status ?? 1);
  }
  process.stderr.write(`pretest: ${what}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
