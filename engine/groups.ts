/**
 * Notification groups: their marks, their queues, and their persistence.
 *
 * A group's configuration (class, queue size, marks) is durable in the
 * MetaStore under `group/<name>` as JSON, rewritten whole on each change;
 * `create`, `mark` and `destroy` resolve once it is. Queues are in memory,
 * as in Linux: a notification queue is a live feed, and the durable feed is
 * the changelog (consumers).
 *
 * Queue semantics (Linux): a notification event merges (mask OR) into a
 * queued, unread event about the same object, from the same pid, by the
 * same path; a full queue drops the new event and queues one
 * FAN_Q_OVERFLOW, once, until it is read.
 */
import { FanlogError, invalid } from '../errors.js';
import type { FsState } from './fs-state.js';
import { fidOf } from './inode.js';
import {
  FAN_ALL_EVENTS,
  FAN_DIRENT_EVENTS,
  FAN_MARK_FLAGS,
  FAN_PERMISSION_EVENTS,
  FAN_PRE_CONTENT_EVENTS,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
  type Mask,
} from './masks.js';
import type { MetaStore } from './meta-store.js';
import { type Mark, markKey, matchMarks, type MarkScope } from './notify.js';
import { fsError, parsePath, resolve } from './paths.js';
import type { EngineRecord, Fid, Range, Stat } from './record.js';
import { checkBigint, checkBoolean, checkInteger, checkOneOf, checkOptions } from './validate.js';

export type GroupClass = 'notif' | 'content' | 'pre-content';
export const GROUP_CLASSES: readonly GroupClass[] = ['notif', 'content', 'pre-content'];
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_PREFIX = 'group/';

export interface GroupOptions {
  class?: GroupClass;
  queueEventsMax?: number;
}

export interface MarkOptions {
  path: string;
  scope?: MarkScope;
  mask?: Mask;
  ignore?: Mask;
  remove?: boolean;
}

/** An event as a group's queue hands it out. */
export interface QueuedEvent {
  /** Increases by one per event queued in this group. */
  id: number;
  /** The journal seq of the event's record; absent when the changelog mask left it out (and for overflow). */
  seq?: bigint;
  mask: Mask;
  path?: string;
  fid?: Fid;
  parentFid?: Fid;
  name?: string;
  oldPath?: string;
  range?: Range;
  pid?: number;
  tid?: number;
  uid?: number;
  stat?: Stat;
}

export interface GroupInfo {
  name: string;
  class: GroupClass;
  queueEventsMax: number;
  marks: Mark[];
  queued: number;
}

/** What groups need of the engine. */
export interface GroupHost {
  readonly state: FsState;
  readonly store: MetaStore;
  checkUsable(): void;
}

interface StoredGroup {
  class: GroupClass;
  queueEventsMax: number;
  marks: { scope: MarkScope; fid?: Fid; path?: string; mask: string; ignore: string }[];
}

export class EventQueue {
  private closed = false;

  constructor(private readonly group: Group) {}

  /**
   * Takes up to `max` events, oldest first. With none queued, waits up to
   * `waitMs` and resolves as soon as one arrives (with [] on timeout).
   */
  async read(options?: { max?: number; waitMs?: number }): Promise<QueuedEvent[]> {
    const { max = 64, waitMs = 0 } = checkOptions<{ max: number; waitMs: number }>('options', options, ['max', 'waitMs']);
    checkInteger('max', max, 1, 65536);
    checkInteger('waitMs', waitMs, 0, 3_600_000);
    if (this.closed) throw new FanlogError('ECLOSED', `queue of group '${this.group.name}' is closed`);
    if (this.group.queued === 0 && waitMs > 0) await this.group.waitForEvent(waitMs);
    if (this.closed) return [];
    return this.group.take(max);
  }

  close(): void {
    this.closed = true;
  }
}

export class Group {
  private readonly marks = new Map<string, Mark>();
  private queue: QueuedEvent[] = [];
  private readonly mergeable = new Map<string, QueuedEvent>();
  private overflowQueued = false;
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private destroyed = false;

  constructor(
    private readonly host: GroupHost,
    private readonly registry: Groups,
    readonly name: string,
    readonly groupClass: GroupClass,
    readonly queueEventsMax: number,
    marks: Mark[] = [],
  ) {
    for (const mark of marks) this.marks.set(markKey(mark), mark);
  }

  get queued(): number {
    return this.queue.length;
  }

  info(): GroupInfo {
    return { name: this.name, class: this.groupClass, queueEventsMax: this.queueEventsMax, marks: this.listMarks(), queued: this.queue.length };
  }

  listMarks(): Mark[] {
    return [...this.marks.values()].map((mark) => ({ ...mark }));
  }

  private checkAlive(): void {
    this.host.checkUsable();
    if (this.destroyed) throw new FanlogError('ENOENT', `group '${this.name}' was destroyed`);
  }

  /** Adds bits to a mark (creating it), or with `remove`, clears them (dropping an empty mark). Durable when it resolves. */
  async mark(options: MarkOptions): Promise<void> {
    this.checkAlive();
    const spec = checkOptions<MarkOptions>('mark', options, ['path', 'scope', 'mask', 'ignore', 'remove']);
    const scope = checkOneOf('scope', spec.scope ?? 'inode', ['inode', 'mount', 'filesystem'] as const);
    const mask = checkBigint('mask', spec.mask ?? 0n, 0n, 2n ** 64n - 1n);
    const ignore = checkBigint('ignore', spec.ignore ?? 0n, 0n, 2n ** 64n - 1n);
    const remove = checkBoolean('remove', spec.remove ?? false);
    for (const [what, bits] of [['mask', mask], ['ignore', ignore]] as const) {
      const unknown = bits & ~(FAN_ALL_EVENTS | FAN_MARK_FLAGS);
      if (unknown !== 0n || (bits & FAN_Q_OVERFLOW) !== 0n) throw invalid(`${what} has bits that are not mark events: 0x${bits.toString(16)}`);
    }
    const permission = (mask | ignore) & (FAN_PERMISSION_EVENTS | FAN_PRE_CONTENT_EVENTS);
    if (permission !== 0n) {
      if ((permission & FAN_PRE_CONTENT_EVENTS) !== 0n && this.groupClass !== 'pre-content') {
        throw invalid(`pre-content events need a 'pre-content' group; '${this.name}' is '${this.groupClass}'`);
      }
      if (this.groupClass === 'notif') throw invalid(`permission events need a 'content' or 'pre-content' group; '${this.name}' is 'notif'`);
      throw invalid('permission events are not supported yet');
    }
    const at = resolve(this.host.state, parsePath(spec.path), true);
    if (at.inode === undefined) throw fsError('ENOENT', `no such file or directory: '${at.path}'`);
    if (scope === 'mount' && at.inode.type !== 'dir') throw fsError('ENOTDIR', `a mount mark needs a directory: '${at.path}'`);
    const target: Mark = {
      scope,
      ...(scope === 'inode' ? { fid: fidOf(at.inode), path: at.path } : {}),
      ...(scope === 'mount' ? { path: at.path } : {}),
      mask: 0n,
      ignore: 0n,
    };
    const key = markKey(target);
    const existing = this.marks.get(key);
    const next = new Map(this.marks);
    if (remove) {
      if (existing === undefined) throw fsError('ENOENT', `group '${this.name}' has no ${scope} mark on '${at.path}'`);
      const left = { ...existing, mask: existing.mask & ~mask, ignore: existing.ignore & ~ignore };
      if ((left.mask | left.ignore) === 0n) next.delete(key);
      else next.set(key, left);
    } else {
      const base = existing ?? target;
      next.set(key, { ...base, mask: base.mask | mask, ignore: base.ignore | ignore });
    }
    await this.persist(next);
    this.marks.clear();
    for (const [k, v] of next) this.marks.set(k, v);
  }

  private async persist(marks: Map<string, Mark>): Promise<void> {
    await this.host.store.commit([{ type: 'put', key: KEY_PREFIX + this.name, value: encodeGroup(this.groupClass, this.queueEventsMax, marks.values()) }]);
  }

  openQueue(): EventQueue {
    this.checkAlive();
    return new EventQueue(this);
  }

  /** Destroys the group durably; its queue is dropped. */
  async destroy(): Promise<void> {
    this.checkAlive();
    await this.host.store.commit([{ type: 'del', key: KEY_PREFIX + this.name }]);
    this.destroyed = true;
    this.registry.forget(this.name);
    this.queue = [];
    this.mergeable.clear();
    this.wake();
  }

  // ---- delivery (engine side) -----------------------------------------------

  /** Offers an event; queues it if the group's marks want any of its bits. */
  offer(event: EngineRecord, seq: bigint | undefined): void {
    if (this.destroyed || this.marks.size === 0) return;
    const mask = matchMarks(this.marks.values(), event);
    if (mask === 0n) return;
    // Dirent events (about a directory, naming a child) and events about the
    // object itself are reported differently, so they do not merge together.
    const role = (mask & FAN_DIRENT_EVENTS) !== 0n ? 'dirent' : 'self';
    const mergeKey = `${role}/${event.fid?.ino}/${event.fid?.gen}/${event.pid}/${event.path}/${event.oldPath ?? ''}`;
    // FAN_RENAME events never merge (Linux), so each rename is reported whole.
    const canMerge = (mask & FAN_RENAME) === 0n;
    const merged = canMerge ? this.mergeable.get(mergeKey) : undefined;
    if (merged !== undefined) {
      merged.mask |= mask;
      if (merged.range === undefined) {
        if (event.range !== undefined) merged.range = event.range;
      } else if (event.range !== undefined) {
        const end = Math.max(merged.range.offset + merged.range.count, event.range.offset + event.range.count);
        const offset = Math.min(merged.range.offset, event.range.offset);
        merged.range = { offset, count: end - offset };
      }
      if (event.stat !== undefined) merged.stat = event.stat;
      return;
    }
    if (this.queue.length >= this.queueEventsMax) {
      if (!this.overflowQueued) {
        this.overflowQueued = true;
        this.queue.push({ id: this.nextId++, mask: FAN_Q_OVERFLOW });
        this.wake();
      }
      return;
    }
    const queued: QueuedEvent = {
      id: this.nextId++,
      ...(seq === undefined ? {} : { seq }),
      mask,
      ...pick(event),
    };
    this.queue.push(queued);
    if (canMerge) this.mergeable.set(mergeKey, queued);
    this.wake();
  }

  take(max: number): QueuedEvent[] {
    const taken = this.queue.splice(0, max);
    for (const event of taken) {
      if (event.mask === FAN_Q_OVERFLOW) this.overflowQueued = false;
    }
    // Events handed out are read: they no longer merge.
    if (this.queue.length === 0) this.mergeable.clear();
    else for (const [key, event] of this.mergeable) if (taken.includes(event)) this.mergeable.delete(key);
    return taken;
  }

  waitForEvent(waitMs: number): Promise<void> {
    return new Promise((resolveWait) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolveWait();
      };
      const timer = setTimeout(done, waitMs);
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Drops inode marks whose object is gone (called on load). */
  pruneMarks(state: FsState): void {
    for (const [key, mark] of this.marks) if (mark.scope === 'inode' && state.byFid(mark.fid!) === undefined) this.marks.delete(key);
  }

  close(): void {
    this.wake();
  }
}

function pick(event: EngineRecord): Omit<QueuedEvent, 'id' | 'seq' | 'mask'> {
  const out: Omit<QueuedEvent, 'id' | 'seq' | 'mask'> = {};
  if (event.path !== undefined) out.path = event.path;
  if (event.fid !== undefined) out.fid = event.fid;
  if (event.parentFid !== undefined) out.parentFid = event.parentFid;
  if (event.name !== undefined) out.name = event.name;
  if (event.oldPath !== undefined) out.oldPath = event.oldPath;
  if (event.range !== undefined) out.range = event.range;
  if (event.pid !== undefined) out.pid = event.pid;
  if (event.tid !== undefined) out.tid = event.tid;
  if (event.uid !== undefined) out.uid = event.uid;
  if (event.stat !== undefined) out.stat = event.stat;
  return out;
}

function encodeGroup(groupClass: GroupClass, queueEventsMax: number, marks: Iterable<Mark>): Uint8Array {
  const stored: StoredGroup = {
    class: groupClass,
    queueEventsMax,
    marks: [...marks].map((mark) => ({
      scope: mark.scope,
      ...(mark.fid === undefined ? {} : { fid: mark.fid }),
      ...(mark.path === undefined ? {} : { path: mark.path }),
      mask: mark.mask.toString(),
      ignore: mark.ignore.toString(),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

export class Groups {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly host: GroupHost) {}

  /** Loads every stored group (on open). */
  async load(): Promise<void> {
    for await (const [key, value] of this.host.store.scan(KEY_PREFIX)) {
      const stored = JSON.parse(new TextDecoder().decode(value)) as StoredGroup;
      const marks = stored.marks.map((mark) => ({ ...mark, mask: BigInt(mark.mask), ignore: BigInt(mark.ignore) }));
      const group = new Group(this.host, this, key.slice(KEY_PREFIX.length), stored.class, stored.queueEventsMax, marks);
      group.pruneMarks(this.host.state);
      this.groups.set(group.name, group);
    }
  }

  /** Creates a group durably; EEXIST if the name is taken. */
  async create(name: string, options?: GroupOptions): Promise<Group> {
    this.host.checkUsable();
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) throw invalid(`group name must be 1 to 64 characters of [A-Za-z0-9._-], got ${String(name)}`);
    const opts = checkOptions<GroupOptions>('options', options, ['class', 'queueEventsMax']);
    const groupClass = checkOneOf('class', opts.class ?? 'notif', GROUP_CLASSES);
    const queueEventsMax = checkInteger('queueEventsMax', opts.queueEventsMax ?? 16384, 1, 1_000_000);
    if (this.groups.has(name)) throw new FanlogError('EEXIST', `group '${name}' exists`);
    const group = new Group(this.host, this, name, groupClass, queueEventsMax);
    this.groups.set(name, group);
    try {
      await this.host.store.commit([{ type: 'put', key: KEY_PREFIX + name, value: encodeGroup(groupClass, queueEventsMax, []) }]);
    } catch (error) {
      this.groups.delete(name);
      throw error;
    }
    return group;
  }

  /** The group named `name`; ENOENT if there is none. */
  get(name: string): Group {
    const group = this.groups.get(name);
    if (group === undefined) throw new FanlogError('ENOENT', `no group named '${String(name)}'`);
    return group;
  }

  list(): GroupInfo[] {
    return [...this.groups.values()].map((group) => group.info()).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get size(): number {
    return this.groups.size;
  }

  forget(name: string): void {
    this.groups.delete(name);
  }

  /** Offers durable events to every group, in order. */
  deliver(events: readonly EngineRecord[], seqs: readonly (bigint | undefined)[]): void {
    if (this.groups.size === 0) return;
    for (const group of this.groups.values()) {
      events.forEach((event, i) => group.offer(event, seqs[i]));
    }
  }

  closeAll(): void {
    for (const group of this.groups.values()) group.close();
  }
}
