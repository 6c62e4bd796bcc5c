#!/usr/bin/env node
/**
 * The `fanlog` command line. Expected failures print `fanlog: CODE: message`
 * on stderr and exit 1 (2 for usage errors), without a stack trace; anything
 * else is a bug and crashes loudly.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { FanlogError } from '../errors.js';
import { runDemo, runDemoWorker } from './demo.js';

function parseCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 100_000_000) {
    throw new InvalidArgumentError(`expected a whole number from 1 to 100000000, got '${value}'`);
  }
  return count;
}

const program = new Command()
  .name('fanlog')
  .description('Crash-consistent changelog for filesystem events and permission decisions')
  .version('0.1.0')
  .exitOverride();

program
  .command('demo')
  .description('The HSM scenario: stub files, an HSM daemon, processes, a backup consumer, a restart and a SIGKILL, then a summary')
  .option('--dir <dir>', 'directory for the demo engine (emptied first)', './fanlog-data')
  .option('--files <n>', 'stub files in the archive', parseCount, 2000)
  .option('--seed <n>', 'seed for the workload', parseCount, 1)
  .action(async (options: { dir: string; files: number; seed: number }) => {
    await runDemo(options);
  });

program
  .command('demo-worker', { hidden: true })
  .description('the demo child process (killed by the demo)')
  .requiredOption('--dir <dir>', 'engine directory')
  .option('--seed <n>', 'seed', parseCount, 1)
  .action(async (options: { dir: string; seed: number }) => {
    await runDemoWorker(options);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof FanlogError) {
    process.stderr.write(`fanlog: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
