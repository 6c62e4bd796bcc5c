/**
 * GroupQueue: the events waiting for a group's listener, as Linux's
 * fanotify group queue holds them. Notification events merge into an
 * unread one about the same object, process and name (never a
 * FAN_RENAME), up to `queueEventsMax`, then a single FAN_Q_OVERFLOW stands
 * for what was dropped until it is read. Permission events (the requests
 * the broker queues) never merge and are never dropped; one a timeout
 * answered before it was read is withdrawn in O(1) and skipped when read.
 * The group (groups.ts) decides what is offered; this file only queues.
 */
import assert from 'node:assert/strict';
import { Waiters } from '../waiters.js';
import type { PermissionRequest } from '../permission/request.js';
import { FAN_DIRENT_EVENTS, FAN_Q_OVERFLOW, FAN_RENAME, type Mask } from './masks.js';
import type { EngineRecord, Fid, Range, Stat } from '../record/record.js';

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

export class GroupQueue {
  private queue: QueuedEvent[] = [];
  /** Queued events taken out of the queue before they were read (a timeout answered them): skipped when reading. */
  private readonly dropped = new Set<QueuedEvent>();
  /** Unread notification events that a new one may merge into, by merge key, and the key of each. */
  private readonly mergeable = new Map<string, QueuedEvent>();
  private readonly mergeKeys = new WeakMap<QueuedEvent, string>();
  /** Permission requests behind queued events, by event id, and the queued event of each request. */
  private readonly requests = new Map<number, PermissionRequest>();
  private readonly queuedEventOf = new Map<PermissionRequest, QueuedEvent>();
  private notificationsQueued = 0;
  private overflowQueued = false;
  private readonly waiters = new Waiters();
  private nextId = 1;

  constructor(private readonly queueEventsMax: number) {}

  /** Events that a read would return now. */
  get size(): number {
    return this.queue.length - this.dropped.size;
  }

  /** Queues permission requests in the order given, at the tail or (all of them, ahead of the rest) at the head. */
  enqueueAll(requests: readonly PermissionRequest[], atHead: boolean): void {
    if (requests.length === 0) return;
    const events: QueuedEvent[] = [];
    for (const request of requests) {
      const event: QueuedEvent = { id: this.nextId++, seq: request.seq, mask: request.record.mask!, ...pick(request.record) };
      request.queued();
      this.requests.set(event.id, request);
      this.queuedEventOf.set(request, event);
      events.push(event);
    }
    if (atHead) this.queue = events.concat(this.queue);
    else for (const event of events) this.queue.push(event);
    this.wake();
  }

  requestOf(event: QueuedEvent): PermissionRequest | undefined {
    const request = this.requests.get(event.id);
    if (request !== undefined) {
      this.requests.delete(event.id);
      this.queuedEventOf.delete(request);
    }
    return request;
  }

  /** Takes a request's event out of the queue if it is still unread there (in O(1): it is skipped when reading). */
  withdraw(request: PermissionRequest): void {
    const event = this.queuedEventOf.get(request);
    if (event === undefined) return;
    this.queuedEventOf.delete(request);
    this.requests.delete(event.id);
    this.dropped.add(event);
  }

  /** Queues a notification event with the bits the group's marks want, merging it into an unread one where Linux would. */
  offer(event: EngineRecord, seq: bigint | undefined, mask: Mask): void {
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
    if (this.notificationsQueued >= this.queueEventsMax) {
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
    this.notificationsQueued++;
    if (canMerge) {
      this.mergeable.set(mergeKey, queued);
      this.mergeKeys.set(queued, mergeKey);
    }
    this.wake();
  }

  take(max: number): QueuedEvent[] {
    const taken: QueuedEvent[] = [];
    let next = 0;
    while (taken.length < max && next < this.queue.length) {
      const event = this.queue[next++]!;
      if (this.dropped.delete(event)) continue;
      taken.push(event);
      if (event.mask === FAN_Q_OVERFLOW) this.overflowQueued = false;
      else if (!this.requests.has(event.id)) {
        this.notificationsQueued--;
        assert.ok(this.notificationsQueued >= 0, 'more notification events read than queued');
      }
      // Events handed out are read: they no longer merge.
      const key = this.mergeKeys.get(event);
      if (key !== undefined && this.mergeable.get(key) === event) this.mergeable.delete(key);
    }
    this.queue.splice(0, next);
    return taken;
  }

  waitForEvent(waitMs: number): Promise<void> {
    return this.waiters.wait(waitMs);
  }

  wake(): void {
    this.waiters.wakeAll();
  }

  /** Drops every event (a destroyed group) and wakes its readers. */
  clear(): void {
    this.queue = [];
    this.dropped.clear();
    this.requests.clear();
    this.queuedEventOf.clear();
    this.mergeable.clear();
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
