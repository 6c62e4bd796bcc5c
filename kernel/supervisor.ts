/**
 * What `fanlog supervise` holds across its handler's deaths (cli/supervise.ts
 * runs the handler): the kernel groups, their marks, and every permission
 * event read and not yet answered, with its descriptor.
 *
 * Why the supervisor, not the handler, reads the permission group: the
 * kernel never queues again an event that was read and not answered, and
 * the descriptor it gave that event dies with the process that read it. A
 * handler killed between its read and its journal would leave a reader
 * blocked forever on an event nobody knows. Read here, every event is held,
 * with its descriptor, until the handler says it is answered ("done"); a
 * restarted handler is sent every held event again, first, and tells the
 * ones it journaled (by seq) from those it never saw (kernel/permission.ts).
 * Held descriptors also keep their numbers from being reused while an
 * answer may still name them.
 *
 * Held events:
 *   read ──sent to the handler──▶ sent ──"journaled" S──▶ journaled (seq S)
 *     ──"done"──▶ closed and forgotten
 *   the handler dies: every held event is sent again to the next one,
 *   in the order read, with its seq if it has one, then "live".
 *
 * The changelog group is the handler's to read (it journals what it reads);
 * what a handler read and had not journaled when it died is lost, and the
 * read tally (kernel/read-tally.ts) tells the supervisor so, which tells the
 * next handler to journal a loss note first (or journals it at its stop).
 *
 * The groups are made FAN_CLOEXEC: the handler gets its copies only as the
 * descriptors the supervisor hands it (spawn's stdio), never by accident in
 * a grandchild, whose copy would keep the group alive after the supervisor
 * closed its own. The marks are the supervisor's: they survive the handler.
 */
import type { Duplex } from 'node:stream';
import { FAN_PRE_ACCESS, type Mask } from '../engine/notify/masks.js';
import { FanlogError } from '../errors.js';
import { decodeFanotifyStream } from '../interop/fanotify-events.js';
import { FanotifyGroup } from './fanotify-group.js';
import { holderId, splitEvents, type SupervisorEnv } from './feeds.js';
import type { FeedSink, KernelEvent, PermissionFeed } from './permission.js';
import { ReadTally } from './read-tally.js';
import { claimWatch, type WatchClaim } from './watch-state.js';
import { PERMISSION_EVENT_FLAGS } from './source.js';
import { closeDescriptor, FAN_MARK_FILESYSTEM, FAN_MARK_FLUSH, FAN_MARK_MOUNT, fanotifyMark } from './syscalls.js';
import { WATCH_REPORT } from './watch.js';

export interface HeldOptions {
  path: string;
  /** The engine directory the handler must open (its engine.fanotify() refuses another). */
  dir: string;
  mark: 'filesystem' | 'mount';
  /** Permission events for an engine group: what the handler's `permission` option must ask for. */
  permission?: { group: string; mask: Mask };
  /** A changelog group's events (the handler's `mask` option). */
  notifyMask?: Mask;
}

interface HeldEvent {
  id: string;
  fd: number;
  bytes: Uint8Array;
  seq?: bigint;
}

/** The handler's descriptors: where each goes in its table (spawn's stdio index). */
export const CHANNEL_FD = 3;
const PERMISSION_FD = 4;
const NOTIFY_FD = 5;
const TALLY_FD = 6;

export class HeldGroups {
  readonly permission: FanotifyGroup | null;
  readonly notify: FanotifyGroup | null;
  /** With a changelog group: where each handler says it holds a read not yet journaled (kernel/read-tally.ts). */
  readonly #tally: ReadTally | null;
  /** A loss a handler left and no handler has journaled yet. */
  #lost: string | null = null;
  /** The gap in the engine's changelog since its last watch (kernel/watch-state.ts), until a handler has journaled it. */
  #gap: string | null = null;
  /** The engine's watch state, this supervisor's while it holds the changelog group. */
  #claim: WatchClaim | null = null;
  readonly #options: HeldOptions;
  readonly #held = new Map<string, HeldEvent>();
  readonly #holder = holderId();
  #count = 0;
  #channel: Duplex | null = null;
  #buffered = '';
  #onError: (error: Error) => void = () => undefined;

  private constructor(options: HeldOptions, permission: FanotifyGroup | null, notify: FanotifyGroup | null) {
    this.#options = options;
    this.permission = permission;
    this.notify = notify;
    this.#tally = notify === null ? null : ReadTally.create();
  }

  /** Makes the groups and their marks (EPERM, EOPNOTSUPP, ENOSYS as kernel/syscalls.ts says). */
  static open(options: HeldOptions): HeldGroups {
    if (options.permission === undefined && options.notifyMask === undefined)
      throw new FanlogError('EINVAL', 'nothing to hold: neither permission events nor a changelog');
    let permission: FanotifyGroup | null = null;
    let notify: FanotifyGroup | null = null;
    try {
      if (options.permission !== undefined) {
        permission = FanotifyGroup.open({ groupClass: 'pre-content', report: 0, eventFileFlags: PERMISSION_EVENT_FLAGS });
        permission.mark(options.path, options.mark, options.permission.mask);
      }
      if (options.notifyMask !== undefined) {
        notify = FanotifyGroup.open({ groupClass: 'notif', report: WATCH_REPORT });
        notify.mark(options.path, options.mark, options.notifyMask);
      }
    } catch (error) {
      permission?.close();
      notify?.close();
      throw error;
    }
    return new HeldGroups(options, permission, notify);
  }

  /** What the handler's environment and stdio get: FANLOG_SUPERVISOR's JSON, and the descriptors from index 3 ('pipe' for the channel). */
  handlerSetup(): { env: string; stdio: ('pipe' | number | 'ignore')[] } {
    const { path, mark, dir } = this.#options;
    const env: SupervisorEnv = { pid: process.pid, channel: CHANNEL_FD, dir };
    const stdio: ('pipe' | number | 'ignore')[] = ['pipe', 'ignore', 'ignore'];
    if (this.permission !== null) {
      const { group, mask } = this.#options.permission!;
      env.permission = { fd: PERMISSION_FD, path, mark, mask: `0x${mask.toString(16)}`, group };
      stdio[1] = this.permission.fd;
    }
    if (this.notify !== null) {
      env.notify = { fd: NOTIFY_FD, path, mark, mask: `0x${this.#options.notifyMask!.toString(16)}`, tally: TALLY_FD, tallyId: this.#tally!.identity };
      const lost = this.pendingLoss;
      if (lost !== null) env.notify.lost = lost;
      stdio[2] = this.notify.fd;
      stdio[3] = this.#tally!.fd;
    }
    return { env: JSON.stringify(env), stdio };
  }

  /** Starts reading the permission group: each event is held, and sent to the handler if one is attached. */
  startReading(onError: (error: Error) => void): void {
    this.#onError = onError;
    this.permission?.watch(() => {
      try {
        this.#readNow();
      } catch (error) {
        this.permission!.pause();
        onError(error as Error);
      }
    });
  }

  #readNow(): number {
    let read = 0;
    this.permission!.readNow((bytes) => {
      for (const one of splitEvents(bytes)) {
        const event: HeldEvent = { id: `${this.#holder}:${++this.#count}`, fd: one.fd, bytes: one.bytes.slice() };
        this.#held.set(event.id, event);
        read++;
        this.#send(event);
      }
    });
    return read;
  }

  /** A new handler's channel: every held event is sent again, in the order read, then "live". */
  attach(channel: Duplex): void {
    this.#channel = channel;
    this.#buffered = '';
    channel.setEncoding?.('utf8');
    channel.on('data', (chunk: string) => this.#data(chunk));
    channel.on('error', () => undefined);
    for (const event of this.#held.values()) this.#send(event);
    this.#write({ t: 'live' });
  }

  /** The handler is gone: events wait for the next one. */
  detach(): void {
    this.#channel?.destroy();
    this.#channel = null;
  }

  #send(event: HeldEvent): void {
    const message: Record<string, unknown> = { t: 'event', id: event.id, fd: event.fd, bytes: Buffer.from(event.bytes).toString('base64') };
    if (event.seq !== undefined) message.seq = event.seq.toString();
    this.#write(message);
  }

  #write(message: object): void {
    if (this.#channel === null || this.#channel.destroyed) return;
    this.#channel.write(`${JSON.stringify(message)}\n`);
  }

  #data(chunk: string): void {
    this.#buffered += chunk;
    const lines = this.#buffered.split('\n');
    this.#buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      let message: { t?: string; id?: string; seq?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        this.#onError(new FanlogError('EINVAL', `the handler wrote what is not a supervisor message: ${line.slice(0, 80)}`));
        continue;
      }
      const event = message.id === undefined ? undefined : this.#held.get(message.id);
      if (event === undefined) continue;
      if (message.t === 'journaled' && message.seq !== undefined) event.seq = BigInt(message.seq);
      if (message.t === 'done') this.forget(event.id, true);
    }
  }

  /** An answered event: its descriptor closed (unless its answerer closed it) and forgotten. */
  forget(id: string, close: boolean): void {
    const event = this.#held.get(id);
    if (event === undefined) return;
    this.#held.delete(id);
    if (close) closeDescriptor(event.fd);
  }

  get heldCount(): number {
    return this.#held.size;
  }

  /** Once handler `pid` has exited (`how`: "exited 0", "was killed by SIGKILL"): whether it left changelog events read and not journaled. */
  handlerExited(pid: number | undefined, how: string): string | null {
    if (this.#tally === null) return null;
    const { diedReading, told } = this.#tally.take();
    let kept: string | null = null;
    if (told) {
      // The handler journaled both, durably: the engine's watch record forgets the gap.
      this.#lost = this.#gap = null;
      kept = this.#claim?.noted() ?? null;
    }
    if (diedReading) this.#lost = `a changelog handler (pid ${pid ?? 'unknown'}) ${how} holding kernel events it had read and not journaled: they are lost`;
    return kept === null ? null : `the engine's watch record could not forget the gap just journaled (${kept})`;
  }

  /** The loss a handler left that none has journaled: the supervisor's own stop journals it. */
  get pendingLoss(): string | null {
    return this.#gap === null ? this.#lost : this.#lost === null ? this.#gap : `${this.#gap}; ${this.#lost}`;
  }

  /**
   * With a changelog group: takes the engine's watch, so that a supervisor
   * killed from now on leaves a loss note for the next watch; the gap it
   * reports is told to the first handler with any loss. EBUSY while
   * another watch holds it.
   */
  claimWatch(): void {
    if (this.notify === null || this.#claim !== null) return;
    this.#claim = claimWatch(this.#options.dir, this.#options.path);
    this.#gap = this.#claim.gap;
  }

  /** The changelog's end is journaled, and durable: the next watch reports a clean gap. */
  changelogStopped(): void {
    this.#claim?.stopped();
  }

  /**
   * For the supervisor's own stop: removes the marks, so that no event
   * comes any more however busy the filesystem, and reads what the kernel
   * still holds into the held events.
   */
  drainForStop(): void {
    this.permission?.pause();
    const kind = this.#options.mark === 'mount' ? FAN_MARK_MOUNT : FAN_MARK_FILESYSTEM;
    for (const group of [this.permission, this.notify]) if (group !== null) fanotifyMark(group.fd, FAN_MARK_FLUSH | kind, 0n, '/');
    if (this.permission !== null) while (this.#readNow() > 0);
  }

  /** The held events as a feed, for the supervisor's own engine to answer by its stop policy (kernel/permission.ts). */
  feed(): PermissionFeed {
    if (this.permission === null) throw new FanlogError('EINVAL', 'no permission group is held');
    return new HeldFeed(this, this.permission.fd, () => [...this.#held.values()]);
  }

  /** Answers every event still held by `response`, without a journal (the engine could not be opened), and closes its descriptor. */
  answerAllUnjournaled(write: (eventFd: number) => void): number {
    let count = 0;
    for (const event of [...this.#held.values()]) {
      write(event.fd);
      this.forget(event.id, true);
      count++;
    }
    return count;
  }

  close(): void {
    this.detach();
    this.permission?.close();
    this.notify?.close();
    this.#tally?.close();
    this.#claim?.release();
  }
}

/** The supervisor's held events handed to its own engine at its stop: every one "sent again", then live. */
class HeldFeed implements PermissionFeed {
  readonly groupFd: number;
  readonly #groups: HeldGroups;
  readonly #events: () => HeldEvent[];

  constructor(groups: HeldGroups, groupFd: number, events: () => HeldEvent[]) {
    this.#groups = groups;
    this.groupFd = groupFd;
    this.#events = events;
  }

  start(sink: FeedSink): void {
    const events: KernelEvent[] = [];
    for (const held of this.#events()) {
      const [event] = decodeFanotifyStream(held.bytes).events;
      if (event === undefined) continue;
      const out: KernelEvent = { id: held.id, kernelFd: held.fd, fd: held.fd, event };
      if (held.seq !== undefined) out.seq = held.seq;
      events.push(out);
    }
    sink.events(events);
    sink.live();
  }

  journaled(): Promise<void> {
    return Promise.resolve();
  }

  /** Answered here: the ticket closed the descriptor, which is this process's own. */
  done(id: string): void {
    this.#groups.forget(id, false);
  }

  stop(): Promise<KernelEvent[]> {
    return Promise.resolve([]);
  }
}

/** FAN_PRE_ACCESS is the permission mask a supervisor asks for by default. */
export const DEFAULT_PERMISSION_MASK = FAN_PRE_ACCESS;
