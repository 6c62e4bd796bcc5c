/**
 * The campaign's `fanotify` runs (root, Linux 6.14+): a real HSM under
 * `fanlog supervise` whose handler is SIGKILLed at seeded points while
 * readers wait in the kernel, and, in changelog runs, while changes are
 * made beside the stubs (fanotify-plan.ts says what a run does).
 *
 *   image     a fresh ext4, xfs or btrfs image (the plan's) loop-mounted in
 *             a temp dir (fs-image.ts);
 *             the stubs on it, their archive and the engine beside it, on
 *             the temp dir's filesystem; the engine and its pre-content
 *             group `hsm` are made before the supervisor starts; in a
 *             changelog run, CHANGES_DIR and the files its changes write,
 *             rename and delete, and the change maker (fanotify-changes.ts)
 *   run       `fanlog supervise` (dist/cli/main.js) runs the handler
 *             (fanotify-handler.ts) with the plan's kills, holding the
 *             changelog group too in a changelog run (--mask); once its
 *             groups and marks are made, the readers and changes of wave
 *             0 start; wave k once the supervisor has said k kills; a
 *             `hang PID` (mid-fill) is SIGKILLed here by pid
 *   end       once every reader has ended and every change is made, the
 *             supervisor gets SIGTERM and is waited for; then the checks
 *             (fanotify-checks.ts; fanotify-changelog-checks.ts in a
 *             changelog run), and that the supervisor exited 0, that every
 *             planned kill came, and that the handler never died otherwise
 *
 * Every wait has a bound (BOUND_MS) far beyond what it takes, past which
 * the run fails rather than hangs, so that the cleanup always runs: the
 * supervisor is stopped (its stop answers every reader still blocked, by
 * its stop policy), or, past the bound again, SIGKILLed with its handler
 * (the kernel then lets the readers through); readers that still do not
 * end are SIGKILLed, and so is the change maker; the image is unmounted
 * and its loop device released. Only processes this run started are
 * killed, by pid.
 *
 * A run is about 2 s on 2 cores. The fault it reports is
 * `fanotify:<the kind of its first kill>`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FanlogError } from '../errors.js';
import { Engine } from '../fanlog.js';
import { Prng } from '../journal/prng.js';
import { type LoopImage, makeStub, withImage } from './fs-image.js';
import { checkChangelog, type HandlerLife } from './fanotify-changelog-checks.js';
import { ChangeMaker } from './fanotify-changes.js';
import { checkJournal, checkReaders, journalRecords, type ReaderOutcome } from './fanotify-checks.js';
import { CHANGELOG_MASK, CHANGES_DIR, describePlan, encodeKills, type FanotifyPlan, KILLS_ENV, PACE_FILE, planRun, type ReaderPlan } from './fanotify-plan.js';
import { Model } from './model.js';
import type { RunResult } from './real-disk.js';

/** Design invariant 11: a kernel permission event is answered exactly once, by a decision. */
const INVARIANT = 11;
/** A bound on any one wait: a run takes about 2 s; past this it has failed. */
const BOUND_MS = 30_000;
/** How long the supervisor's stop waits for the handler to stop before it SIGKILLs it: well within BOUND_MS. */
const HANDLER_STOP_MS = 10_000;
const STARTED = /^fanlog supervise: started .* \(pid (\d+)\)$/;
const KILLED = /^fanlog supervise: .* was killed by SIGKILL;/;
/** A handler's death, planned or not: the supervisor says each, in the order it started them. */
const DIED = /^fanlog supervise: .* (exited \S+|was killed by \S+); \d+ events held;/;
/** A handler death the run did not plan. */
const UNPLANNED = /^fanlog supervise: .*(exited \S+|was killed by (?!SIGKILL)\S+|could not start .*);/;

/** A compiled file of this package (next to this one once built; in dist/ when this runs from source). */
function compiled(relative: string): string {
  const here = fileURLToPath(import.meta.url);
  const base = here.endsWith('.ts') ? path.join(path.dirname(here), '..', 'dist', 'crash') : path.dirname(here);
  return path.join(base, relative);
}

/** `work`, or a rejection naming `what` once BOUND_MS has passed. */
function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} after ${BOUND_MS} ms`)), BOUND_MS)));
  return Promise.race([work, bound]).finally(() => clearTimeout(timer));
}

/** The supervisor, and every line it and its handler print (the handler's stdout and stderr are the supervisor's). */
class Supervisor {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  /** When this process read each line (performance.now()). */
  readonly times: number[] = [];
  readonly exited: Promise<number | null>;
  #waiters: { match: RegExp; nth: number; resolve: () => void }[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv, onLine: (line: string, self: Supervisor) => void) {
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (buffered + chunk).split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          this.lines.push(line);
          this.times.push(performance.now());
          onLine(line, this);
          this.#check();
        }
      });
    }
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  count(match: RegExp): number {
    return this.lines.filter((line) => match.test(line)).length;
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.count(waiter.match) < waiter.nth) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once `nth` lines have matched (failing past BOUND_MS, or if the supervisor exits first). */
  said(match: RegExp, nth: number, what: string): Promise<void> {
    const found = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ match, nth, resolve });
      void this.exited.then((code) => reject(new Error(`the supervisor exited ${code} before ${what}`)));
      this.#check();
    });
    return within(found, what);
  }

  /** Handler pids it started, as it said. */
  handlers(): number[] {
    return this.lines.flatMap((line) => {
      const found = STARTED.exec(line);
      return found === null ? [] : [Number(found[1])];
    });
  }

  /** Each handler it started, in order, with whether it was SIGKILLed, and when this process read of its death. */
  lives(): HandlerLife[] {
    const deaths = this.lines.flatMap((line, i) => (DIED.test(line) ? [{ killed: KILLED.test(line), diedSeenAt: this.times[i]! }] : []));
    return this.handlers().map((pid, life) => ({ pid, killed: deaths[life]?.killed ?? false, diedSeenAt: deaths[life]?.diedSeenAt ?? null }));
  }

  tail(): string {
    return this.lines.slice(-30).join(' | ');
  }
}

interface Reader {
  outcome: ReaderOutcome;
  child: ChildProcess;
  ended: Promise<void>;
}

function startReader(plan: ReaderPlan, mount: string): Reader {
  const file = path.join(mount, plan.stub.name);
  const args =
    plan.range === null
      ? ['cat', [file]]
      : ['dd', [`if=${file}`, 'iflag=skip_bytes,count_bytes', 'bs=65536', `skip=${plan.range.offset}`, `count=${plan.range.length}`, 'status=none']];
  const child = spawn(args[0] as string, args[1] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  const outcome: ReaderOutcome = { plan, ends: 0, killed: false, code: null, signal: null, stdout: Buffer.alloc(0), stderr: '' };
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (outcome.stderr += chunk.toString()));
  const ended = new Promise<void>((resolve) =>
    child.on('close', (code, signal) => {
      Object.assign(outcome, { ends: outcome.ends + 1, code, signal, stdout: Buffer.concat(out) });
      resolve();
    }),
  );
  return { outcome, child, ended };
}

export async function fanotifyRun(runSeed: number): Promise<RunResult> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0)
    throw new FanlogError('EPERM', 'the fanotify runs need root on Linux: they loop-mount an ext4 image and make fanotify groups');
  const plan = planRun(new Prng(runSeed));
  const model = new Model();
  const where = `run seed ${runSeed} (${describePlan(plan)})`;
  let kills = 0;
  try {
    kills = await withImage(plan.filesystem, (image) => runOnImage(image, plan, model, where));
  } catch (error) {
    model.violation(0, `${where}: the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  return { fault: `fanotify:${plan.kills[0]!.kind}`, injected: kills === plan.kills.length, model };
}

/** The archive's, the engine's and the handler lives' directories. */
interface Prepared {
  archive: string;
  engineDir: string;
  lives: string;
}

/** The stubs on the image, their archive and the engine beside it, and in a changelog run the files its changes change. */
async function prepare({ mount, scratch }: LoopImage, plan: FanotifyPlan): Promise<Prepared> {
  const archive = path.join(scratch, 'archive');
  const lives = path.join(scratch, 'lives');
  const engineDir = path.join(scratch, 'engine');
  mkdirSync(archive);
  mkdirSync(lives);
  for (const stub of plan.stubs) {
    writeFileSync(path.join(archive, stub.name), stub.content);
    makeStub(path.join(mount, stub.name), stub.size);
  }
  if (plan.changes !== null) {
    // Before the supervisor's marks: these raise no event.
    const changes = path.join(mount, CHANGES_DIR);
    mkdirSync(changes);
    writeFileSync(path.join(changes, PACE_FILE), 'read by each fill\n');
    for (const change of plan.changes) if (change.kind !== 'create') writeFileSync(path.join(changes, change.name), 'made before the supervisor\n');
  }
  const engine = await Engine.open(engineDir);
  await engine.groups.create('hsm', { class: 'pre-content' });
  await engine.close();
  return { archive, engineDir, lives };
}

/** SIGKILLs `pid`, a process this run started (or its supervisor did), unless it is gone already. */
function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** A mid-fill kill: the handler that says `hang PID` is SIGKILLed by pid (a handler this supervisor started). */
function killHung(line: string, supervisor: Supervisor): void {
  const pid = Number(/^hang (\d+)$/.exec(line)?.[1]);
  if (supervisor.handlers().includes(pid)) sigkill(pid);
}

/** The supervisor of the run's handler, holding the changelog group too in a changelog run. */
function startSupervisor(image: LoopImage, plan: FanotifyPlan, { archive, engineDir, lives }: Prepared): Supervisor {
  const changelog = plan.changes === null ? [] : ['--mask', `0x${CHANGELOG_MASK.toString(16)}`];
  const args = [compiled('../cli/main.js'), 'supervise', '--path', image.mount, '--group', 'hsm', ...changelog, '--dir', engineDir];
  const handler = [process.execPath, compiled('fanotify-handler.js'), engineDir, image.mount, archive, lives, ...(plan.changes === null ? [] : ['changelog'])];
  // The handler's crash points only through the plan: never FANLOG_CRASH_AT, which the supervisor would obey.
  const { FANLOG_CRASH_AT: _crashAt, FANLOG_SUPERVISOR: _supervisor, ...env } = process.env;
  return new Supervisor([...args, '--stop-timeout', String(HANDLER_STOP_MS), '--', ...handler], { ...env, [KILLS_ENV]: encodeKills(plan.kills) }, killHung);
}

/** One run on its image: the supervisor, the waves of readers and changes, the stop, the checks; returns the kills seen. */
async function runOnImage(image: LoopImage, plan: FanotifyPlan, model: Model, where: string): Promise<number> {
  const prepared = await prepare(image, plan);
  const supervisor = startSupervisor(image, plan, prepared);
  const maker = plan.changes === null ? null : new ChangeMaker(compiled('fanotify-changer.js'), path.join(image.mount, CHANGES_DIR));
  const readers: Reader[] = [];
  let code: number | null;
  try {
    try {
      await drive(plan, image.mount, supervisor, readers, maker);
    } catch (error) {
      model.violation(INVARIANT, `${where}: ${(error as Error).message}; the supervisor said: ${supervisor.tail()}`);
    }
    code = await stop(supervisor, model, where);
    await release(readers);
  } finally {
    // Last: a change it was still making waited on the handler, which the supervisor's stop answered.
    await maker?.release(within);
  }
  const kills = supervisor.count(KILLED);
  model.check(INVARIANT, code === 0, () => `${where}: the supervisor exited ${code}, not 0: ${supervisor.tail()}`);
  model.check(INVARIANT, supervisor.count(UNPLANNED) === 0, () => `${where}: the handler died unplanned: ${supervisor.tail()}`);
  model.check(0, kills === plan.kills.length, () => `${where}: ${kills} kills came of the ${plan.kills.length} planned: ${supervisor.tail()}`);
  checkReaders(
    readers.map((reader) => reader.outcome),
    model,
    where,
  );
  const records = await journalRecords(prepared.engineDir);
  checkJournal(records, readers.length, plan.filesystem !== 'ext4', maker !== null, model, where);
  if (maker !== null) checkChangelog(records, { pid: maker.pid, outcomes: maker.outcomes, lives: supervisor.lives() }, model, where);
  return kills;
}

/**
 * The waves: wave k's readers start, and its changes are queued, once the
 * supervisor has said k kills; a notified kill's wave makes fills until
 * it is said (fanotify-changes.ts). Resolves once every reader has ended
 * and every change is made.
 */
async function drive(plan: FanotifyPlan, mount: string, supervisor: Supervisor, readers: Reader[], maker: ChangeMaker | null): Promise<void> {
  const wave = (k: number): void => {
    readers.push(...plan.readers.filter((reader) => reader.wave === k).map((reader) => startReader(reader, mount)));
    const killed = plan.kills[k]?.kind === 'notified' ? () => supervisor.count(KILLED) > k : null;
    maker?.wave(
      plan.changes!.filter((change) => change.wave === k),
      k,
      killed,
    );
  };
  await supervisor.said(STARTED, 1, 'the supervisor to start its handler');
  for (let k = 0; k < plan.kills.length; k++) {
    wave(k);
    await supervisor.said(KILLED, k + 1, `kill ${k + 1} of ${plan.kills.length} (${encodeKills(plan.kills)})`);
  }
  wave(plan.kills.length);
  const ended = Promise.all([...readers.map((reader) => reader.ended), maker?.made()]);
  await within(ended, `the ${readers.length} readers to end${maker === null ? '' : ' and the changes to be made'}`);
}

/** SIGTERM, and its exit code; past the bound, SIGKILLs its handlers (those still its children) and itself: null. */
async function stop(supervisor: Supervisor, model: Model, where: string): Promise<number | null> {
  supervisor.child.kill('SIGTERM');
  try {
    return await within(supervisor.exited, 'the supervisor to stop');
  } catch (error) {
    model.violation(INVARIANT, `${where}: ${(error as Error).message}: ${supervisor.tail()}`);
  }
  for (const pid of supervisor.handlers()) if (parentOf(pid) === supervisor.child.pid) sigkill(pid);
  supervisor.child.kill('SIGKILL');
  await supervisor.exited;
  return null;
}

/** The parent of `pid`, from /proc, or null once it is gone. */
function parentOf(pid: number): number | null {
  try {
    // The command's name, in parentheses, may hold spaces: the fields after it are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Waits for every reader; SIGKILLs those that do not end (the supervisor is gone: nothing holds them but a bug). */
async function release(readers: readonly Reader[]): Promise<void> {
  const ended = Promise.all(readers.map((reader) => reader.ended));
  try {
    await within(ended, 'the readers to end after the supervisor');
  } catch {
    for (const reader of readers) {
      if (reader.outcome.ends > 0) continue;
      reader.outcome.killed = true;
      reader.child.kill('SIGKILL');
    }
    await within(ended, 'the SIGKILLed readers to end');
  }
}
