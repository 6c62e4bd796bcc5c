#!/usr/bin/env node
/**
 * The `fanlog` command line. Expected failures print `fanlog: CODE: message` on stderr and exit 1
 * (2 for usage errors), without a stack trace, and so does a system error no check foresaw (Node's
 * message names its code and path); anything else is a bug and crashes loudly.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { FanlogError, isSystemError } from '../errors.js';
import { FAULT_KINDS } from '../crash/campaign.js';
import { consumersCommand, init, stat } from './commands.js';
import { follow, tail } from './tail.js';
import type { ReplicateCommand } from './replicate.js';
import { discardMadeEngines } from './open-engine.js';
import { FAN_DENY_ERRNO, FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import {
  type Common,
  DIR_HELP,
  initOf,
  INIT_HELP,
  parseCount,
  parseFilter,
  parseIndex,
  parseMask,
  parseSeed,
  parseSeq,
  parseStopPolicy,
  parseTrim,
  parseWait,
  STORE_HELP,
  usage,
  WAIT_HELP,
  waitOf,
} from './parse.js';
import { addBesideCommands } from './program-beside.js';
import { addBackupCommands } from './program-backup.js';
import { repair, repairWorker } from './repair.js';
import { verify } from './verify.js';
import { crashTest, type CrashTestCommand, parseFaults } from './crash-test.js';
import { addDemoCommands } from './program-demo.js';
import { fanotifyCommand, parseKernelMask, parseMarkKind, parsePermissionMask } from './fanotify.js';

// `fanlog tail | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

/** The version is package.json's, read where the package is installed (dist/cli/ is two levels below it). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

const program = new Command()
  .name('fanlog')
  .description('Crash-consistent changelog for filesystem events and permission decisions')
  .version(packageVersion())
  .exitOverride();

addDemoCommands(program);

program
  .command('init')
  .description('Create an engine directory (an existing engine is left as it is)')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', "the MetaStore: 'lmdb' (default), 'level' or 'files'")
  .option('--changelog-mask <events>', 'the events the changelog keeps, durably (default every event); on an engine that exists, changes it', parseMask)
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .action(async (options: Common & { wait?: unknown; changelogMask?: bigint }) => init({ ...options, ...waitOf(options.wait) }));

program
  .command('stat')
  .description('Lock-free, beside a running application: journal id, oldest/head/durable seq, segments and bytes, last checkpoint, consumers with lag, groups')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--json', 'one JSON object, with the metrics this view can tell')
  .option('--prometheus', "the metrics in Prometheus' text exposition format (for node_exporter's textfile collector)")
  .action(async (options: Common & { prometheus?: boolean }) => {
    if (options.json === true && options.prometheus === true) usage('--json and --prometheus: choose one');
    return stat(options);
  });

program
  .command('tail')
  .description('Print the changelog, one line per record in the style of lfs changelog (or JSON lines)')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--from <seq>', 'first seq to print (default: the oldest retained)', parseSeq)
  .option('--to <seq>', 'last seq to print (default: the last written; with --follow, stop there)', parseSeq)
  .option('--mask <events>', 'without --consumer: only records with one of these events (CREATE,MODIFY or a number); records without a mask always', parseMask)
  .option('--filter <name=arg>', 'without --consumer: only records a built-in filter passes (path-prefix=/projects, mask=HEX)', parseFilter)
  .option('--consumer <name>', 'read through this consumer (from after its cursor)')
  .option('--ack', 'with --consumer: acknowledge what was printed')
  .option('--follow', 'keep printing new records as they are written, until interrupted')
  .option('--json', 'one JSON object per line')
  .option(
    '--format <format>',
    "'text' (fanlog's line, default), 'json', or 'lfs': lfs changelog's line, byte for byte (records Lustre has no type for are left out)",
    'text',
  )
  .option('--wait [ms]', `with --consumer: ${WAIT_HELP}`, parseWait)
  .addHelpText('after', '\nWithout --consumer, tail reads the segment files lock-free, beside a running application, and prints what was written.')
  .action(
    async (
      options: Common & {
        from?: bigint;
        to?: bigint;
        mask?: bigint;
        filter?: { name: string; argument: string };
        consumer?: string;
        ack?: boolean;
        follow?: boolean;
        wait?: unknown;
        format: 'text' | 'json' | 'lfs';
      },
    ) => {
      if (!['text', 'json', 'lfs'].includes(options.format)) usage(`--format is text, json or lfs, not '${options.format}'`);
      if (options.json === true && options.format !== 'text' && options.format !== 'json') usage('--json and --format lfs: choose one');
      if (options.follow === true && options.consumer !== undefined)
        usage('--follow reads the segments without opening the engine; --consumer needs the engine: use one or the other');
      if (options.ack === true && options.consumer === undefined) usage('--ack needs --consumer');
      if (options.wait !== undefined && options.consumer === undefined) usage('--wait is for --consumer: without it tail takes no lock');
      if (options.consumer !== undefined && (options.mask !== undefined || options.filter !== undefined))
        usage('--mask and --filter select records lock-free; a consumer selects with its own mask and filter (consumers register --mask, --filter)');
      if (options.to !== undefined && options.from !== undefined && options.to < options.from) usage(`--to ${options.to} is before --from ${options.from}`);
      return options.follow === true ? follow(options) : tail({ ...options, ...waitOf(options.wait) });
    },
  );

program
  .command('verify')
  .description(
    "Read every segment, frame and stored value without changing anything; exit 1 listing the damage: the journal's first (file and byte offset) and every damaged store key, once each",
  )
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--json', 'one JSON object')
  .action(async (options: { dir: string; json?: boolean }) => {
    if (!(await verify(options))) process.exitCode = 1;
  });

program
  .command('repair')
  .description('Rebuild a damaged MetaStore from the journal (--rebuild-store), with the engine closed; the old store is kept beside it')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--rebuild-store', 'rebuild the store: the filesystem from a sound checkpoint or from seq 1, groups and consumers from their sound values')
  .option('--store <kind>', "the store kind, when the directory's marker is damaged")
  .option('--json', 'one JSON object')
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .action(async (options: { dir: string; rebuildStore?: boolean; store?: 'lmdb' | 'level' | 'files'; json?: boolean; wait?: number }) => {
    if (options.rebuildStore !== true) usage('repair needs --rebuild-store');
    await repair({ ...options, ...waitOf(options.wait) });
  });

program
  .command('repair-worker', { hidden: true })
  .description('the salvaging rebuild of repair, in a child process (a damaged store may crash its reader)')
  .requiredOption('--dir <dir>', 'engine directory')
  .requiredOption('--store <kind>', 'store kind')
  .action(async (options: { dir: string; store: 'lmdb' | 'level' | 'files' }) => {
    await repairWorker(options);
  });

program
  .command('consumers')
  .description('Manage changelog consumers: list | register NAME | deregister NAME | ack NAME SEQ | ack NAME --head')
  .argument('<action>', 'list, register, deregister or ack')
  .argument('[name]', 'consumer name')
  .argument('[seq]', 'for ack: the seq to acknowledge through', parseSeq)
  .option('--head', "for ack: acknowledge everything durable now (Lustre's changelog_clear … 0)")
  .option('--from <where>', "for register: 'oldest' or 'next'", 'oldest')
  .option('--mask <events>', 'for register: only records with one of these events, as names (CREATE,MODIFY) or a number', parseMask)
  .option('--lag-records-max <n>', 'for register: evict when more than N records behind', parseCount)
  .option('--idle-ms-max <ms>', 'for register: evict when neither reading nor acknowledging for MS ms', parseCount)
  .option('--filter <name=arg>', 'for register: attach a registered filter, e.g. path-prefix=/projects', parseFilter)
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--json', 'JSON output (list)')
  .option('--wait [ms]', `for register, deregister and ack: ${WAIT_HELP}`, parseWait)
  .addHelpText('after', '\n`list` is lock-free, beside a running application; the other actions open the engine.')
  .action(
    async (
      action: string,
      name: string | undefined,
      seq: bigint | undefined,
      options: Common & {
        from: 'oldest' | 'next';
        wait?: unknown;
        mask?: bigint;
        lagRecordsMax?: number;
        idleMsMax?: number;
        filter?: { name: string; argument: string };
        head?: boolean;
      },
    ) => {
      if (!['list', 'register', 'deregister', 'ack'].includes(action)) usage(`unknown consumers action '${action}' (list, register, deregister, ack)`);
      if (action !== 'list' && name === undefined) usage(`'${action}' needs a consumer name`);
      if (action === 'ack' && (seq === undefined) === (options.head !== true)) usage("'ack' needs a seq, or --head for everything durable now (not both)");
      if (options.head === true && action !== 'ack') usage('--head is for ack');
      const registering = [options.mask, options.lagRecordsMax, options.idleMsMax, options.filter].some((option) => option !== undefined);
      if (registering && action !== 'register') usage('--mask, --lag-records-max, --idle-ms-max and --filter are for register');
      await consumersCommand({ ...options, ...waitOf(options.wait), action, ...(name === undefined ? {} : { name }), ...(seq === undefined ? {} : { seq }) });
    },
  );

program
  .command('replicate')
  .description('Replicate the changelog into a Redis stream, exactly once by seq, until caught up (or, with --follow, until interrupted)')
  .requiredOption('--redis <url>', 'redis://host:port[/db]')
  .requiredOption('--stream <name>', 'the stream')
  .option('--follow', 'keep replicating until SIGINT or SIGTERM')
  .option('--mask <events>', 'only records with one of these events (records without a mask always), on first use', parseMask)
  .option('--filter <name=arg>', 'attach a built-in filter to its consumer, on first use (path-prefix=/projects)', parseFilter)
  .option('--batch <n>', 'records per batch: one script call, one ack (default 1000)', parseCount)
  .option('--trim <acked|n>', "after each batch, trim what every group acknowledged ('acked'), or to N entries", parseTrim)
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--json', "the replicator's stats as one JSON object")
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .option('--init', INIT_HELP)
  .action(async (options: ReplicateCommand & { wait?: number; init?: boolean }) => {
    const { replicateCommand } = await import('./replicate.js');
    await replicateCommand({ ...options, ...waitOf(options.wait), ...initOf(options.init) });
  });

program
  .command('mirror <source>')
  .description('Mirror a real directory into the engine: a scan, then (unless --once) watch it until SIGINT or SIGTERM')
  .option('--once', 'scan once and exit')
  .option('--into <path>', "where in the engine's filesystem (an existing directory)", '/')
  .option('--ignore <name>', 'leave out entries of this name, and what is below them (repeatable)', (value: string, previous: string[] = []) => [
    ...previous,
    value,
  ])
  .option('--rescan-every <ms>', 'a full scan this often', parseCount)
  .option('--settle <ms>', 'apply hints once none came for this long (default 50)', parseCount)
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--json', "the mirror's stats as one JSON object")
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .option('--init', INIT_HELP)
  .action(
    async (
      source: string,
      options: Common & { once?: boolean; into?: string; ignore?: string[]; rescanEvery?: number; settle?: number; wait?: unknown; init?: boolean },
    ) => {
      const { mirrorCommand } = await import('./mirror.js');
      await mirrorCommand({ ...options, ...waitOf(options.wait), ...initOf(options.init), source });
    },
  );

program
  .command('fanotify <path>')
  .description("Journal a real filesystem's fanotify events (as root) until SIGINT or SIGTERM")
  .option('--mark <kind>', "'filesystem' (all of the filesystem PATH is on) or 'mount' (its mount only)", parseMarkKind, 'filesystem')
  .option('--mask <list>', 'kernel events, as names (CREATE,DELETE,ONDIR) or a number (default: changes to names, contents and attributes)', parseKernelMask)
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--store <kind>', STORE_HELP)
  .option('--json', "the source's stats as one JSON object")
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .action(async (target: string, options: Common & { mark: 'filesystem' | 'mount'; mask?: bigint; wait?: unknown }) => {
    await fanotifyCommand({ ...options, ...waitOf(options.wait), path: target });
  });

program
  .command('redis-tail')
  .description("Print a replicated stream's entries as tail prints records: all of them, or through a consumer group")
  .requiredOption('--redis <url>', 'redis://host:port[/db]')
  .requiredOption('--stream <name>', 'the stream')
  .option('--group <group>', 'read through this consumer group (created if missing)')
  .option('--consumer <name>', "with --group: this reader's name in it", 'redis-tail')
  .option('--ack', 'with --group: acknowledge what was printed')
  .option('--json', 'one JSON object per line')
  .action(async (options: { redis: string; stream: string; group?: string; consumer?: string; ack?: boolean; json?: boolean }) => {
    if (options.ack === true && options.group === undefined) usage('--ack needs --group');
    const { redisTail } = await import('./replicate.js');
    await redisTail(options);
  });

program
  .command('export')
  .description("The changelog's events and permission requests as fanotify's binary event stream (lock-free, beside a running application)")
  .option('--format <format>', "the stream's format: fanotify, the only one (the default)", 'fanotify')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--from <seq>', 'first seq to export (default: the oldest retained)', parseSeq)
  .option('--linux-only', "drop fanlog's own high mask bits (FAN_PRE_MODIFY becomes FAN_PRE_ACCESS, flagged by a FANLOG_WRITE info record)")
  .option('--page-align', 'widen pre-content ranges to whole pages, as mainline Linux reports them')
  .option('--out <file>', 'write to FILE instead of stdout')
  .action(async (options: { dir: string; format: string; from?: bigint; linuxOnly?: boolean; pageAlign?: boolean; out?: string }) => {
    const { exportCommand } = await import('./export.js');
    await exportCommand(options);
  });

program
  .command('import')
  .description("Replay a captured fanotify event stream into the engine's changelog, as event records with no operation behind them")
  .option('--format <format>', "the stream's format: fanotify, the only one (the default)", 'fanotify')
  .argument('<file>', 'the captured stream')
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .option('--wait [ms]', WAIT_HELP, parseWait)
  .option('--init', INIT_HELP)
  .action(async (file: string, options: { dir: string; format: string; wait?: number; init?: boolean }) => {
    const { importCommand } = await import('./export.js');
    await importCommand({ ...options, ...waitOf(options.wait), ...initOf(options.init), file });
  });

program
  .command('supervise')
  .description(
    'Run a handler (CMD, whose engine.fanotify takes what the supervisor holds) so that killing it loses no permission event: the supervisor holds the kernel groups and their events, and restarts CMD',
  )
  .argument('<command...>', 'the handler and its arguments, after --')
  .requiredOption('--path <path>', 'a path on the real filesystem: its filesystem (or mount) is marked')
  .option('--mark <kind>', "'filesystem' or 'mount'", 'filesystem')
  .option('--group <name>', 'hold permission events for this engine group (the handler creates it)')
  // A bigint default is shown by its name: the help prints defaults as JSON, which has no bigint.
  .addOption(
    new Option('--permission-mask <events>', 'the permission events (PRE_ACCESS, OPEN_PERM, OPEN_EXEC_PERM, ACCESS_PERM)')
      .argParser(parsePermissionMask)
      .default(FAN_PRE_ACCESS, 'PRE_ACCESS'),
  )
  .option('--mask <events>', "also hold a changelog group of these events (the handler's mask option)", parseKernelMask)
  .option(
    '--stop-policy <answer>',
    "the answer to every event unanswered when the supervisor stops: 'deny-eio' (default), 'deny' or 'allow'",
    parseStopPolicy,
    FAN_DENY_ERRNO(5),
  )
  .option('--stop-timeout <ms>', 'on SIGTERM, SIGKILL the handler after this long', parseCount, 10_000)
  .option('--dir <dir>', DIR_HELP, './fanlog-data')
  .action(
    async (
      command: string[],
      options: { dir: string; path: string; mark: string; group?: string; permissionMask: bigint; mask?: bigint; stopPolicy: number; stopTimeout: number },
    ) => {
      if (options.mark !== 'filesystem' && options.mark !== 'mount') usage(`--mark is 'filesystem' or 'mount', not '${options.mark}'`);
      const { superviseCommand } = await import('./supervise.js');
      await superviseCommand({ ...options, mark: options.mark, command });
    },
  );

addBesideCommands(program);
addBackupCommands(program);

program
  .command('crash-test')
  .description('Seeded crash campaign: a mixed workload per run, a fault, recovery, and every invariant of docs/design.md checked; exit 1 on any violation')
  .option('--runs <n>', 'runs to make', parseCount, 100)
  .option('--seed <n>', 'campaign seed: the same seed makes the same runs', parseSeed, 1)
  .option('--ops <n>', 'filesystem operations per run', parseCount, 60)
  .option('--faults <list>', `comma-separated, from ${FAULT_KINDS.join(', ')} (default: all but kill and lock, which need real processes)`, parseFaults)
  .option('--kill', 'add kill runs: a child process on a real disk, SIGKILLed at a random moment')
  .option('--store <kind>', "store for kill and lock runs: 'lmdb' or 'level' (simulated runs use 'files'; store-damage runs take each store in turn)", 'lmdb')
  .option('--run <k>', 'replay only run K of this seed', parseIndex)
  .option('--json', 'one JSON object: runs, faults, checks, violations, seed, failures')
  .action(async (options: CrashTestCommand) => {
    if (!(await crashTest(options))) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // A command that failed leaves no engine it made with --init.
  await discardMadeEngines();
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof FanlogError) {
    process.stderr.write(`fanlog: ${error.message}\n`);
    process.exitCode = 1;
  } else if (isSystemError(error)) {
    // The disk refused something no check foresaw (a layout changed by hand): Node's message names the code and the path.
    const { code, message } = error as NodeJS.ErrnoException;
    process.stderr.write(`fanlog: ${message.startsWith(`${code}:`) ? message : `${code}: ${message}`}\n`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
