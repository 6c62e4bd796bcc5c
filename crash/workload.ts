/**
 * The crash campaign's workload: one seeded run of everything fanlog does,
 * driven in rounds so that a seed always makes the same calls in the same
 * order on MemoryIo.
 *
 * Setup (first open only): a directory tree with offline and online files;
 * three groups, one of each class — 'hsm' (pre-content, restartable,
 * FAN_PRE_ACCESS|FAN_PRE_MODIFY on the filesystem), 'av' (content,
 * FAN_OPEN_PERM|FAN_ACCESS_PERM on the /d mount), 'watch' (notification,
 * every event on the filesystem, a short queue that overflows) — and three
 * consumers: 'backup' (everything, acks most of what it reads), 'audit'
 * (directory-entry events only, acks now and then) and 'lazy' (a lag limit,
 * never acks: it is evicted, notices, and registers again).
 *
 * Each round starts a few simulated processes' operations at once (every
 * filesystem call, guarded ones included, many failing with POSIX errors on
 * purpose), then plays the listeners until they all settle: they allow,
 * deny, deny with an errno, stall, and release and reopen their queues
 * (the restartable one gets its read events back; the other one allows
 * them). Between rounds the consumers read and ack, and the engine may take
 * a checkpoint or be closed and reopened. With `timeouts` (real-time runs
 * only: timers would make a seeded run depend on the wall clock) a fourth
 * group 'slow' times every request out.
 *
 * The workload reports to an Observer what the model needs (durable
 * promises the engine made, acks, decisions) and checks what it can live:
 * consumers see only durable records, never one at or below where they
 * stood; an evicted consumer is told what it lost; after an I/O failure the
 * engine refuses work with EFAILED.
 */
import type { Engine, EngineOptions } from '../fanlog.js';
import type { EventQueue } from '../engine/notify/event-queue.js';
import {
  FAN_ACCESS_PERM,
  FAN_ALL_EVENTS,
  FAN_ALLOW,
  FAN_DENY,
  FAN_DENY_ERRNO,
  FAN_FS_ERROR,
  FAN_OPEN_PERM,
  FAN_PERMISSION_EVENTS,
  FAN_PRE_ACCESS,
  FAN_PRE_CONTENT_EVENTS,
  FAN_Q_OVERFLOW,
  FAN_PRE_MODIFY,
} from '../engine/notify/masks.js';
import { ERRNO } from '../engine/permission/rules.js';
import { Names, randomCall } from './workload-calls.js';
import { ControlRaces } from './control-races.js';
import type { Prng } from '../journal/prng.js';

export type { ControlChange, Observer, WorkloadOptions } from './workload-types.js';
import type { Observer, WorkloadOptions } from './workload-types.js';
import { CONSUMER_NAMES, WorkloadConsumers } from './workload-consumers.js';

/** What a notification group may watch: every event but the permission ones and the queue's own. */
const NOTIFICATION_EVENTS = FAN_ALL_EVENTS & ~(FAN_PERMISSION_EVENTS | FAN_PRE_CONTENT_EVENTS | FAN_Q_OVERFLOW | FAN_FS_ERROR);
const PROCESSES = 3;
/** Listener rounds before a round's stalled requests are released and everything is allowed. */
const PATIENCE_TICKS = 30;
/** Codes an operation of this workload may fail with while the engine works. */
const EXPECTED_CODES = new Set([
  'ENOENT',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'EINVAL',
  'EBADF',
  'ELOOP',
  'ENODATA',
  'EPERM',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'ETXTBSY',
]);

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Workload {
  engine!: Engine;
  /** False while no engine is open (before the first open, or when a reopen failed). */
  isOpen = false;
  readonly #queues = new Map<string, EventQueue>();
  readonly #stalled: { group: string; id: number; seq: bigint }[] = [];
  readonly #fds: number[] = [];
  readonly #names: Names;
  readonly #races: ControlRaces;
  readonly #consumers: WorkloadConsumers;
  #opsLeft: number;
  operations = 0;
  succeeded = 0;

  readonly #dir: string;
  readonly #prng: Prng;
  readonly #observer: Observer;
  readonly #options: WorkloadOptions;
  constructor(dir: string, prng: Prng, observer: Observer, options: WorkloadOptions) {
    this.#options = options;
    this.#observer = observer;
    this.#prng = prng;
    this.#dir = dir;
    this.#opsLeft = options.ops;
    this.#races = new ControlRaces(prng, observer, this.#quiet);
    this.#consumers = new WorkloadConsumers(prng, observer, this.#quiet);
    this.#names = new Names(prng);
  }

  /** Runs until the operations are spent, the engine failed, or the power went. Leaves the engine open. */
  async run(open: (dir: string, options: EngineOptions) => Promise<Engine>): Promise<void> {
    this.engine = await open(this.#dir, this.#options.engine);
    this.#opened();
    await this.#setup();
    while (this.#opsLeft > 0 && this.alive()) {
      await this.#round();
      if (!this.alive()) break;
      const catchUp = this.#prng.chance(0.2);
      // The notification queue is drained, then the consumers read.
      await this.#queues.get('watch')?.read({ max: 64 }).catch(this.#quiet);
      await this.#consumers.work(this.engine, catchUp);
      if (!this.alive()) break;
      if (this.#prng.chance(0.35)) await this.#controlRace();
      if (!this.alive()) break;
      const roll = this.#prng.next();
      if (roll < 0.12) await this.engine.checkpoint();
      else if (roll < 0.17 && this.#options.reopens !== false) {
        await this.#closeQueues();
        this.isOpen = false;
        await this.engine.close();
        this.engine = await open(this.#dir, this.#options.engine);
        this.#opened();
      }
    }
  }

  /** The engine options of every open of this workload. */
  get engineOptions(): EngineOptions {
    return this.#options.engine;
  }

  alive(): boolean {
    return !this.#options.stopped() && !this.engine.failed;
  }

  #opened(): void {
    this.isOpen = true;
    this.#races.opened(this.engine);
    this.#options.onOpen?.(this.engine);
    this.#stalled.length = 0;
    this.#fds.length = 0;
    this.#consumers.opened(this.engine);
    this.#openQueues();
  }

  #openQueues(): void {
    this.#queues.clear();
    for (const info of this.engine.groups.list()) this.#queues.set(info.name, this.engine.groups.get(info.name).openQueue());
  }

  /** Plays one control-race scenario, then waits for the guarded opens it started to settle. */
  async #controlRace(): Promise<void> {
    await this.#races.play(this.engine);
    // A destroy allows every request of its group, even one being appended: the opens settle.
    const deadline = Date.now() + 5000;
    for (let ticks = 0; this.#races.hanging.size > 0 && this.alive(); ticks++) {
      if (this.#options.realDisk ? Date.now() > deadline : ticks > 2000) {
        this.#observer.violation(5, 'a guarded open whose group was destroyed while its request was appended never settled');
        this.#races.hanging.clear();
        return;
      }
      // The other groups are asked too (by priority): their listeners answer.
      await this.#listen(true);
      await tick();
    }
  }

  async #setup(): Promise<void> {
    const { engine } = this;
    if (engine.groups.size > 0) return;
    for (const dir of this.#names.dirs) await engine.fs.mkdir(dir).catch(this.#expected);
    for (let i = 0; i < 6; i++) {
      const path = `${this.#prng.pick(this.#names.dirs)}/f${i}`;
      await engine.fs.create(path, { size: this.#prng.between(1, 200_000), offline: i % 2 === 0 }).catch(this.#expected);
      this.#names.files.push(path);
    }
    const hsm = await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
    await hsm.mark({ path: '/', scope: 'filesystem', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
    const av = await engine.groups.create('av', { class: 'content' });
    await av.mark({ path: '/d', scope: 'mount', mask: FAN_OPEN_PERM | FAN_ACCESS_PERM });
    const watch = await engine.groups.create('watch', { class: 'notif', queueEventsMax: 16 });
    await watch.mark({ path: '/', scope: 'filesystem', mask: NOTIFICATION_EVENTS });
    if (this.#options.timeouts) {
      const slow = await engine.groups.create('slow', { class: 'content', permissionTimeoutMs: 5, onTimeout: 'deny' });
      await slow.mark({ path: '/d/s', scope: 'mount', mask: FAN_OPEN_PERM });
    }
    for (const name of CONSUMER_NAMES) await this.#consumers.register(engine, name, 'oldest');
    this.#openQueues();
  }

  /** Starts up to PROCESSES operations and plays the listeners until all have settled. */
  async #round(): Promise<void> {
    const pending = new Set<Promise<void>>();
    for (let p = 0; p < PROCESSES && this.#opsLeft > 0; p++) {
      this.#opsLeft--;
      const operation = this.#operation(100 + p);
      pending.add(operation);
      void operation.finally(() => pending.delete(operation));
    }
    // Now and then a checkpoint is taken while operations wait for answers: it
    // must keep their requests, however the consumers purge the journal after.
    const checkpointAt = this.#prng.chance(0.3) ? this.#prng.int(PATIENCE_TICKS) : -1;
    const deadline = Date.now() + 30_000;
    for (let ticks = 0; pending.size > 0 && this.alive(); ticks++) {
      if (this.#options.realDisk ? Date.now() > deadline : ticks > 20_000) {
        this.#observer.violation(5, `${pending.size} operations never settled though every listener answered`);
        return;
      }
      if (ticks === checkpointAt) void this.engine.checkpoint().catch(this.#quiet);
      await this.#listen(ticks >= PATIENCE_TICKS);
      if (ticks > 0 && ticks % (PATIENCE_TICKS / 2) === 0) await this.#restartQueues();
      await tick();
    }
  }

  /** One simulated process's call, chosen by the seed. Never rejects: errors are classified here. */
  async #operation(pid: number): Promise<void> {
    const prng = this.#prng;
    const fs = this.engine.fs;
    const call = randomCall(fs, this.#names, this.#fds, prng, { pid });
    const failedBefore = this.engine.failed;
    this.operations++;
    try {
      // Names are drawn when the call is made (synchronously), so this tells whether this call got an ill-formed one.
      const illFormedBefore = this.#names.illFormed.size;
      const calling = call();
      const illFormed = this.#names.illFormed.size > illFormedBefore ? [...this.#names.illFormed].pop() : undefined;
      await calling;
      this.succeeded++;
      if (failedBefore) this.#observer.violation(7, 'an operation succeeded on a failed engine');
      if (illFormed !== undefined) this.#observer.violation(3, `a call with a name UTF-8 cannot hold succeeded: ${JSON.stringify(illFormed)}`);
      this.#observer.durable(this.engine.journal.durableSeq);
    } catch (error) {
      this.#expected(error);
    }
  }

  /** Accepts the errors an operation may give; anything else is a finding. */
  readonly #expected = (error: unknown): void => {
    const code = (error as { code?: string }).code;
    if (code !== undefined && EXPECTED_CODES.has(code)) return;
    if (this.#options.stopped() || this.engine.failed) return;
    this.#observer.violation(0, `unexpected error from a working engine: ${String(error)}`);
  };

  /** Answers what the permission queues hold; with `drain`, allows everything. */
  async #listen(drain: boolean): Promise<void> {
    const prng = this.#prng;
    for (const [group, queue] of this.#queues) {
      if (group === 'slow') continue; // never read: every request times out
      const events = await queue.read({ max: 8 }).catch(this.#quiet);
      for (const event of events ?? []) {
        if (event.seq === undefined || !isPermission(event.mask)) continue;
        const roll = prng.next();
        if (!drain && roll < 0.2) {
          this.#stalled.push({ group, id: event.id, seq: event.seq });
          continue;
        }
        const response = drain || roll < 0.65 ? FAN_ALLOW : group === 'hsm' && roll < 0.8 ? FAN_DENY_ERRNO(prng.pick([ERRNO.EAGAIN, ERRNO.EIO])) : FAN_DENY;
        await this.#respond(group, event.id, event.seq, response);
      }
    }
    if (this.#stalled.length > 0 && (drain || prng.chance(0.3))) {
      const { group, id, seq } = this.#stalled.shift()!;
      await this.#respond(group, id, seq, FAN_ALLOW);
    }
  }

  async #respond(group: string, id: number, seq: bigint, response: number): Promise<void> {
    const queue = this.#queues.get(group)!;
    try {
      await queue.respond(id, response);
      this.#observer.decided(seq);
      this.#observer.durable(this.engine.journal.durableSeq);
    } catch (error) {
      this.#quiet(error);
    }
  }

  /** Releases and reopens the permission queues: restartable ones get their read events back, the others allow them. */
  async #restartQueues(): Promise<void> {
    this.#stalled.length = 0;
    for (const [group, queue] of this.#queues) {
      if (group === 'watch' || group === 'slow') continue;
      await queue.close().catch(this.#quiet);
      if (!this.alive()) return;
      const live = this.engine.groups.find(group);
      if (live === null) this.#queues.delete(group);
      else this.#queues.set(group, live.openQueue());
    }
  }

  async #closeQueues(): Promise<void> {
    for (const queue of this.#queues.values()) await queue.close().catch(this.#quiet);
    this.#queues.clear();
  }

  /** Errors from listeners and consumers: only a stopped or failed engine may give them. */
  readonly #quiet = (error: unknown): undefined => {
    if (!this.#options.stopped() && !this.engine.failed && (error as { code?: string }).code !== 'EFAILED') {
      this.#observer.violation(0, `unexpected error from a working engine: ${String(error)}`);
    }
    return undefined;
  };
}

function isPermission(mask: bigint): boolean {
  return (mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_PRE_ACCESS | FAN_PRE_MODIFY)) !== 0n;
}
