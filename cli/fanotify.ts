/**
 * `fanlog fanotify PATH`: a real filesystem's fanotify events journaled
 * into an engine's changelog (`engine.fanotify`, kernel/source.ts) until
 * SIGINT or SIGTERM, from the command line. It needs root, as fanotify
 * groups that report file ids do.
 *
 * It opens the engine in `--dir` (cli/open-engine.ts: a directory that
 * holds none is refused, ENOENT, and left as it was; there is no `--init`,
 * since an engine made by a typo would journal a filesystem into a place
 * nobody reads), marks PATH's filesystem (`--mark filesystem`, default) or
 * its mount (`--mark mount`) for the events of `--mask` (the kernel's event
 * names; by default WATCH_DEFAULT_MASK, or for a mount mark, which the
 * kernel lets report no change to names or attributes,
 * WATCH_MOUNT_DEFAULT_MASK: writes), says that it is watching (on stdout;
 * on stderr under `--json`),
 * and journals until a signal. Then it stops the source (what the kernel
 * reported before the signal is journaled) and prints the source's stats
 * (`--json`: one object). Exit status: 0; 1 when events were lost (an
 * overflow of the kernel's queue, or events the check refused: each is a
 * loss note in the journal, and said on stderr), or when the source failed
 * (`fanlog: CODE: message`, as any failure: EPERM not root, EINVAL an
 * engine on the watched filesystem, ENOENT no such PATH).
 */
import { InvalidArgumentError } from 'commander';
import { MASK_NAMES } from '../engine/notify/masks.js';
import type { FanotifySource, FanotifySourceStats } from '../kernel/source.js';
import { type CommonOptions, toJson } from './commands.js';
import { openEngine } from './open-engine.js';

export interface FanotifyCommand extends CommonOptions {
  path: string;
  mark?: 'filesystem' | 'mount';
  mask?: bigint;
}

const LINUX_BITS = 0xffffffffn;
/** The kernel's permission events: a changelog group (FAN_CLASS_NOTIF) cannot ask for them. */
const PERMISSION_BITS = 0x10000n | 0x20000n | 0x40000n | 0x100000n;

/** `--mark`: 'filesystem' or 'mount'. */
export function parseMarkKind(value: string): 'filesystem' | 'mount' {
  if (value !== 'filesystem' && value !== 'mount') throw new InvalidArgumentError(`expected 'filesystem' or 'mount', got '${value}'`);
  return value;
}

/** `--mask`: the kernel's notification events, as names (CREATE,MODIFY or CREATE|MODIFY, FAN_ optional) or a number below 2^32. */
export function parseKernelMask(value: string): bigint {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(value)) {
    const mask = BigInt(value);
    if (mask > 0n && mask <= LINUX_BITS) return mask;
    throw new InvalidArgumentError(`expected a mask of the kernel's 32 event bits, got '${value}'`);
  }
  let mask = 0n;
  for (const word of value.split(/[|,]/)) {
    const name = word.trim().toUpperCase().replace(/^FAN_/, '');
    const bit = MASK_NAMES.find(([, known]) => known === name)?.[0];
    if (bit === undefined) {
      const names = MASK_NAMES.filter(([known]) => (known & LINUX_BITS) !== 0n && (known & PERMISSION_BITS) === 0n).map(([, known]) => known);
      throw new InvalidArgumentError(`unknown event '${word}': the kernel's notification events are ${names.join(', ')} (or a number)`);
    }
    if ((bit & ~LINUX_BITS) !== 0n) throw new InvalidArgumentError(`'${word}' is fanlog's own event, not one the kernel reports`);
    if ((bit & PERMISSION_BITS) !== 0n) throw new InvalidArgumentError(`'${word}' is a permission event: a changelog journals notifications`);
    mask |= bit;
  }
  return mask;
}

/** `--permission-mask`: the kernel's permission events only (PRE_ACCESS, OPEN_PERM, OPEN_EXEC_PERM, ACCESS_PERM). */
export function parsePermissionMask(value: string): bigint {
  let mask = 0n;
  for (const word of value.split(/[|,]/)) {
    const name = word.trim().toUpperCase().replace(/^FAN_/, '');
    const bit = MASK_NAMES.find(([, known]) => known === name)?.[0];
    if (bit === undefined || (bit & PERMISSION_BITS & LINUX_BITS) === 0n) {
      throw new InvalidArgumentError(`'${word}' is not a permission event the kernel asks about (PRE_ACCESS, OPEN_PERM, OPEN_EXEC_PERM, ACCESS_PERM)`);
    }
    mask |= bit;
  }
  return mask;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function fanotifyCommand(options: FanotifyCommand): Promise<void> {
  // Caught from the start: a SIGTERM as soon as "watching" is said must stop the watch cleanly, not end the process.
  const signals = catchSignals();
  let engine: Awaited<ReturnType<typeof openEngine>>;
  try {
    engine = await openEngine(options);
  } catch (error) {
    signals.dispose();
    throw error;
  }
  let source: FanotifySource | null = null;
  try {
    const mark = options.mark ?? 'filesystem';
    const { WATCH_MOUNT_DEFAULT_MASK } = await import('../kernel/watch.js');
    // A mount mark reports no change to names: its own default, not the filesystem's, which the kernel would refuse.
    const mask = options.mask ?? (mark === 'mount' ? WATCH_MOUNT_DEFAULT_MASK : undefined);
    source = await engine.fanotify({ path: options.path, mark, ...(mask === undefined ? {} : { mask }) });
    // Said once the mark is made, so that a caller knows when changes start to be journaled; on stderr under --json, whose stdout is one object.
    const watching = `watching ${options.path} (${mark} mark) until SIGINT or SIGTERM`;
    if (options.json === true) process.stderr.write(`${watching}\n`);
    else out(watching);
    await Promise.race([signals.signalled, source.done]);
    await source.stop();
    const stats = source.stats();
    if (options.json === true) out(toJson(stats));
    else out(`journaled ${stats.journaled} of ${stats.events} events (${stats.overflows} overflows, ${stats.refused} refused)`);
    sayLosses(stats);
  } finally {
    signals.dispose();
    await source?.stop().catch(() => undefined);
    await engine.close();
  }
}

/** SIGINT and SIGTERM from now on: `signalled` resolves at the first (the source's `done` rejecting ends the wait otherwise); `dispose` lets them go. */
function catchSignals(): { signalled: Promise<void>; dispose: () => void } {
  let onSignal: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => {
    onSignal = resolve;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  return {
    signalled,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Lost events, each a loss note in the journal, said on stderr; they make the exit status 1. */
function sayLosses(stats: FanotifySourceStats): void {
  if (stats.overflows > 0)
    process.stderr.write(`fanlog: fanotify: the kernel's queue overflowed ${stats.overflows} times: events were lost (loss notes in the journal)\n`);
  if (stats.refused > 0) process.stderr.write(`fanlog: fanotify: ${stats.refused} events could not be journaled (loss notes in the journal say why)\n`);
  if (stats.overflows > 0 || stats.refused > 0) process.exitCode = 1;
}
