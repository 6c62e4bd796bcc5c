/**
 * The commands that run beside an application holding the engine, through
 * its socket when it serves one (cli/engine-access.ts): `trigger`, and
 * `top`. main.ts adds them to the program.
 */
import type { Command } from 'commander';
import { DIR_HELP, parseCount, parseFilter, parseMask, STORE_HELP, usage, WAIT_HELP, parseWait, waitOf, type Common } from './parse.js';

export function addBesideCommands(program: Command): void {
  program
    .command('trigger')
    .description('Run CMD on each batch of a durable consumer, the records as JSON lines on its stdin; acknowledge a batch only once CMD exits 0')
    .argument('<name>', 'the consumer (registered on first use)')
    .argument('<command...>', 'CMD and its arguments, after --')
    .option('--from <where>', "on first use: 'oldest' or 'next'", 'oldest')
    .option('--mask <events>', 'on first use: only records with one of these events (CREATE,MODIFY or a number)', parseMask)
    .option('--filter <name=arg>', 'on first use: attach a built-in filter (path-prefix=/projects)', parseFilter)
    .option('--batch <n>', 'records per batch at most (default 1000)', parseCount)
    .option('--retry-ms-max <ms>', 'the longest wait before running a failed batch again (default 30000)', parseCount)
    .option('--open', 'with no application serving the engine, open it (and hold its lock) rather than wait for one')
    .option('--dir <dir>', DIR_HELP, './fanlog-data')
    .option('--store <kind>', STORE_HELP)
    .option('--wait [ms]', `with --open: ${WAIT_HELP}`, parseWait)
    .addHelpText(
      'after',
      "\ntrigger works through the socket of the application that holds the engine, and waits for one (never taking the lock) unless --open. It runs until SIGINT or SIGTERM. CMD's environment has FANLOG_TRIGGER, FANLOG_FIRST_SEQ, FANLOG_LAST_SEQ and FANLOG_RECORDS.",
    )
    .action(
      async (
        name: string,
        command: string[],
        options: Common & {
          from: string;
          mask?: bigint;
          filter?: { name: string; argument: string };
          batch?: number;
          retryMsMax?: number;
          open?: boolean;
          wait?: unknown;
        },
      ) => {
        if (options.from !== 'oldest' && options.from !== 'next') usage(`--from is 'oldest' or 'next', not '${options.from}'`);
        const { triggerCommand } = await import('./trigger.js');
        await triggerCommand({ ...options, ...waitOf(options.wait), from: options.from, name, command });
      },
    );

  program
    .command('top')
    .description(
      "A live view of the engine, from the application that holds it (through its socket), redrawn every second: head and durable seq, entries per second, fdatasync p50 and p99, each consumer's lag, each group's queued and pending events",
    )
    .option('--dir <dir>', DIR_HELP, './fanlog-data')
    .addHelpText(
      'after',
      '\nq quits (also Ctrl-C, SIGTERM). It needs a terminal; fanlog stat --json gives figures to a script. While no process serves the engine (none holds it, or it was opened with serve: false) it says so and waits for one.',
    )
    .action(async (options: { dir: string }) => {
      const { topCommand } = await import('./top.js');
      await topCommand(options);
    });
}
