/**
 * Groups: their marks, their queues, their permission settings, and their
 * persistence.
 *
 * A group's configuration (class, queue size, restartable, timeouts, marks)
 * is durable in the MetaStore under `group/<name>` as JSON, rewritten whole
 * on each change; `create`, `mark` and `destroy` resolve once it is. Queues
 * are in memory, as in Linux: a notification queue is a live feed (the
 * durable feed is the changelog), and permission requests are durable in
 * the journal and queued again after a crash (permission/broker.ts). The
 * queue itself, with Linux's merge and overflow rules, is group-queue.ts.
 *
 * Permission timeouts: with `permissionTimeoutMs`, the broker answers a
 * request unanswered that long by `onTimeout` (journaled as a timeout);
 * after `evictAfterTimeouts` consecutive timeouts the group is evicted: its
 * marks are removed and its pending requests answered by `onTimeout`.
 *
 * Every change of a group's stored configuration (mark, destroy, eviction)
 * runs through the group's Serial and reads the configuration it changes
 * only in its turn: concurrent calls store what some serial order of them
 * would, and nothing lands after a destroy. From the moment a destroy
 * starts, the group wants no new permission event, and a request whose
 * append was under way is allowed as soon as it is durable.
 *
 * The stored payload and its codec are group-codec.ts.
 */
import { FanlogError, invalid } from '../../errors.js';
import { EventQueue } from './event-queue.js';
import { GroupQueue, type QueuedEvent } from './group-queue.js';
import type { Groups } from './group-registry.js';
import type { FsState } from '../model/fs-state.js';
import { fidOf } from '../model/inode.js';
import { FAN_ALL_EVENTS, FAN_ALLOW, FAN_DENY, FAN_MARK_FLAGS, FAN_PRE_CONTENT_EVENTS, FAN_PRE_MODIFY, FAN_Q_OVERFLOW, type Mask } from './masks.js';
import type { EngineStore } from '../fail-stop-store.js';
import { Serial } from '../../journal/serial.js';
import { type Mark, markKey, matchMarks, type MarkScope } from './marks.js';
import { fsError, parsePath, resolve } from '../model/paths.js';
import type { AnyRecordFields, EngineRecord } from '../record/record.js';
export { EventQueue };
export type { QueuedEvent };
import type { PermissionBroker } from '../permission/broker.js';
import type { PermissionRequest } from '../permission/request.js';
import { PERMISSION_BITS } from '../permission/rules.js';
import { checkBigint, checkBoolean, checkOneOf, checkOptions } from '../../validate.js';
import { encodeGroup, type GroupClass, type GroupSettings } from './group-codec.js';
import { GROUP_PREFIX } from '../../store/keys.js';
export type { GroupClass, GroupSettings } from './group-codec.js';

export interface GroupOptions {
  class?: GroupClass;
  queueEventsMax?: number;
  /** Content and pre-content groups only: unanswered events survive a queue release (and a crash). */
  restartable?: boolean;
  /** Answer a permission event by `onTimeout` after this long; default: wait forever. */
  permissionTimeoutMs?: number;
  /** The answer a timeout gives; default 'allow'. */
  onTimeout?: 'allow' | 'deny';
  /** Evict the group after this many consecutive timeouts; default: never. */
  evictAfterTimeouts?: number;
}

export interface MarkOptions {
  path: string;
  scope?: MarkScope;
  mask?: Mask;
  ignore?: Mask;
  remove?: boolean;
}

export interface GroupInfo extends GroupSettings {
  name: string;
  class: GroupClass;
  queueEventsMax: number;
  marks: Mark[];
  queued: number;
  /** Permission events queued or read and not answered yet. */
  pendingPermissions: number;
  /** Permission events answered by the group's timeout since the engine opened. */
  timeouts: number;
  /** Evicted after `evictAfterTimeouts` timeouts in a row: its marks are gone. */
  evicted: boolean;
}

/** What groups need of the engine. */
export interface GroupHost {
  readonly state: FsState;
  readonly store: EngineStore;
  readonly permissions: PermissionBroker;
  checkUsable(): void;
}

export class Group {
  readonly #marks = new Map<string, Mark>();
  /** The events waiting for a listener: notification and permission. */
  readonly #events: GroupQueue;
  /** Set when a destroy starts: the group wants nothing from then on. */
  #destroying = false;
  #evicted: boolean;
  #consecutiveTimeouts = 0;
  /** Requests of this group answered by its timeout since the engine opened. */
  #timeouts = 0;
  #evicting = false;
  #openHandles = new Set<EventQueue>();
  readonly #serial = new Serial();

  readonly #host: GroupHost;
  readonly #registry: Groups;

  /** @internal */
  constructor(
    host: GroupHost,
    registry: Groups,
    readonly name: string,
    readonly groupClass: GroupClass,
    readonly queueEventsMax: number,
    readonly settings: GroupSettings,
    marks: Mark[] = [],
    evicted = false,
  ) {
    this.#host = host;
    this.#registry = registry;
    for (const mark of marks) this.#marks.set(markKey(mark), mark);
    this.#evicted = evicted;
    this.#events = new GroupQueue(queueEventsMax);
  }

  get queued(): number {
    return this.#events.size;
  }

  info(): GroupInfo {
    return {
      name: this.name,
      class: this.groupClass,
      queueEventsMax: this.queueEventsMax,
      ...this.settings,
      marks: this.listMarks(),
      queued: this.queued,
      pendingPermissions: this.#host.permissions.pendingOf(this).length,
      timeouts: this.#timeouts,
      evicted: this.#evicted,
    };
  }

  listMarks(): Mark[] {
    return [...this.#marks.values()].map((mark) => ({ ...mark }));
  }

  #checkAlive(): void {
    this.#host.checkUsable();
    if (this.#destroying) throw new FanlogError('ENOENT', `group '${this.name}' was destroyed`);
  }

  /** @internal False once a destroy has started: a request for this group is then allowed, not queued. */
  get alive(): boolean {
    return !this.#destroying;
  }

  /** Adds bits to a mark (creating it), or with `remove`, clears them (dropping an empty mark). Durable when it resolves. */
  async mark(options: MarkOptions): Promise<void> {
    this.#checkAlive();
    const spec = checkOptions<MarkOptions>('mark', options, ['path', 'scope', 'mask', 'ignore', 'remove']);
    const scope = checkOneOf('scope', spec.scope ?? 'inode', ['inode', 'mount', 'filesystem'] as const);
    const mask = checkBigint('mask', spec.mask ?? 0n, 0n, 2n ** 64n - 1n);
    const ignore = checkBigint('ignore', spec.ignore ?? 0n, 0n, 2n ** 64n - 1n);
    const remove = checkBoolean('remove', spec.remove ?? false);
    for (const [what, bits] of [
      ['mask', mask],
      ['ignore', ignore],
    ] as const) {
      const unknown = bits & ~(FAN_ALL_EVENTS | FAN_MARK_FLAGS);
      if (unknown !== 0n || (bits & FAN_Q_OVERFLOW) !== 0n) throw invalid(`${what} has bits that are not mark events: 0x${bits.toString(16)}`);
    }
    const permission = (mask | ignore) & PERMISSION_BITS;
    if (permission !== 0n) {
      if ((permission & FAN_PRE_CONTENT_EVENTS) !== 0n && this.groupClass !== 'pre-content') {
        throw invalid(`pre-content events need a 'pre-content' group; '${this.name}' is '${this.groupClass}'`);
      }
      if (this.groupClass === 'notif') throw invalid(`permission events need a 'content' or 'pre-content' group; '${this.name}' is 'notif'`);
    }
    if (this.settings.restartable && ((mask | ignore) & FAN_ALL_EVENTS & ~PERMISSION_BITS) !== 0n) {
      throw invalid(`restartable group '${this.name}' takes permission events only`);
    }
    const at = resolve(this.#host.state, parsePath(spec.path), true);
    if (at.inode === undefined) throw fsError('ENOENT', `no such file or directory: '${at.path}'`);
    if (scope === 'mount' && at.inode.type !== 'dir') throw fsError('ENOTDIR', `a mount mark needs a directory: '${at.path}'`);
    if (scope === 'inode' && (mask & FAN_PRE_CONTENT_EVENTS) !== 0n) {
      if (at.inode.type === 'dir' && (mask & FAN_PRE_MODIFY) !== 0n) throw fsError('EISDIR', `FAN_PRE_MODIFY on a directory: '${at.path}'`);
      if (at.inode.type !== 'dir' && at.inode.type !== 'file') throw invalid(`pre-content events need a regular file or a directory: '${at.path}'`);
    }
    const target: Mark = {
      scope,
      ...(scope === 'inode' ? { fid: fidOf(at.inode), path: at.path } : {}),
      ...(scope === 'mount' ? { path: at.path } : {}),
      mask: 0n,
      ignore: 0n,
    };
    const key = markKey(target);
    await this.#serial.run(async () => {
      this.#checkAlive();
      if (this.#evicted && !remove) throw new FanlogError('EPERM', `group '${this.name}' was evicted after permission timeouts`);
      const existing = this.#marks.get(key);
      const next = new Map(this.#marks);
      if (remove) {
        if (existing === undefined) throw fsError('ENOENT', `group '${this.name}' has no ${scope} mark on '${at.path}'`);
        const left = { ...existing, mask: existing.mask & ~mask, ignore: existing.ignore & ~ignore };
        if ((left.mask | left.ignore) === 0n) next.delete(key);
        else next.set(key, left);
      } else {
        const base = existing ?? target;
        next.set(key, { ...base, mask: base.mask | mask, ignore: base.ignore | ignore });
      }
      await this.#persist(next);
      this.#marks.clear();
      for (const [k, v] of next) this.#marks.set(k, v);
    });
  }

  /** Writes the configuration; only ever called in the group's turn. */
  async #persist(marks: Map<string, Mark>, evicted = this.#evicted): Promise<void> {
    await this.#host.store.commit([
      { type: 'put', key: GROUP_PREFIX + this.name, value: encodeGroup(this.groupClass, this.queueEventsMax, this.settings, marks.values(), evicted) },
    ]);
  }

  /**
   * A handle on the queue. A restartable group has one at a time (EBUSY for
   * a second while the first is open).
   */
  openQueue(): EventQueue {
    this.#checkAlive();
    if (this.settings.restartable && this.#openHandles.size > 0) {
      throw new FanlogError('EBUSY', `restartable group '${this.name}' already has an open queue`);
    }
    const handle = new EventQueue(this);
    this.#openHandles.add(handle);
    return handle;
  }

  /**
   * Destroys the group durably, after every change queued on it before,
   * allowing every pending permission event first (one still being
   * appended is allowed once durable); its queue is dropped.
   */
  async destroy(): Promise<void> {
    this.#checkAlive();
    await this.#serial.run(async () => {
      this.#checkAlive();
      this.#destroying = true;
      await this.#allowAllPending();
      await this.#registry.removed(this.name);
      this.#events.clear();
    });
  }

  /** @internal Resolves once every change queued on this group so far has settled. */
  idle(): Promise<void> {
    return this.#serial.idle();
  }

  // ---- permission events ----------------------------------------------------

  /** @internal The permission bits of `event` this group's marks want. */
  wants(event: AnyRecordFields): Mask {
    if (this.#destroying || this.#marks.size === 0) return 0n;
    return matchMarks(this.#marks.values(), event) & PERMISSION_BITS;
  }

  /** @internal Queues permission requests (the broker's) at the tail or, all of them ahead of the rest, at the head. */
  enqueueAll(requests: readonly PermissionRequest[], atHead: boolean): void {
    this.#events.enqueueAll(requests, atHead);
  }

  /** @internal The permission request behind an event just read, if any. */
  requestOf(event: QueuedEvent): PermissionRequest | undefined {
    return this.#events.requestOf(event);
  }

  /** @internal Takes a request's event out of the queue if it is still unread there. */
  withdraw(request: PermissionRequest): void {
    this.#events.withdraw(request);
  }

  /** @internal */
  answeredByListener(): void {
    this.#consecutiveTimeouts = 0;
  }

  /** @internal A listener's answer. */
  async answer(request: PermissionRequest, response: number): Promise<void> {
    await this.#host.permissions.decide(request, response, { byListener: true });
  }

  /** @internal How long a request may wait, and the answer a timeout gives (the broker arms it). */
  get timeout(): { ms: number; response: number } | null {
    const ms = this.settings.permissionTimeoutMs;
    return ms === null ? null : { ms, response: this.#timeoutResponse() };
  }

  /** @internal A timeout answered one of this group's requests: after `evictAfterTimeouts` in a row, the group is evicted. */
  timedOut(): void {
    this.#timeouts++;
    this.#consecutiveTimeouts++;
    const limit = this.settings.evictAfterTimeouts;
    if (limit !== null && this.#consecutiveTimeouts >= limit && !this.#evicted && !this.#evicting) {
      this.#evicting = true;
      void this.#evict().catch(() => undefined);
    }
  }

  #timeoutResponse(): number {
    return this.settings.onTimeout === 'allow' ? FAN_ALLOW : FAN_DENY;
  }

  /** Removes the marks (durably, in the group's turn) and answers every pending request by onTimeout. */
  async #evict(): Promise<void> {
    await this.#serial.run(async () => {
      if (this.#destroying) return;
      await this.#persist(new Map(), true);
      this.#evicted = true;
      this.#marks.clear();
    });
    for (const request of this.#host.permissions.pendingOf(this)) {
      this.withdraw(request);
      await this.#host.permissions.decide(request, this.#timeoutResponse(), { timeout: true }).catch(() => undefined);
    }
  }

  async #allowAllPending(): Promise<void> {
    for (const request of this.#host.permissions.pendingOf(this)) {
      this.withdraw(request);
      await this.#host.permissions.decide(request, FAN_ALLOW).catch(() => undefined);
    }
  }

  /** @internal A queue handle was closed with these permission events read and unanswered. */
  async released(handle: EventQueue, unanswered: PermissionRequest[]): Promise<void> {
    this.#openHandles.delete(handle);
    // A destroy under way answers every pending request itself.
    if (this.#destroying) return;
    if (this.settings.restartable) {
      // Back to the head, in the order they were first read, ahead of events never read.
      this.enqueueAll(unanswered, true);
      return;
    }
    await this.#allowAllPending();
  }

  // ---- delivery (engine side) -----------------------------------------------

  // ---- delivery (engine side) -----------------------------------------------

  /** @internal Offers an event; queues it if the group's marks want any of its bits. */
  offer(event: EngineRecord, seq: bigint | undefined): void {
    if (this.#destroying || this.#marks.size === 0) return;
    const mask = matchMarks(this.#marks.values(), event);
    if (mask !== 0n) this.#events.offer(event, seq, mask);
  }

  /** @internal */
  take(max: number): QueuedEvent[] {
    return this.#events.take(max);
  }

  /** @internal */
  waitForEvent(waitMs: number): Promise<void> {
    return this.#events.waitForEvent(waitMs);
  }

  /** @internal Drops inode marks whose object is gone (called on load). */
  pruneMarks(state: FsState): void {
    for (const [key, mark] of this.#marks) if (mark.scope === 'inode' && state.byFid(mark.fid!) === undefined) this.#marks.delete(key);
  }

  /** @internal */
  close(): void {
    this.#events.wake();
  }
}
