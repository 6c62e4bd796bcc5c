/**
 * A changelog run's changes (fanotify-plan.ts), made while the handler
 * lives and dies (fanotify-run.ts): one change maker per run
 * (fanotify-changer.ts), told one change at a time, each once the last is
 * made, so that the order made is the order the kernel queued their
 * events. Wave k is queued once the supervisor has said k kills, after the
 * waves before it: its changes are made once those are.
 *
 * A notified kill comes at the N-th read of the changelog group by its
 * life, but the kernel may hand a wave's events over in fewer reads. So a
 * wave whose kill is `notified` goes on, once its changes are made, with
 * fills (a create, and a read that waits on the handler: fanotify-changer.ts)
 * until the supervisor has said the kill, at most FILLS_MAX: each fill
 * queues an event after the handler's loop has turned, so the reads go on
 * until the N-th.
 *
 * Each change's outcome keeps when this process told the change maker to
 * make it (performance.now()): its events were queued after that, which
 * is what the checks (fanotify-changelog-checks.ts) compare with when the
 * run saw a handler's death.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Change, ChangePlan } from './fanotify-plan.js';

/** Fills past which a notified kill that has not come is a failure: it comes within a few. */
const FILLS_MAX = 500;
const GONE = 'the change maker exited before it was made';

export interface ChangeOutcome {
  change: Change;
  wave: number;
  /** When the change maker was told to make it (performance.now()). */
  sentAt: number;
  /** Null once made; else why not (a failed call, or the change maker gone). */
  failure: string | null;
}

export class ChangeMaker {
  readonly child: ChildProcess;
  readonly outcomes: ChangeOutcome[] = [];
  readonly exited: Promise<void>;
  #made: Promise<void> = Promise.resolve();
  #buffered = '';
  #answer: ((line: string) => void) | null = null;
  /** Set by release(): no change is sent any more. */
  #ending = false;
  #gone = false;

  /** Starts the change maker (`script`: fanotify-changer.js) on the directory `dir`. */
  constructor(script: string, dir: string) {
    this.child = spawn(process.execPath, [script, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (this.#buffered + chunk).split('\n');
      this.#buffered = lines.pop()!;
      for (const line of lines) this.#answer?.(line);
    });
    this.child.stdin!.on('error', () => undefined);
    // A spawn that failed: 'close' follows, and every change is a failure.
    this.child.on('error', () => undefined);
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    void this.exited.then(() => {
      this.#gone = true;
      this.#answer?.(GONE);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Queues wave `wave`'s changes, after every change queued before; with `killed`, fills follow until it is true. */
  wave(changes: readonly ChangePlan[], wave: number, killed: (() => boolean) | null): void {
    this.#made = this.#made.then(async () => {
      for (const { wave: _wave, ...change } of changes) await this.#make(change, wave);
      for (let fill = 0; killed !== null && !killed() && !this.#ending; fill++) {
        if (fill === FILLS_MAX) throw new Error(`wave ${wave}'s notified kill did not come after ${FILLS_MAX} fills`);
        await this.#make({ kind: 'fill', name: `fill-${wave}-${fill}` }, wave);
      }
    });
    // Seen by made()'s caller; handled here so that a run that failed before awaiting it does not end the process.
    this.#made.catch(() => undefined);
  }

  /** Resolves once every change queued is made or failed; rejects if a notified kill never came. */
  made(): Promise<void> {
    return this.#made;
  }

  async #make(change: Change, wave: number): Promise<void> {
    if (this.#ending) return;
    const outcome: ChangeOutcome = { change, wave, sentAt: performance.now(), failure: GONE };
    this.outcomes.push(outcome);
    if (this.#gone) return;
    const answered = new Promise<string>((resolve) => (this.#answer = resolve));
    this.child.stdin!.write(`${JSON.stringify(change)}\n`);
    const line = await answered;
    this.#answer = null;
    outcome.failure = line === `made ${change.name}` ? null : line;
  }

  /** Ends its input, so that it exits, and waits for it; SIGKILLs it by pid if `bounded` gives up first. */
  async release(bounded: (work: Promise<void>, what: string) => Promise<void>): Promise<void> {
    this.#ending = true;
    this.child.stdin!.end();
    try {
      await bounded(this.exited, 'the change maker to exit');
    } catch {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
