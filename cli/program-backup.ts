/**
 * The incremental backup's commands: `mark LABEL` (a durable note that
 * bounds a backup) and `changes --since SEQ` (one line per object changed
 * since, with its state now). Beside an application that holds the engine
 * they go through its socket, or (`changes` on an lmdb engine) read it
 * read-only without its lock (cli/engine-access.ts). main.ts adds them.
 */
import type { Command } from 'commander';
import { maskNames } from '../engine/notify/masks.js';
import { toJson } from './commands.js';
import { withEngineAccess } from './engine-access.js';
import { type Common, DIR_HELP, parseCount, parseSeq, parseWait, STORE_HELP, WAIT_HELP, waitOf } from './parse.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);

export function addBackupCommands(program: Command): void {
  program
    .command('mark')
    .description('Journal a mark: a note with LABEL that every consumer gets; prints its seq once it is durable')
    .argument('<label>', "what the mark says, e.g. 'backup-42 begins'")
    .option('--dir <dir>', DIR_HELP, './fanlog-data')
    .option('--store <kind>', STORE_HELP)
    .option('--json', 'one JSON object: seq and label')
    .option('--wait [ms]', WAIT_HELP, parseWait)
    .action(async (label: string, options: Common & { wait?: unknown }) => {
      await withEngineAccess({ ...options, ...waitOf(options.wait) }, async (access) => {
        const seq = await access.mark(label);
        out(options.json === true ? toJson({ seq, label }) : `mark ${seq}: ${label}`);
      });
    });

  program
    .command('changes')
    .description('What changed after a seq, one line per object with its state now (an incremental backup); the last line says the seq to ask from next')
    .requiredOption('--since <seq>', 'the seq of the last backup (a mark, or the seq a previous changes ended at)', parseSeq)
    .option('--prefix <path>', 'only objects at or under this path (one moved out of it too)')
    .option('--max <n>', 'at most N objects (default 100000); the last line says where to go on from', parseCount)
    .option('--dir <dir>', DIR_HELP, './fanlog-data')
    .option('--store <kind>', STORE_HELP)
    .option('--json', 'one JSON object: since, seq, complete and the changes')
    .option('--wait [ms]', WAIT_HELP, parseWait)
    .addHelpText(
      'after',
      '\nEach line: the seq of the last change, the events (CREATE|MODIFY...), then the type and size now and every path, or "gone" and the last path.\nBeside an application it reads an lmdb engine lock-free, and goes through the holder\'s socket otherwise.',
    )
    .action(async (options: Common & { since: bigint; prefix?: string; max?: number; wait?: unknown }) => {
      // Read-only: an lmdb engine is read beside its holder without the lock; the others through its socket.
      await withEngineAccess({ ...options, ...waitOf(options.wait), readOnly: true }, async (access) => {
        const changes = await access.changesSince(options.since, {
          ...(options.prefix === undefined ? {} : { pathPrefix: options.prefix }),
          ...(options.max === undefined ? {} : { max: options.max }),
        });
        if (options.json === true) return out(toJson(changes));
        for (const change of changes.changes) {
          const events = maskNames(change.mask).join('|');
          const state = change.stat === null ? 'gone' : `${typeOf(change.stat.mode)} ${change.stat.size}`;
          out(`${change.lastSeq}\t${events}\t${state}\t${change.paths.join('\t')}`);
        }
        out(`through ${changes.seq}${changes.complete ? '' : ` (more after it: --since ${changes.seq})`}`);
        if (changes.external > 0)
          process.stderr.write(
            `fanlog: changes: ${changes.external} records of a real filesystem's events (fanotify) are not in this answer: read them with a consumer, or fanlog tail\n`,
          );
      });
    });
}

function typeOf(mode: number): string {
  const type = mode & 0o170000;
  return type === 0o040000 ? 'dir' : type === 0o120000 ? 'symlink' : 'file';
}
