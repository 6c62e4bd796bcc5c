/**
 * `watchFilesystem(engine, path, options)`: a real filesystem's fanotify
 * events journaled into an engine's changelog, as `fanlog import --format
 * fanotify` journals a captured stream (interop/fanotify-import.ts: the same
 * check and the same record), but live, from the kernel.
 *
 * The group: FAN_CLASS_NOTIF with FAN_REPORT_DFID_NAME_TARGET (a
 * pre-content class refuses file ids: EINVAL), and one mark on `path`, of
 * its whole filesystem (default) or its mount. Every event is an event
 * record of op `external` with the kernel's 64-bit mask and the acting
 * process's pid, its object's fid, and its parent's fid and name.
 *
 * States:
 *   watching ──a read──▶ journaling ──durable──▶ watching
 *      │                     │  (the poll handle paused: the kernel queues
 *      │                     │   meanwhile, and overflows past its queue)
 *      └──stop()──▶ stopping (what the kernel holds is read and journaled)
 *                      ──▶ stopped (group closed, `done` resolves)
 *   a failed commit (the engine failed, or was closed) ──▶ stopped, with
 *   `done` rejecting with that error, and the group closed.
 *
 * Atomicity: the events of one read are journaled as entries of at most
 * ENTRY_EVENTS, each entry all or none, so an event is never half written.
 * What is lost is said, never silent, by a loss note (`kind: 'note', op:
 * 'loss'`, path '/') that every consumer sees:
 *   FAN_Q_OVERFLOW: the kernel's queue overflowed and dropped events;
 *   an event the import's check refuses (a handle that is not ext4's
 *   FILEID_INO32_GEN, so no fid holds it: xfs, btrfs, tmpfs), its code and
 *   why.
 * Durability: a read's events are durable, as the engine's sync policy
 * says, before the next read; when `stop()` resolves, every event the
 * kernel reported before it was called is journaled.
 *
 * Why a function over an EngineCore rather than an Engine method: the
 * kernel layer sits beside interop/ (rank 4.5), below fanlog.ts, and an
 * `engine.fanotify(options)` in fanlog.ts can wrap this in one line.
 * The journal must not live on the watched filesystem: each commit would
 * raise events that are journaled by commits of their own, without end, so
 * a journal on the watched device is refused (EINVAL).
 */
import { statSync } from 'node:fs';
import type { EngineCore } from '../engine/engine.js';
import type { EngineRecord } from '../engine/record/record.js';
import {
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_ONDIR,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
} from '../engine/notify/masks.js';
import { FanlogError } from '../errors.js';
import { decodeFanotifyStream } from '../interop/fanotify-events.js';
import { checkFanotifyEvent, recordOfFanotifyEvent } from '../interop/fanotify-import.js';
import { FanotifyGroup } from './fanotify-group.js';
import { closeDescriptor, FAN_REPORT_DFID_NAME_TARGET } from './syscalls.js';

const ENTRY_EVENTS = 1000;
/** What a changelog watches by default: every change to names, contents and attributes, of files and directories. */
export const WATCH_DEFAULT_MASK =
  FAN_CREATE |
  FAN_DELETE |
  FAN_MOVED_FROM |
  FAN_MOVED_TO |
  FAN_RENAME |
  FAN_MODIFY |
  FAN_CLOSE_WRITE |
  FAN_ATTRIB |
  FAN_DELETE_SELF |
  FAN_MOVE_SELF |
  FAN_ONDIR;
const LINUX_BITS = 0xffffffffn;

export interface WatchOptions {
  /** Mark the whole filesystem `path` is on (default), or its mount only. */
  mark?: 'filesystem' | 'mount';
  /** The kernel's event bits to ask for (Linux's 32; WATCH_DEFAULT_MASK by default). */
  mask?: bigint;
}

export interface FanotifyStats {
  /** Events the kernel reported. */
  events: number;
  /** Event records journaled (the changelog mask may leave some out). */
  journaled: number;
  /** FAN_Q_OVERFLOW events, each journaled as a loss note. */
  overflows: number;
  /** Events the check refused, each journaled as a loss note. */
  refused: number;
}

export interface FanotifySource {
  /** Reads and journals what the kernel holds, then closes the group; resolves with `done`. */
  stop(): Promise<void>;
  stats(): FanotifyStats;
  /** Resolves once stopped; rejects with the error that ended the source. */
  readonly done: Promise<void>;
}

/** Starts journaling the kernel's events on `path`'s filesystem (EPERM not root, ENOSYS no fanotify; see kernel/syscalls.ts). */
export function watchFilesystem(engine: EngineCore, path: string, options: WatchOptions = {}): FanotifySource {
  engine.checkWritable();
  const mask = options.mask ?? WATCH_DEFAULT_MASK;
  if (typeof mask !== 'bigint' || mask <= 0n || (mask & ~LINUX_BITS) !== 0n) {
    throw new FanlogError(
      'EINVAL',
      `mask must be Linux's event bits (a non-zero bigint below 2^32), not ${String(mask)}: fanlog's own high bits are not the kernel's`,
    );
  }
  const kind = checkMarkKind(options.mark);
  checkEngineApart(engine, path);
  const group = FanotifyGroup.open({ groupClass: 'notif', report: FAN_REPORT_DFID_NAME_TARGET });
  try {
    group.mark(path, kind, mask);
    // Inside the try: a poll handle that cannot start must not leave the group's descriptor open.
    return new FilesystemWatch(engine, group);
  } catch (error) {
    group.close();
    throw error;
  }
}

/** The mark's kind: 'filesystem' (default) or 'mount'; EINVAL otherwise. */
export function checkMarkKind(mark: unknown): 'filesystem' | 'mount' {
  const kind = mark ?? 'filesystem';
  if (kind !== 'filesystem' && kind !== 'mount') throw new FanlogError('EINVAL', `mark must be 'filesystem' or 'mount', not ${JSON.stringify(mark)}`);
  return kind;
}

/** EINVAL when the engine is on `path`'s filesystem: its own writes would be events to journal (or to ask about), without end. */
export function checkEngineApart(engine: EngineCore, path: string): void {
  if (statSync(engine.dir).dev === statSync(path).dev) {
    throw new FanlogError('EINVAL', `the engine ${engine.dir} is on the filesystem of ${path}: its own writes would be events to journal, without end`);
  }
}

/** Journals the events of a changelog group given whole (a supervisor's, inherited): see watchFilesystem. */
export function watchGroup(engine: EngineCore, group: FanotifyGroup): FanotifySource {
  engine.checkWritable();
  return new FilesystemWatch(engine, group);
}

class FilesystemWatch implements FanotifySource {
  readonly done: Promise<void>;
  readonly #engine: EngineCore;
  readonly #group: FanotifyGroup;
  readonly #stats: FanotifyStats = { events: 0, journaled: 0, overflows: 0, refused: 0 };
  /** The journaling of the last read, which the next one waits for. */
  #turn: Promise<void> = Promise.resolve();
  #stopping = false;
  #end!: (error?: Error) => void;

  constructor(engine: EngineCore, group: FanotifyGroup) {
    this.#engine = engine;
    this.#group = group;
    this.done = new Promise((resolve, reject) => (this.#end = (error) => (error === undefined ? resolve() : reject(error))));
    // Handled here so that a caller who never awaits `done` does not crash the process; one who does sees the error.
    this.done.catch(() => undefined);
    this.#group.watch(() => this.#readable());
  }

  stats(): FanotifyStats {
    return { ...this.#stats };
  }

  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#group.pause();
      this.#turn = this.#turn.then(() => this.#finish());
    }
    return this.done;
  }

  /** The poll handle's call: pause, read what is there, journal it, watch again. */
  #readable(): void {
    this.#group.pause();
    const buffers: Uint8Array[] = [];
    try {
      this.#group.readNow((bytes) => buffers.push(bytes));
    } catch (error) {
      // A failed read (an errno other than EAGAIN) ends the watch through `done`; thrown here, it would be uncaught.
      this.#turn = this.#turn.then(() => this.#fail(error));
      return;
    }
    this.#turn = this.#turn
      .then(() => this.#journal(buffers))
      .then(() => {
        if (!this.#stopping && !this.#group.closed) this.#group.watch(() => this.#readable());
      })
      .catch((error: unknown) => this.#fail(error));
  }

  /** Reads to the end of what the kernel holds, journals it, and closes the group. */
  async #finish(): Promise<void> {
    if (this.#group.closed) return;
    try {
      for (;;) {
        const buffers: Uint8Array[] = [];
        if (this.#group.readNow((bytes) => buffers.push(bytes)) === 0) break;
        await this.#journal(buffers);
      }
      this.#group.close();
      this.#end();
    } catch (error) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    if (!this.#group.closed) this.#group.close();
    this.#stopping = true;
    this.#end(error instanceof Error ? error : new Error(String(error)));
  }

  /** Journals the events of `buffers` in order: runs of event records as entries, each loss as its note between them. */
  async #journal(buffers: readonly Uint8Array[]): Promise<void> {
    let run: EngineRecord[] = [];
    const flush = async (): Promise<void> => {
      const records = run;
      run = [];
      if (records.length > 0) this.#stats.journaled += await this.#engine.commit(null, () => records);
    };
    for (const bytes of buffers) {
      const { events, offsets } = decodeFanotifyStream(bytes);
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!;
        this.#stats.events++;
        // A group that reports file ids gives no descriptors (FAN_NOFD); one given all the same is closed, never leaked.
        if (event.fd >= 0) closeDescriptor(event.fd);
        const loss = this.#lossOf(event, offsets[i]!);
        if (loss === null) {
          run.push(recordOfFanotifyEvent(event, this.#engine.now()));
          if (run.length >= ENTRY_EVENTS) await flush();
          continue;
        }
        await flush();
        await this.#engine.appendRecord({ kind: 'note', op: 'loss', time: this.#engine.now(), path: '/', reason: loss });
      }
    }
    await flush();
  }

  /** Why `event` is a loss instead of a record, or null when it is journaled. */
  #lossOf(event: Parameters<typeof checkFanotifyEvent>[0], offset: number): string | null {
    if ((event.mask & FAN_Q_OVERFLOW) !== 0n) {
      this.#stats.overflows++;
      return "FAN_Q_OVERFLOW: the kernel's queue overflowed and dropped events";
    }
    try {
      checkFanotifyEvent(event, offset);
      return null;
    } catch (error) {
      if (!(error instanceof FanlogError)) throw error;
      this.#stats.refused++;
      return `${error.code}: ${error.message}`;
    }
  }
}
