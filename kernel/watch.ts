/**
 * `watchFilesystem(engine, path, options)`: a real filesystem's fanotify
 * events journaled into an engine's changelog, as `fanlog import --format
 * fanotify` journals a captured stream (interop/fanotify-import.ts: the same
 * check and the same record), but live, from the kernel.
 *
 * The group: FAN_CLASS_NOTIF with FAN_REPORT_DFID_NAME_TARGET and
 * FAN_REPORT_TID (WATCH_REPORT; a pre-content class refuses file ids:
 * EINVAL), and one mark on `path`, of its whole filesystem (default) or its
 * mount (which reports no change to names or attributes: a mask that asks
 * for one is refused, EINVAL, before the kernel is asked). Every event is
 * an event record of op `external` and source 'fanotify', with the
 * kernel's 64-bit mask, the acting thread's tid and its process's pid, its
 * object's fid, its parent's fid and name, and its path where it can still
 * be found (kernel/live-record.ts says what pid, tid and path mean, and
 * when a record has no path).
 *
 * States:
 *   watching ──a read──▶ journaling ──durable──▶ watching
 *      │                     │  (the poll handle paused: the kernel queues
 *      │                     │   meanwhile, and overflows past its queue)
 *      └──stop()──▶ stopping ──▶ stopped (group closed, `done` resolves)
 *   a failed read or commit (the engine failed, or was closed) ──▶ stopped,
 *   with `done` rejecting with that error, and the group closed.
 *
 * Stopping has an end, however busy the filesystem: stop() first removes
 * the marks this watch made (a group given whole, a supervisor's, keeps
 * its marks, which are not this process's to remove), so the kernel queues
 * nothing new; then it reads and journals at most what the kernel's queue
 * can hold (fs.fanotify.max_queued_events, and the overflow event): all
 * that was queued when stop() was called, since nothing read it meanwhile,
 * and the queue gives events in order. (A group made with
 * FAN_UNLIMITED_QUEUE has no such bound; fanlog makes none.)
 *
 * Atomicity: the events of one read are journaled as entries of at most
 * ENTRY_EVENTS, each entry all or none, so an event is never half written.
 * What is lost is said, never silent, by a loss note (`kind: 'note', op:
 * 'loss'`, path '/') that every consumer sees (a path or mask filter lets
 * every note through):
 *   FAN_Q_OVERFLOW: the kernel's queue overflowed and dropped events;
 *   an event the import's check refuses, or that does not decode (a name
 *   that is not UTF-8), its code and why; the events beside it in the
 *   same read are journaled still.
 * Gaps: a watch of its own group journals the gap since the last watch
 * first, and records a clean end (kernel/watch-state.ts).
 * Handles: ext4's (FILEID_INO32_GEN) are the records' fids; any other
 * filesystem's (xfs, btrfs, tmpfs) are kept as the kernel gave them, type
 * and bytes, in `handle`, `parentHandle`, `oldParentHandle` (record format
 * 9), and paths are resolved from them all the same.
 * Descriptors: a group that reports file ids gives none (FAN_NOFD), but
 * any given (a group given whole may not report them) is closed as soon as
 * it is read, before anything is journaled, so that no failure leaks one.
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
  FAN_FS_ERROR,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_ONDIR,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
  maskNames,
} from '../engine/notify/masks.js';
import { FanlogError } from '../errors.js';
import type { FanotifyEvent } from '../interop/fanotify-events.js';
import { checkFanotifyEvent } from '../interop/fanotify-import.js';
import { FanotifyGroup, queueEventsMax } from './fanotify-group.js';
import { crashPoint } from './crash-points.js';
import { eventsOfRead, LiveRecords } from './live-record.js';
import type { ReadTally } from './read-tally.js';
import { claimWatch, type WatchClaim } from './watch-state.js';
import { FAN_MARK_FILESYSTEM, FAN_MARK_FLUSH, FAN_MARK_MOUNT, FAN_REPORT_DFID_NAME_TARGET, FAN_REPORT_TID, fanotifyMark } from './syscalls.js';

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
/** Events a mount mark cannot report (EINVAL): changes to names and attributes, whose inode events know no mount. */
const MOUNT_REFUSED = FAN_ATTRIB | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CREATE | FAN_DELETE | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_FS_ERROR | FAN_RENAME;
/** What a mount mark's changelog watches by default: writes, and closes after writing. */
export const WATCH_MOUNT_DEFAULT_MASK = FAN_MODIFY | FAN_CLOSE_WRITE;
/** fanotify_init's report flags for a changelog group: file ids and names, of the entry's target too, and the acting thread. */
export const WATCH_REPORT = FAN_REPORT_DFID_NAME_TARGET | FAN_REPORT_TID;
const LINUX_BITS = 0xffffffffn;

export interface WatchOptions {
  /** Mark the whole filesystem `path` is on (default), or its mount only. */
  mark?: 'filesystem' | 'mount';
  /** The kernel's event bits to ask for (Linux's 32; WATCH_DEFAULT_MASK by default). */
  mask?: bigint;
  /** Give each record its path, where it can be found (default true; kernel/live-record.ts). */
  paths?: boolean;
}

export interface FanotifyStats {
  /** Events the kernel reported. */
  events: number;
  /** Event records journaled (the changelog mask may leave some out). */
  journaled: number;
  /** FAN_Q_OVERFLOW events, each journaled as a loss note. */
  overflows: number;
  /** Events the check refused or that did not decode, each journaled as a loss note. */
  refused: number;
}

export interface FanotifySource {
  /** Removes the marks, reads and journals what the kernel holds, then closes the group; resolves with `done`. */
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
  const paths = options.paths ?? true;
  if (typeof paths !== 'boolean') throw new FanlogError('EINVAL', `paths must be true or false, not ${String(paths)}`);
  const kind = checkMarkKind(options.mark);
  if (kind === 'mount' && (mask & MOUNT_REFUSED) !== 0n) {
    throw new FanlogError(
      'EINVAL',
      `a mount mark cannot report ${maskNames(mask & MOUNT_REFUSED).join('|')} (the kernel's rule: only reads, writes, opens and closes, e.g. WATCH_MOUNT_DEFAULT_MASK); mark the filesystem for changes to names and attributes`,
    );
  }
  checkEngineApart(engine, path);
  // Before the group and its mark: the records' mount descriptor is opened unwatched.
  const records = LiveRecords.open(paths ? path : null, true);
  let group: FanotifyGroup | null = null;
  try {
    group = FanotifyGroup.open({ groupClass: 'notif', report: WATCH_REPORT });
    group.mark(path, kind, mask);
    // After the mark, before any read: a change is either in the gap the note says, or reported (kernel/watch-state.ts).
    const claim = claimWatch(engine.dir, path);
    // Inside the try: a poll handle that cannot start must not leave the group's descriptor open.
    return new FilesystemWatch(engine, group, records, kind === 'filesystem' ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT, { lost: claim.gap, claim });
  } catch (error) {
    group?.close();
    records.close();
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

/**
 * Journals the events of a changelog group given whole (a supervisor's,
 * inherited): see watchFilesystem. With `path` (what the group marks), the
 * records get paths. Whether the group reports tids is read from its
 * fdinfo (EINVAL when the descriptor is not a fanotify group). Its marks
 * stay when the watch stops.
 */
export function watchGroup(engine: EngineCore, group: FanotifyGroup, options: SupervisedWatch = {}): FanotifySource {
  engine.checkWritable();
  const records = LiveRecords.open(options.path ?? null, group.reportsTid());
  try {
    return new FilesystemWatch(engine, group, records, null, { tally: options.tally ?? null, lost: options.lost ?? null, claim: null });
  } catch (error) {
    records.close();
    throw error;
  }
}

/** What a supervisor hands a changelog handler beside the group (kernel/read-tally.ts). */
export interface SupervisedWatch {
  /** What the group marks: records get paths. */
  path?: string;
  /** Where this handler says it holds a read not yet journaled. */
  tally?: ReadTally;
  /** A loss the last handler left (it died holding such a read): journaled first, as a loss note. */
  lost?: string;
}

/** A watch's tally (supervised), the loss it journals before any event, and the engine's watch state it holds (its own group's). */
type WatchStart = { tally?: ReadTally | null; lost: string | null; claim: WatchClaim | null };

class FilesystemWatch implements FanotifySource {
  readonly done: Promise<void>;
  readonly #engine: EngineCore;
  readonly #group: FanotifyGroup;
  readonly #records: LiveRecords;
  /** The kind of the marks this watch made (FAN_MARK_FILESYSTEM or FAN_MARK_MOUNT), removed when it stops; null for a group given whole. */
  readonly #markKind: number | null;
  readonly #stats: FanotifyStats = { events: 0, journaled: 0, overflows: 0, refused: 0 };
  /** Under a supervisor: where a read not yet journaled is said (kernel/read-tally.ts). */
  readonly #tally: ReadTally | null;
  readonly #claim: WatchClaim | null;
  /** The journaling of the last read, which the next one waits for. */
  #turn: Promise<void> = Promise.resolve();
  #stopping = false;
  #end!: (error?: Error) => void;

  constructor(engine: EngineCore, group: FanotifyGroup, records: LiveRecords, markKind: number | null, { tally = null, lost, claim }: WatchStart) {
    this.#engine = engine;
    this.#group = group;
    this.#records = records;
    this.#markKind = markKind;
    this.#tally = tally;
    this.#claim = claim;
    // First, durably before it is forgotten (told, noted): a loss or gap, said before any event; a death first leaves it.
    if (lost !== null)
      this.#turn = this.#note(lost)
        .then(() => this.#notedDurably())
        .catch((error: unknown) => this.#fail(error));
    this.done = new Promise((resolve, reject) => (this.#end = (error) => (error === undefined ? resolve() : reject(error))));
    // Handled here so that a caller who never awaits `done` does not crash the process; one who does sees the error.
    this.done.catch(() => undefined);
    this.#group.watch(() => this.#readable());
  }

  stats(): FanotifyStats {
    return { ...this.#stats };
  }

  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#group.pause();
      let unmarked: Error | null = null;
      try {
        // First: with no mark, the kernel queues nothing new, so what it holds has an end.
        if (this.#markKind !== null) fanotifyMark(this.#group.fd, FAN_MARK_FLUSH | this.#markKind, 0n, '/');
      } catch (error) {
        unmarked = error as Error;
      }
      this.#turn = this.#turn.then(() => (unmarked === null ? this.#finish() : this.#fail(unmarked)));
    }
    return this.done;
  }

  /** The poll handle's call: pause, read what is there, journal it, watch again. */
  #readable(): void {
    this.#group.pause();
    const buffers: Uint8Array[] = [];
    let failure: Error | null = null;
    try {
      this.#tally?.reading();
      this.#group.readNow((bytes) => buffers.push(bytes));
      crashPoint('notified');
    } catch (error) {
      // A failed read (an errno other than EAGAIN) ends the watch through `done`, once what was read before it is journaled.
      failure = error as Error;
    }
    this.#turn = this.#turn
      .then(() => this.#journal(buffers))
      .then(() => {
        this.#tally?.journaled();
        if (failure !== null) throw failure;
        if (!this.#stopping && !this.#group.closed) this.#group.watch(() => this.#readable());
      })
      .catch((error: unknown) => this.#fail(error));
  }

  /** Journals what the kernel holds, up to what its queue held when stop() was called (see the header), and closes the group. */
  async #finish(): Promise<void> {
    if (this.#group.closed) return;
    try {
      for (let left = queueEventsMax() + 1; left > 0;) {
        const buffers: Uint8Array[] = [];
        this.#tally?.reading();
        const read = this.#group.readNow((bytes) => buffers.push(bytes));
        left -= await this.#journal(buffers);
        this.#tally?.journaled();
        if (read === 0) break;
      }
      // Only a stop whose events are durable is clean, whatever the sync policy: a failed one leaves 'watching', and the next watch says so.
      if (this.#claim !== null) await this.#engine.journal.sync();
      this.#close();
      this.#claim?.stopped();
      this.#end();
    } catch (error) {
      this.#fail(error);
    }
  }

  #close(): void {
    if (this.#group.closed) return;
    try {
      this.#group.close();
    } finally {
      this.#records.close();
    }
  }

  #fail(error: unknown): void {
    this.#stopping = true;
    try {
      this.#close();
    } finally {
      // Not a clean stop: the record still says watching, and the next watch says this one ended without stopping.
      this.#claim?.release();
      this.#end(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Journals the events of `buffers` in order: runs of event records as entries, each loss as its note between them; resolves with how many events. */
  async #journal(buffers: readonly Uint8Array[]): Promise<number> {
    // Every descriptor is closed here, before anything can fail.
    const read = eventsOfRead(buffers);
    this.#records.newRead();
    let run: EngineRecord[] = [];
    const flush = async (): Promise<void> => {
      const records = run;
      run = [];
      if (records.length > 0) this.#stats.journaled += await this.#engine.commit(null, () => records);
    };
    for (const item of read) {
      this.#stats.events++;
      const loss = 'refusal' in item ? this.#refused(item.refusal) : this.#lossOf(item.event, item.at);
      if (loss === null) {
        run.push(this.#records.recordOf((item as { event: FanotifyEvent }).event, this.#engine.now()));
        if (run.length >= ENTRY_EVENTS) await flush();
        continue;
      }
      await flush();
      await this.#note(loss);
    }
    await flush();
    return read.length;
  }

  async #notedDurably(): Promise<void> {
    await this.#engine.journal.sync();
    this.#tally?.told();
    this.#claim?.noted(); // one that cannot forget the gap keeps it: the next watch says it again, a rescan, not a hole
  }

  /** A loss note, which every consumer gets. */
  async #note(reason: string): Promise<void> {
    await this.#engine.appendRecord({ kind: 'note', op: 'loss', time: this.#engine.now(), path: '/', reason });
  }

  #refused(why: string): string {
    this.#stats.refused++;
    return why;
  }

  /** Why `event` is a loss instead of a record, or null when it is journaled. */
  #lossOf(event: FanotifyEvent, offset: number): string | null {
    if ((event.mask & FAN_Q_OVERFLOW) !== 0n) {
      this.#stats.overflows++;
      return "FAN_Q_OVERFLOW: the kernel's queue overflowed and dropped events";
    }
    try {
      checkFanotifyEvent(event, offset);
      return null;
    } catch (error) {
      if (!(error instanceof FanlogError)) throw error;
      return this.#refused(error.message);
    }
  }
}
