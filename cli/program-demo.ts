/**
 * The demo commands: `demo` (the HSM scenario, `--real` on the kernel's own
 * events) and the hidden children it starts. main.ts adds them.
 */
import type { Command } from 'commander';
import { runDemo, runDemoWorker } from './demo.js';
import { parseCount } from './parse.js';

export function addDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('The HSM scenario: stub files, an HSM daemon, processes, a backup consumer, a restart and a SIGKILL, then a summary')
    .option(
      '--dir <dir>',
      'directory for the demo engine (emptied first if it holds an earlier demo; a directory holding anything else is refused)',
      './fanlog-data',
    )
    .option('--files <n>', 'stub files in the archive', parseCount, 2000)
    .option('--seed <n>', 'seed for the workload', parseCount, 1)
    .option('--redis <url>', 'also replicate into a Redis stream (redis://host:port) and check a remote backup reader against the local one')
    .option(
      '--real',
      "the kernel's own permission events on a loop-mounted ext4 (root, Linux 6.14+), with a handler under fanlog supervise SIGKILLed midway (at most 24 files)",
    )
    .action(async (options: { dir: string; files: number; seed: number; redis?: string; real?: boolean }) => {
      if (options.real !== true) return await runDemo(options);
      const { runRealDemo } = await import('./demo-real.js');
      await runRealDemo({ files: Math.min(options.files, 24), seed: options.seed });
    });

  program.command('demo-hsm-handler <dir> <mount> <archive>', { hidden: true }).action(async (dir: string, mount: string, archive: string) => {
    const { runHsmHandler } = await import('./demo-real.js');
    await runHsmHandler(dir, mount, archive);
  });

  program
    .command('demo-worker', { hidden: true })
    .description('the demo child process (killed by the demo)')
    .requiredOption('--dir <dir>', 'engine directory')
    .option('--seed <n>', 'seed', parseCount, 1)
    .action(async (options: { dir: string; seed: number }) => {
      await runDemoWorker(options);
    });
}
