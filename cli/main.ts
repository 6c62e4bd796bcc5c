#!/usr/bin/env node
/**
 * The `fanlog` command line. Expected failures print `fanlog: CODE: message`
 * on stderr and exit 1 (2 for usage errors), without a stack trace; anything
 * else is a bug and crashes loudly.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { FanlogError } from '../errors.js';
import { runJournalDemo } from './demo.js';

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
  .description('Append to a journal on disk, crash it (simulated and real torn writes), recover, and report')
  .option('--dir <dir>', 'directory for the on-disk journal', './fanlog-data')
  .option('--records <n>', 'records to append', parseCount, 200_000)
  .option('--seed <n>', 'seed for the simulated crash', parseCount, 1)
  .action(async (options: { dir: string; records: number; seed: number }) => {
    await runJournalDemo(options);
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
