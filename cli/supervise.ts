/**
 * `fanlog supervise --path P [--group G] [--mask LIST] --dir D -- CMD ARGS…`:
 * runs a handler (CMD, whose `engine.fanotify(...)` takes what this process
 * holds) so that killing it loses no permission event (kernel/supervisor.ts
 * says why the supervisor holds the groups and reads the events).
 *
 * States:
 *   starting ──groups made, marks added, the engine's watch state taken
 *     (kernel/watch-state.ts: EBUSY while another process watches; the gap
 *     since the last watch is a loss the first CMD journals)──▶ running:
 *     CMD runs with the
 *     channel at fd 3, the permission group at 4, the changelog group at 5
 *     and its read tally at 6 (FANLOG_SUPERVISOR says which), and every
 *     held event sent to it; a loss the last CMD left (it died holding
 *     changelog events it had read and not journaled: kernel/read-tally.ts)
 *     is told to the next, which journals its loss note first
 *   running ──CMD exits or is killed──▶ waiting (a backoff: 100 ms,
 *     doubling to 5 s, back to 100 ms after a run of 10 s) ──▶ running
 *   running ──CMD cannot be spawned (ENOENT, EACCES)──▶ stopping, exit 1
 *   running|waiting ──SIGTERM, SIGINT or SIGHUP──▶ stopping:
 *     1. CMD gets SIGTERM (SIGKILL --stop-timeout ms after the signal) and
 *        is waited for;
 *     2. the marks are removed, so that no new event comes, and what the
 *        kernel still holds is read;
 *     3. the engine at D is opened, and every event still held is answered
 *        by the stop policy (default FAN_DENY_ERRNO(EIO)), journaled as a
 *        decision like any other: those CMD journaled and did not answer
 *        are resurrected and decided, the others journaled and decided;
 *     4. if the engine cannot be opened (or has no such group), the events
 *        are answered by the policy all the same, and that is said;
 *     5. a loss the last CMD left and none journaled is journaled, then
 *        what the kernel still queues for the changelog group;
 *     6. the watch state says stopped (unless step 5 failed), the groups
 *        close; exit 0 (1 if step 3 or 5 failed).
 * Nothing held is ever left for the kernel to allow: the kernel lets every
 * pending event through only when the last descriptor of its group closes,
 * which this process holds until step 5. If this process is itself
 * SIGKILLed, the handler's copies keep the groups alive while it runs;
 * once they close too, the kernel allows what is pending (docs/guide/fanotify.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { Engine } from '../fanlog.js';
import { FanlogError } from '../errors.js';
import { SUPERVISOR_ENV } from '../kernel/feeds.js';
import { KernelPermissions } from '../kernel/permission.js';
import { HeldGroups } from '../kernel/supervisor.js';
import { watchGroup } from '../kernel/watch.js';
import { writeResponse } from '../kernel/syscalls.js';
import { openEngine } from './open-engine.js';
import { holdsEngine } from '../engine/engine-dir.js';
import { NodeIo } from '../journal/node-io.js';

export interface SuperviseCommand {
  dir: string;
  path: string;
  mark: 'filesystem' | 'mount';
  group?: string;
  permissionMask: bigint;
  mask?: bigint;
  stopPolicy: number;
  stopTimeout: number;
  command: string[];
}

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;
const RUN_RESETS_BACKOFF_MS = 10_000;

const say = (line: string): void => {
  process.stderr.write(`fanlog supervise: ${line}\n`);
};

export async function superviseCommand(options: SuperviseCommand): Promise<void> {
  if (options.command.length === 0) throw new FanlogError('EINVAL', 'supervise needs a command to run: fanlog supervise [options] -- CMD ARGS…');
  if (options.group === undefined && options.mask === undefined)
    throw new FanlogError('EINVAL', 'supervise holds permission events (--group) or a changelog (--mask), or both');
  // A changelog's watch is recorded in the engine's directory (kernel/watch-state.ts): a --dir that holds none is a mistake.
  if (options.mask !== undefined && !(await holdsEngine(new NodeIo(), options.dir)))
    throw new FanlogError('ENOENT', `no fanlog engine in ${options.dir} (fanlog init makes one)`, { file: options.dir });
  const held = holdGroups(options);
  let stopping = false;
  let child: ChildProcess | null = null;
  let backoff = BACKOFF_FIRST_MS;
  let wake: (() => void) | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  // SIGHUP too: a closed terminal must not end the supervisor with its events unanswered.
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (child !== null) {
      child.kill('SIGTERM');
      // The handler has --stop-timeout ms to stop by itself, whatever the loop below awaits.
      const running = child;
      killTimer = setTimeout(() => running.kill('SIGKILL'), options.stopTimeout);
    }
    wake?.();
  };
  for (const signal of signals) process.on(signal, stop);
  held.startReading((error) => say(`reading the permission group failed: ${error.message}`));
  try {
    while (!stopping) {
      const started = Date.now();
      child = run(held, options.command);
      if (child.pid !== undefined) say(`started ${options.command[0]} (pid ${child.pid})`);
      const { code, signal, spawnError } = await exited(child);
      held.detach();
      const how = signal === null ? `exited ${code}` : `was killed by ${signal}`;
      const warning = held.handlerExited(child.pid, how);
      if (warning !== null) say(warning);
      child = null;
      if (spawnError !== null) {
        // Not a handler that died: one that cannot run. Retrying would keep the readers waiting for nothing.
        say(`cannot run ${options.command[0]}: ${spawnError.message}; stopping`);
        stopping = true;
        process.exitCode = 1;
      }
      if (stopping) break;
      backoff = Date.now() - started >= RUN_RESETS_BACKOFF_MS ? BACKOFF_FIRST_MS : backoff;
      say(`${options.command[0]} ${how}; ${held.heldCount} events held; restarting in ${backoff} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
    if (child !== null) await stopChild(child, options.stopTimeout);
    held.detach();
    held.drainForStop();
    if (!(await finishStop(held, options))) process.exitCode = 1;
  } finally {
    if (killTimer !== null) clearTimeout(killTimer);
    for (const signal of signals) process.off(signal, stop);
    held.close();
  }
}

/** The groups and marks the options ask for (kernel/supervisor.ts), and the engine's watch state with a changelog. */
function holdGroups(options: SuperviseCommand): HeldGroups {
  const held = HeldGroups.open({
    path: options.path,
    dir: options.dir,
    mark: options.mark,
    ...(options.group === undefined ? {} : { permission: { group: options.group, mask: options.permissionMask } }),
    ...(options.mask === undefined ? {} : { notifyMask: options.mask }),
  });
  try {
    held.claimWatch();
  } catch (error) {
    held.close();
    throw error;
  }
  return held;
}

/** Starts CMD with the held descriptors, and attaches its channel. */
function run(held: HeldGroups, command: string[]): ChildProcess {
  const { env, stdio } = held.handlerSetup();
  const child = spawn(command[0]!, command.slice(1), { stdio: ['inherit', 'inherit', 'inherit', ...stdio], env: { ...process.env, [SUPERVISOR_ENV]: env } });
  held.attach(child.stdio[3] as Duplex);
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: Error | null }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: 127, signal: null, spawnError: error }));
    child.once('exit', (code, signal) => resolve({ code, signal, spawnError: null }));
  });
}

/** SIGTERM was sent; SIGKILL after `timeoutMs`; resolves once it has exited. */
async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await gone;
  clearTimeout(timer);
}

/** Steps 3 to 6 of the header: false if any failed (said on stderr). */
async function finishStop(held: HeldGroups, options: SuperviseCommand): Promise<boolean> {
  const { answered, changelog } = await finishThroughEngine(held, options);
  if (!changelog) return false;
  try {
    held.changelogStopped();
  } catch (error) {
    say(`the engine's watch record could not say the clean stop (${(error as Error).message}): the next watch will say this one ended without stopping`);
    return false;
  }
  return answered;
}

/**
 * Steps 3 to 5 of the header, through one open of the engine, made when
 * there are permission events or a changelog: whether the held events were
 * answered through the engine, and whether the changelog's end was
 * journaled (each false when it could not be; said on stderr).
 */
async function finishThroughEngine(held: HeldGroups, options: SuperviseCommand): Promise<{ answered: boolean; changelog: boolean }> {
  const permission = held.permission !== null && options.group !== undefined;
  const lost = held.notify === null ? null : held.pendingLoss;
  // With a changelog, the engine is opened all the same: its open syncs what a handler wrote and never synced (killed, or
  // under sync 'never'), which a clean stop must have made durable.
  const changelog = held.notify !== null;
  if (!permission && !changelog) return { answered: true, changelog: true };
  let engine: Engine;
  try {
    // The handler has exited: the lock is free, or freed soon by a handler's last write (wait for it a while).
    engine = await openEngine({ dir: options.dir, wait: options.stopTimeout });
  } catch (error) {
    const why = (error as Error).message;
    if (changelog) say(`the changelog's queue${lost === null ? '' : ` and a loss (${lost})`} could not be journaled: ${why}`);
    return { answered: !permission || unjournaled(held, options, `the engine at ${options.dir} could not be opened (${why})`), changelog: !changelog };
  }
  try {
    const answered = !permission || (await answerHeld(held, options, engine));
    return { answered, changelog: !changelog || (await finishChangelog(held, options, engine, lost)) };
  } finally {
    await engine.close();
  }
}

/**
 * Step 5 of the header: the changelog's end. A loss the last CMD left and
 * none journaled (kernel/read-tally.ts) is journaled first, as its loss
 * note; then what the kernel still queues for the changelog group (the
 * marks are gone, so it has an end), as a handler would journal it:
 * closing the group unread would drop it without a word. False if either
 * could not be journaled (said on stderr).
 */
async function finishChangelog(held: HeldGroups, options: SuperviseCommand, engine: Engine, lost: string | null): Promise<boolean> {
  try {
    const source = watchGroup(engine, held.notify!, { path: options.path, ...(lost === null ? {} : { lost }) });
    await source.stop();
    if (lost !== null) say(`journaled a loss note: ${lost}`);
    const { journaled } = source.stats();
    if (journaled > 0) say(`journaled ${journaled} changelog events the kernel still held`);
    return true;
  } catch (error) {
    say(`journaling the changelog's end failed: ${(error as Error).message}`);
    return false;
  }
}

/** Step 4 of the header: every held event answered by the stop policy without a journal; true if there were none. */
function unjournaled(held: HeldGroups, options: SuperviseCommand, why: string): boolean {
  const groupFd = held.permission!.fd;
  const count = held.answerAllUnjournaled((eventFd) => writeResponse(groupFd, eventFd, options.stopPolicy));
  say(`${why}: ${count} held events answered by the stop policy without a journal`);
  return count === 0;
}

/** Step 3 of the header: every held event answered by the stop policy, journaled. False if it could not be. */
async function answerHeld(held: HeldGroups, options: SuperviseCommand, engine: Engine): Promise<boolean> {
  const group = options.group!;
  if (engine.groups.find(group) === null) return unjournaled(held, options, `the engine has no group '${group}'`);
  let failure: Error | null = null;
  const permissions = new KernelPermissions(engine, group, held.feed(), (error) => (failure ??= error));
  permissions.start();
  await permissions.stop(options.stopPolicy);
  const stats = permissions.stats();
  say(`stopped: ${stats.answered + stats.stale} held events answered by the stop policy, journaled`);
  if (held.heldCount > 0) return unjournaled(held, options, 'some held events were not answered through the engine');
  if (failure !== null) say(`answering through the engine failed: ${(failure as Error).message}`);
  return failure === null;
}
