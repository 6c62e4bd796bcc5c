/**
 * EventQueue: a handle on a group's queue, from `group.openQueue()`.
 *
 * It reads events (notification and permission) and answers permission
 * events it read. It remembers, in the order it read them, the permission
 * events it has not answered yet: closing the handle either puts them back
 * at the head of the queue (restartable groups, to be read again with new
 * ids) or allows every pending permission event of the group (the others,
 * as Linux does when a fanotify descriptor is released).
 */
import { FanlogError } from '../../errors.js';
import type { Group, QueuedEvent } from './groups.js';
import type { PermissionRequest } from '../permission/request.js';
import { checkResponse } from '../permission/rules.js';
import { checkInteger, checkOptions } from '../../validate.js';

export class EventQueue {
  #closed = false;
  /** Permission events read through this handle and not answered yet, by event id, in read order. */
  readonly #unanswered = new Map<number, PermissionRequest>();

  readonly #group: Group;

  constructor(group: Group) {
    this.#group = group;
  }

  /**
   * Takes up to `max` events, oldest first. With none queued, waits up to
   * `waitMs` and resolves as soon as one arrives (with [] on timeout).
   */
  async read(options?: { max?: number; waitMs?: number }): Promise<QueuedEvent[]> {
    const { max = 64, waitMs = 0 } = checkOptions<{ max: number; waitMs: number }>('options', options, ['max', 'waitMs']);
    checkInteger('max', max, 1, 65536);
    checkInteger('waitMs', waitMs, 0, 3_600_000);
    this.#checkOpen();
    if (this.#group.queued === 0 && waitMs > 0) await this.#group.waitForEvent(waitMs);
    if (this.#closed) return [];
    const events = this.#group.take(max);
    for (const event of events) {
      const request = this.#group.requestOf(event);
      if (request !== undefined) {
        request.read();
        this.#unanswered.set(event.id, request);
      }
    }
    return events;
  }

  /**
   * Answers a permission event this handle read: FAN_ALLOW, FAN_DENY or
   * FAN_DENY_ERRNO(errno). Resolves once the answer is durable. EINVAL for
   * a response Linux rejects; ENOENT for an id this handle did not read or
   * that was answered already.
   */
  async respond(eventId: number, response: number): Promise<void> {
    this.#checkOpen();
    checkInteger('eventId', eventId, 0, Number.MAX_SAFE_INTEGER);
    const checked = checkResponse(response, this.#group.groupClass);
    const request = this.#unanswered.get(eventId);
    if (request === undefined || request.state !== 'read') {
      throw new FanlogError('ENOENT', `group '${this.#group.name}' has no unanswered permission event ${eventId} read by this queue`);
    }
    this.#unanswered.delete(eventId);
    await this.#group.answer(request, checked);
  }

  /**
   * Releases the handle: read-but-unanswered permission events go back to
   * the head of the queue (restartable group) or every pending permission
   * event of the group is allowed (otherwise). Resolves when that is done.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const unanswered = [...this.#unanswered.values()].filter((request) => request.state === 'read');
    this.#unanswered.clear();
    await this.#group.released(this, unanswered);
  }

  #checkOpen(): void {
    if (this.#closed) throw new FanlogError('ECLOSED', `this queue of group '${this.#group.name}' is closed`);
  }
}
