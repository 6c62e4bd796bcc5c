/**
 * GroupQueue: the events waiting for a group's listener, as Linux's
 * fanotify group queue holds them. Notification events merge into an
 * unread one about the same object, process and name (never a
 * FAN_RENAME), up to `queueEventsMax`, then a single FAN_Q_OVERFLOW stands
 * for what was dropped until it is read. Permission events (the requests
 * the broker queues) never merge and are never dropped; one a timeout
 * answered before it was read is withdrawn in O(1) and skipped when read.
 * The group (groups.ts) decides what is offered; this file only queues.
 *
 * Fan-out allocates nothing per group but the queue entry: an entry refers
 * to the journaled record, shared by every group that queues it, with its
 * own id, seq and the bits this group wants (and, once merged, the merged
 * range and stat). The listener's `QueuedEvent` is made from it when read,
 * so an event merged away or dropped on overflow is never copied at all.
 * The merge key is made once per record, whatever the number of groups.
 */
import assert from 'node:assert/strict';
import { Waiters } from '../waiters.js';
import { kernelDescriptors } from '../permission/kernel-hold.js';
import type { PermissionRequest } from '../permission/request.js';
import { FAN_DIRENT_EVENTS, FAN_Q_OVERFLOW, FAN_RENAME, type Mask } from './masks.js';
import type { AnyRecordFields, Fid, FileHandle, Range, Stat } from '../record/record.js';

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
  gid?: number;
  stat?: Stat;
  /** A kernel event's file handle, where its filesystem's holds no fid (xfs, btrfs: record format 9); for open_by_handle_at. */
  handle?: FileHandle;
  /**
   * A kernel permission event's file (kernel/permission.ts), open for
   * reading and writing and exempt from events, until the event is
   * answered: the listener fills a stub through it, never through its path.
   */
  fd?: number;
}

/** A queued event: the record it reports (shared with other groups), and what is this group's own. */
interface Entry {
  id: number;
  seq: bigint | undefined;
  mask: Mask;
  /** null for an overflow event. */
  record: AnyRecordFields | null;
  /** Set once another event merged into this one: they override the record's. */
  range?: Range;
  stat?: Stat;
  /** Its merge key, while a new event may merge into it. */
  mergeKey?: string;
}

/** Merge keys by record: made once per record, shared by every group that queues it. */
const mergeKeys = new WeakMap<object, string>();

function mergeKeyOf(event: AnyRecordFields, dirent: boolean): string {
  let key = mergeKeys.get(event);
  if (key === undefined) {
    key = `${event.fid?.ino}/${event.fid?.gen}/${event.pid}/${event.path}/${event.oldPath ?? ''}`;
    mergeKeys.set(event, key);
  }
  // Dirent events (about a directory, naming a child) and events about the
  // object itself are reported differently, so they do not merge together.
  return dirent ? `d${key}` : key;
}

export class GroupQueue {
  #queue: Entry[] = [];
  /** Queued events taken out of the queue before they were read (a timeout answered them): skipped when reading. */
  readonly #dropped = new Set<Entry>();
  /** Unread notification events that a new one may merge into, by merge key. */
  readonly #mergeable = new Map<string, Entry>();
  /** Permission requests behind queued events, by event id, and the queued event of each request. */
  readonly #requests = new Map<number, PermissionRequest>();
  readonly #queuedEventOf = new Map<PermissionRequest, Entry>();
  #notificationsQueued = 0;
  #overflowQueued = false;
  readonly #waiters = new Waiters();
  #nextId = 1;

  readonly #queueEventsMax: number;

  constructor(queueEventsMax: number) {
    this.#queueEventsMax = queueEventsMax;
  }

  /** Events that a read would return now. */
  get size(): number {
    return this.#queue.length - this.#dropped.size;
  }

  /** Queues permission requests in the order given, at the tail or (all of them, ahead of the rest) at the head. */
  enqueueAll(requests: readonly PermissionRequest[], atHead: boolean): void {
    if (requests.length === 0) return;
    const events: Entry[] = [];
    for (const request of requests) {
      const event: Entry = { id: this.#nextId++, seq: request.seq, mask: request.record.mask, record: request.record };
      request.queued();
      this.#requests.set(event.id, request);
      this.#queuedEventOf.set(request, event);
      events.push(event);
    }
    if (atHead) this.#queue = events.concat(this.#queue);
    else for (const event of events) this.#queue.push(event);
    this.wake();
  }

  requestOf(event: QueuedEvent): PermissionRequest | undefined {
    const request = this.#requests.get(event.id);
    if (request !== undefined) {
      this.#requests.delete(event.id);
      this.#queuedEventOf.delete(request);
    }
    return request;
  }

  /** Takes a request's event out of the queue if it is still unread there (in O(1): it is skipped when reading). */
  withdraw(request: PermissionRequest): void {
    const event = this.#queuedEventOf.get(request);
    if (event === undefined) return;
    this.#queuedEventOf.delete(request);
    this.#requests.delete(event.id);
    this.#dropped.add(event);
  }

  /** Queues a notification event with the bits the group's marks want, merging it into an unread one where Linux would. */
  offer(event: AnyRecordFields, seq: bigint | undefined, mask: Mask): void {
    // FAN_RENAME events never merge (Linux), so each rename is reported whole.
    const canMerge = (mask & FAN_RENAME) === 0n;
    const mergeKey = canMerge ? mergeKeyOf(event, (mask & FAN_DIRENT_EVENTS) !== 0n) : undefined;
    const merged = mergeKey === undefined ? undefined : this.#mergeable.get(mergeKey);
    if (merged !== undefined) {
      merged.mask |= mask;
      const range = merged.range ?? merged.record!.range;
      if (range === undefined) {
        if (event.range !== undefined) merged.range = event.range;
      } else if (event.range !== undefined) {
        const end = Math.max(range.offset + range.count, event.range.offset + event.range.count);
        const offset = Math.min(range.offset, event.range.offset);
        merged.range = { offset, count: end - offset };
      }
      if (event.stat !== undefined) merged.stat = event.stat;
      return;
    }
    if (this.#notificationsQueued >= this.#queueEventsMax) {
      if (!this.#overflowQueued) {
        this.#overflowQueued = true;
        this.#queue.push({ id: this.#nextId++, seq: undefined, mask: FAN_Q_OVERFLOW, record: null });
        this.wake();
      }
      return;
    }
    const queued: Entry = { id: this.#nextId++, seq, mask, record: event };
    this.#queue.push(queued);
    this.#notificationsQueued++;
    if (mergeKey !== undefined) {
      queued.mergeKey = mergeKey;
      this.#mergeable.set(mergeKey, queued);
    }
    this.wake();
  }

  take(max: number): QueuedEvent[] {
    const taken: QueuedEvent[] = [];
    let next = 0;
    while (taken.length < max && next < this.#queue.length) {
      const event = this.#queue[next++]!;
      if (this.#dropped.delete(event)) continue;
      taken.push(queuedEvent(event));
      if (event.mask === FAN_Q_OVERFLOW) this.#overflowQueued = false;
      else if (!this.#requests.has(event.id)) {
        this.#notificationsQueued--;
        assert.ok(this.#notificationsQueued >= 0, 'more notification events read than queued');
      }
      // Events handed out are read: they no longer merge.
      const key = event.mergeKey;
      if (key !== undefined && this.#mergeable.get(key) === event) this.#mergeable.delete(key);
    }
    this.#queue.splice(0, next);
    return taken;
  }

  waitForEvent(waitMs: number): Promise<void> {
    return this.#waiters.wait(waitMs);
  }

  wake(): void {
    this.#waiters.wakeAll();
  }

  /** Drops every event (a destroyed group) and wakes its readers. */
  clear(): void {
    this.#queue = [];
    this.#dropped.clear();
    this.#requests.clear();
    this.#queuedEventOf.clear();
    this.#mergeable.clear();
    this.wake();
  }
}

/** The listener's event: the entry's own fields, then the record's, with a merged range and stat over the record's. */
function queuedEvent(entry: Entry): QueuedEvent {
  const out: QueuedEvent = entry.seq === undefined ? { id: entry.id, mask: entry.mask } : { id: entry.id, seq: entry.seq, mask: entry.mask };
  const event = entry.record;
  if (event === null) return out;
  if (event.path !== undefined) out.path = event.path;
  if (event.fid !== undefined) out.fid = event.fid;
  if (event.parentFid !== undefined) out.parentFid = event.parentFid;
  if (event.name !== undefined) out.name = event.name;
  if (event.oldPath !== undefined) out.oldPath = event.oldPath;
  if (event.range !== undefined) out.range = event.range;
  if (event.pid !== undefined) out.pid = event.pid;
  if (event.tid !== undefined) out.tid = event.tid;
  if (event.uid !== undefined) out.uid = event.uid;
  if (event.gid !== undefined) out.gid = event.gid;
  if (event.stat !== undefined) out.stat = event.stat;
  if (event.handle !== undefined) out.handle = event.handle;
  if (entry.range !== undefined) out.range = entry.range;
  if (entry.stat !== undefined) out.stat = entry.stat;
  // Only a kernel permission request has one: no map lookup for any other event.
  if (event.kernelEvent !== undefined) out.fd = kernelDescriptors.get(event);
  return out;
}
