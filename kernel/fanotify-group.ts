/**
 * One kernel fanotify group: its descriptor, its marks, and the reading of
 * its events on Node's loop.
 *
 * States (one field, `#state`; every method says which it accepts):
 *   open ──watch(onReadable)──▶ watching ──pause()──▶ open
 *     │                        │
 *     └────────close()─────────┴──▶ closed   (the descriptor and the poll
 *                                             handle released, once)
 * The group owns its descriptor: nothing else closes it. It is made
 * FAN_NONBLOCK (a read never waits) and FAN_CLOEXEC (a child process never
 * holds it: a held copy keeps the group alive after close()).
 *
 * Reading: the poll handle calls `onReadable`, and its owner reads with
 * `readNow`, which stops at EAGAIN or after a bounded number of buffers.
 * The bound keeps one busy group from holding the loop: libuv's poll is
 * level triggered, so what is left wakes the loop again on its next turn;
 * an owner that pauses while it journals leaves the rest queued in the
 * kernel, which is the backpressure (and overflow, past its queue). The
 * kernel writes whole events into a read, never one split across two, so
 * each buffer decodes alone.
 */
import { readFileSync } from 'node:fs';
import { FanlogError } from '../errors.js';
import {
  closeDescriptor,
  FAN_CLASS_CONTENT,
  FAN_CLASS_NOTIF,
  FAN_CLASS_PRE_CONTENT,
  FAN_CLOEXEC,
  FAN_MARK_ADD,
  FAN_MARK_FILESYSTEM,
  FAN_MARK_INODE,
  FAN_MARK_MOUNT,
  FAN_NONBLOCK,
  FAN_REPORT_TID,
  fanotifyInit,
  fanotifyMark,
  type Poller,
  pollReadable,
  readNonblocking,
} from './syscalls.js';

/** A read's buffer: the kernel's own examples use 4 KiB; 64 KiB takes a burst in fewer calls. */
const READ_BYTES = 64 * 1024;
/** Buffers readNow reads by default before the loop gets a turn. */
const BUFFERS_PER_READ = 16;

export type GroupClass = 'notif' | 'content' | 'pre-content';
export type MarkKind = 'filesystem' | 'mount' | 'inode';

const CLASS_FLAGS: Record<GroupClass, number> = { notif: FAN_CLASS_NOTIF, content: FAN_CLASS_CONTENT, 'pre-content': FAN_CLASS_PRE_CONTENT };
const MARK_FLAGS: Record<MarkKind, number> = { filesystem: FAN_MARK_FILESYSTEM, mount: FAN_MARK_MOUNT, inode: FAN_MARK_INODE };

export interface FanotifyGroupOptions {
  /** The group's class: 'notif' for a changelog, 'pre-content' for permission and pre-content events. */
  groupClass: GroupClass;
  /** fanotify_init's FAN_REPORT_* flags (FAN_REPORT_DFID_NAME_TARGET for a changelog). */
  report: number;
  /** fanotify_init's event_f_flags: how the descriptors of permission events are opened (O_RDONLY by default). */
  eventFileFlags?: number;
}

type State = 'open' | 'watching' | 'closed';

export class FanotifyGroup {
  readonly fd: number;
  #state: State = 'open';
  #poller: Poller | null = null;
  readonly #buffer = new Uint8Array(READ_BYTES);

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** fanotify_init: a new group (EPERM not root, ENOSYS no fanotify, EINVAL flags the kernel refuses together). */
  static open(options: FanotifyGroupOptions): FanotifyGroup {
    const flags = FAN_CLOEXEC | FAN_NONBLOCK | CLASS_FLAGS[options.groupClass] | options.report;
    return new FanotifyGroup(fanotifyInit(flags, options.eventFileFlags ?? 0));
  }

  /** A group whose descriptor this process was given (by its supervisor, inherited): it is this group's to close, the supervisor keeps its own. */
  static adopt(fd: number): FanotifyGroup {
    if (!Number.isInteger(fd) || fd < 0) throw new FanlogError('EINVAL', `a fanotify group's descriptor is a number from 0, not ${String(fd)}`);
    return new FanotifyGroup(fd);
  }

  /** Whether the group was made with FAN_REPORT_TID, as /proc/self/fdinfo shows its flags (EINVAL when the descriptor is not a fanotify group). */
  reportsTid(): boolean {
    let info = '';
    try {
      info = readFileSync(`/proc/self/fdinfo/${this.fd}`, 'latin1');
    } catch {
      // Not open: said below, as for any descriptor that is not a group.
    }
    const flags = /^fanotify flags:\s*([0-9a-f]+)/m.exec(info);
    if (flags === null) throw new FanlogError('EINVAL', `descriptor ${this.fd} is not a fanotify group`);
    return (parseInt(flags[1]!, 16) & FAN_REPORT_TID) !== 0;
  }

  /** Adds a mark of `mask` on `path` (EOPNOTSUPP where the filesystem refuses the events). */
  mark(path: string, kind: MarkKind, mask: bigint): void {
    this.#check('mark');
    fanotifyMark(this.fd, FAN_MARK_ADD | MARK_FLAGS[kind], mask, path);
  }

  /** Calls `onReadable` (on Node's loop) whenever the kernel holds events, until pause() or close(). */
  watch(onReadable: () => void): void {
    this.#check('watch');
    this.#poller ??= pollReadable(this.fd);
    this.#state = 'watching';
    this.#poller.start(onReadable);
  }

  /** Stops watching (events queue in the kernel meanwhile); watch() goes on. */
  pause(): void {
    if (this.#state !== 'watching') return;
    this.#poller!.stop();
    this.#state = 'open';
  }

  /** Reads what the kernel holds now, up to `buffersMax` buffers, and hands it to `onBytes`; how many bytes. */
  readNow(onBytes: (bytes: Uint8Array) => void, buffersMax = BUFFERS_PER_READ): number {
    this.#check('readNow');
    let total = 0;
    for (let i = 0; i < buffersMax; i++) {
      const count = readNonblocking(this.fd, this.#buffer);
      if (count === 0) break;
      total += count;
      // A copy: the buffer is read into again at once.
      onBytes(this.#buffer.slice(0, count));
    }
    return total;
  }

  /** Releases the poll handle and closes the descriptor; the kernel drops the marks and what is queued. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#poller?.close();
    this.#poller = null;
    closeDescriptor(this.fd);
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  #check(call: string): void {
    if (this.#state === 'closed') throw new FanlogError('ECLOSED', `${call}: fanotify group ${this.fd} is closed`);
  }
}

/** The kernel's queue of notification events, where /proc does not say it (the default since Linux 2.6.37). */
const QUEUE_EVENTS_DEFAULT = 16384;

/** What the kernel queues before it overflows: fs.fanotify.max_queued_events (Linux 5.13+), else its default. */
export function queueEventsMax(): number {
  try {
    const value = Number(readFileSync('/proc/sys/fs/fanotify/max_queued_events', 'latin1').trim());
    if (Number.isInteger(value) && value > 0) return value;
  } catch {
    // An older kernel: its queue is the fixed default.
  }
  return QUEUE_EVENTS_DEFAULT;
}
