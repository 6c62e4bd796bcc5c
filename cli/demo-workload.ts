/**
 * The HSM demo's moving parts, shared by the demo and its child process:
 * the archive of stub files, the HSM daemon (a restartable pre-content
 * group that fills exactly the ranges asked for, and now and then says
 * EAGAIN), and simulated processes that read, write, rename and delete.
 */
import type { Engine } from '../fanlog.js';
import type { EventQueue } from '../engine/notify/event-queue.js';
import type { QueuedEvent } from '../engine/notify/group-queue.js';
import { FAN_ALLOW, FAN_DENY_ERRNO, FAN_PRE_ACCESS, FAN_PRE_MODIFY } from '../engine/notify/masks.js';
import { ERRNO } from '../engine/permission/rules.js';
import { Prng } from '../journal/prng.js';

export const ARCHIVE = '/archive';
export const DIRECTORIES = 20;
const KIB = 1024;
const MIB = 1024 * KIB;

export interface DemoCounters {
  /** Calls made, whatever their outcome: the measure of progress. */
  attempts: number;
  /** Calls that succeeded. */
  operations: number;
  failedEagain: number;
  requestsAnswered: number;
  denied: number;
  filledBytes: number;
  fills: number;
}

export function newCounters(): DemoCounters {
  return { attempts: 0, operations: 0, failedEagain: 0, requestsAnswered: 0, denied: 0, filledBytes: 0, fills: 0 };
}

/** Creates the archive of offline stub files; resolves with their paths and total bytes. */
export async function populate(engine: Engine, files: number, prng: Prng, progress: (done: number) => void): Promise<{ paths: string[]; stubBytes: number }> {
  await engine.fs.mkdir(ARCHIVE);
  for (let d = 0; d < DIRECTORIES; d++) await engine.fs.mkdir(`${ARCHIVE}/p${d}`);
  const paths: string[] = [];
  let stubBytes = 0;
  const sizes = [4 * KIB, 64 * KIB, 512 * KIB, 2 * MIB, 8 * MIB, 32 * MIB];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < files; i++) {
    const path = `${ARCHIVE}/p${i % DIRECTORIES}/file${i}.dat`;
    const size = prng.between(sizes[0]!, prng.pick(sizes));
    paths.push(path);
    stubBytes += size;
    pending.push(engine.fs.create(path, { size, offline: true, uid: 1000, gid: 1000 }));
    if (pending.length === 64) {
      await Promise.all(pending.splice(0));
      progress(i + 1);
    }
  }
  await Promise.all(pending);
  progress(files);
  return { paths, stubBytes };
}

/** Sets up the HSM group (idempotent across reopens). */
export async function hsmGroup(engine: Engine): Promise<void> {
  if (engine.groups.list().some((group) => group.name === 'hsm')) return;
  const group = await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
  await group.mark({ path: ARCHIVE, scope: 'mount', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
}

/**
 * The HSM daemon: answers the hsm group's queue until `stop()` says so.
 * `leaveUnanswered` makes it read some events and not answer them, as a
 * daemon that dies mid-work would (the demo restarts it afterwards).
 */
export class HsmDaemon {
  #queue: EventQueue;
  #running = true;
  readonly #loop: Promise<void>;
  leaveUnanswered = 0;

  readonly #engine: Engine;
  readonly #counters: DemoCounters;
  readonly #prng: Prng;
  constructor(engine: Engine, counters: DemoCounters, prng: Prng) {
    this.#prng = prng;
    this.#counters = counters;
    this.#engine = engine;
    this.#queue = engine.groups.get('hsm').openQueue();
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let events;
      const queue = this.#queue;
      try {
        events = await queue.read({ max: 64, waitMs: 20 });
      } catch {
        // A restart closed this handle while it was read: go on with the new one.
        if (this.#restarting !== null) await this.#restarting;
        if (this.#queue !== queue) continue;
        return; // the engine closed or failed
      }
      // Answered concurrently, as a real HSM daemon does, and without
      // waiting for one batch before reading the next: fills and answers
      // share fdatasyncs through group commit.
      for (const event of events) {
        if (this.leaveUnanswered > 0) {
          this.leaveUnanswered--;
          this.skipped++;
          continue;
        }
        const answering = this.#answer(queue, event);
        this.#answering.add(answering);
        void answering.finally(() => this.#answering.delete(answering));
      }
    }
    await Promise.all(this.#answering);
  }

  /** Answers under way. */
  readonly #answering = new Set<Promise<void>>();

  /** Fills what a pre-content event asks for, if it is offline, and answers it (now and then with EAGAIN). */
  async #answer(queue: EventQueue, event: QueuedEvent): Promise<void> {
    try {
      if (this.#prng.chance(0.02)) {
        await queue.respond(event.id, FAN_DENY_ERRNO(ERRNO.EAGAIN));
        this.#counters.denied++;
      } else {
        // Fill exactly the range asked for, if any of it is offline.
        if (event.range !== undefined && event.range.count > 0 && (event.mask & FAN_PRE_ACCESS) !== 0n) {
          const offline = await this.#engine.fs.offlineBytes(event.path!).catch(() => 0);
          if (offline > 0) {
            await this.#engine.fs.hsmFill(event.path!, event.range.offset, event.range.count);
            this.#counters.fills++;
            this.#counters.filledBytes += event.range.count;
          }
        }
        await queue.respond(event.id, FAN_ALLOW);
      }
      this.#counters.requestsAnswered++;
    } catch {
      // The file was renamed or deleted between the event and its fill (the
      // demo fills by path): the process must still get an answer, or it
      // waits forever. It is told to try again. If the handle closed (a
      // restart puts the event back) or the engine is closing, this fails too,
      // and the next read tells.
      await queue
        .respond(event.id, FAN_DENY_ERRNO(ERRNO.EAGAIN))
        .then(() => void this.#counters.denied++)
        .catch(() => undefined);
    }
  }

  /** Events read and deliberately left unanswered (they come back on restart). */
  skipped = 0;

  /** Releases the queue handle and opens a new one: read, unanswered events come back first. */
  async restart(): Promise<void> {
    const old = this.#queue;
    this.#restarting = old.close().then(() => {
      this.#queue = this.#engine.groups.get('hsm').openQueue();
    });
    try {
      await this.#restarting;
    } finally {
      this.#restarting = null;
    }
  }

  /** Set while a restart closes the handle and opens the next: the loop waits for it rather than stopping. */
  #restarting: Promise<void> | null = null;

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.#queue.close().catch(() => undefined);
  }
}

/**
 * A simulated process: reads ranges of stubs (the HSM fills them), writes,
 * renames and deletes. A file it deletes is replaced by a new stub, so the
 * archive never runs dry however small it is (with a handful of files, a
 * workload that only deleted would end up failing every call with ENOENT).
 */
export async function simulatedProcess(
  engine: Engine,
  pid: number,
  paths: string[],
  operations: number,
  counters: DemoCounters,
  prng: Prng,
  stopped: () => boolean,
): Promise<void> {
  const ctx = { pid, tid: pid, uid: 1000, gid: 1000 };
  for (let op = 0; op < operations && !stopped(); op++) {
    counters.attempts++;
    const index = prng.int(paths.length);
    const path = paths[index]!;
    try {
      const roll = prng.next();
      if (roll < 0.7) {
        const fd = await engine.fs.open(path, 'r', {}, ctx);
        const size = (await engine.fs.stat(path, ctx)).size;
        const offset = prng.int(Math.max(1, size));
        await engine.fs.read(fd, offset, prng.between(4 * KIB, 256 * KIB), ctx);
        await engine.fs.close(fd, ctx);
      } else if (roll < 0.85) {
        const fd = await engine.fs.open(path, 'rw', {}, ctx);
        await engine.fs.write(fd, prng.int(64 * KIB), prng.between(KIB, 16 * KIB), ctx);
        await engine.fs.close(fd, ctx);
      } else if (roll < 0.95) {
        const renamed = `${ARCHIVE}/p${prng.int(DIRECTORIES)}/moved${pid}-${op}.dat`;
        await engine.fs.rename(path, renamed, ctx);
        paths[index] = renamed;
      } else {
        await engine.fs.unlink(path, ctx);
        const replacement = `${ARCHIVE}/p${prng.int(DIRECTORIES)}/new${pid}-${op}.dat`;
        paths[index] = replacement;
        await engine.fs.create(replacement, { size: prng.between(4 * KIB, MIB), offline: true, uid: 1000, gid: 1000 }, ctx);
      }
      counters.operations++;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EAGAIN') counters.failedEagain++;
      else if (code === 'EFAILED' || code === 'ECLOSED') return;
      // ENOENT for a file another process moved: part of the workload. The
      // simulated filesystem fails such a call without any I/O, so a run of
      // them would never let timers or I/O callbacks run: yield first.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
