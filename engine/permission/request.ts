/**
 * PermissionRequest: one journaled question to one group, and its life.
 *
 *              enqueue            take              answer, timeout,
 *   new ─────────────▶ queued ─────────▶ read ───── release, destroy ───▶ deciding ──durable──▶ decided
 *    │                   ▲ │               │                               ▲   │
 *    │                   └─┼── restart ────┘                               │   └─ engine closed,
 *    │                     └──── timeout, destroy, eviction ───────────────┘      failed ─▶ abandoned
 *    ├── its group is gone (allowed) ─────────────────────────────────────▶ deciding
 *    └── recovered with a journaled answer ───────────────────────────────────────────────▶ decided
 *   new, queued, read, deciding ── engine closed or failed ──▶ abandoned
 *
 * The state changes only through the methods below, each asserting that
 * its transition is one of these. A permission timeout belongs to the
 * request: armed when it is first queued (a restart keeps the deadline),
 * disarmed when it leaves queued and read.
 */
import assert from 'node:assert/strict';
import type { AnyRecordFields, RequestRecord } from '../record/record.js';
import type { Intent } from './intent.js';
import type { GuardedOperation } from './operation.js';
import type { PermissionClass } from './rules.js';

/** What a request needs of a group. */
export interface PermissionGroup {
  readonly name: string;
  readonly groupClass: PermissionClass;
  /** The bits of a permission event this group's marks want (0n: none). */
  wants(event: AnyRecordFields): bigint;
  /** False once the group is being destroyed: a request that was being appended for it is allowed instead. */
  readonly alive: boolean;
  /** How long a request may wait, and the answer a timeout gives; null: forever. */
  readonly timeout: { ms: number; response: number } | null;
  /** Queues requests for its listener, in the order given (at the head, ahead of the rest, when resurrected or restarted). */
  enqueueAll(requests: readonly PermissionRequest[], atHead: boolean): void;
  /** Takes a request's event out of the queue if it is still unread there. */
  withdraw(request: PermissionRequest): void;
  /** A listener answered (not a timeout): resets the consecutive-timeout count. */
  answeredByListener(): void;
  /** A timeout answered one of its requests: counts it, and may evict the group. */
  timedOut(): void;
}

/** A stand-in for a group that no longer exists, so its orphaned requests can still be decided. */
export function goneGroup(name: string): PermissionGroup {
  return {
    name,
    groupClass: 'content',
    alive: true,
    timeout: null,
    wants: () => 0n,
    enqueueAll: () => undefined,
    withdraw: () => undefined,
    answeredByListener: () => undefined,
    timedOut: () => undefined,
  };
}

export type RequestState = 'new' | 'queued' | 'read' | 'deciding' | 'decided' | 'abandoned';

const NEXT: Record<RequestState, readonly RequestState[]> = {
  new: ['queued', 'deciding', 'decided', 'abandoned'],
  queued: ['read', 'deciding', 'abandoned'],
  read: ['queued', 'deciding', 'abandoned'],
  deciding: ['decided', 'abandoned'],
  decided: [],
  abandoned: [],
};

const wakeMs = (leftMs: number): number => Math.min(Math.max(1, leftMs), 1000);

export class PermissionRequest {
  #state: RequestState = 'new';
  #timer: NodeJS.Timeout | null = null;
  /** The answer, once it is durable; rejects if the request is abandoned. */
  readonly answered: Promise<number>;
  #resolve!: (response: number) => void;
  #reject!: (error: unknown) => void;

  constructor(
    /** The seq of this request's record. */
    readonly seq: bigint,
    readonly operation: GuardedOperation,
    readonly group: PermissionGroup,
    /** The request record, as journaled. */
    readonly record: RequestRecord,
    /** The index of the intent's step this request is for. */
    readonly step: number,
  ) {
    this.answered = new Promise<number>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A waiter may be gone (an orphan not yet resumed); never leave a rejection unhandled.
    this.answered.catch(() => undefined);
  }

  get intent(): Intent {
    return this.operation.intent;
  }

  get state(): RequestState {
    return this.#state;
  }

  /** Queued or read: nobody has started answering it. */
  get undecided(): boolean {
    return this.#state === 'new' || this.#state === 'queued' || this.#state === 'read';
  }

  #to(next: RequestState): void {
    if (!NEXT[this.#state].includes(next)) assert.fail(`request ${this.seq}: ${this.#state} -> ${next}`);
    this.#state = next;
    if (next !== 'queued' && next !== 'read' && this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** In a group's queue, unread. */
  queued(): void {
    this.#to('queued');
  }

  /** Handed to a queue handle. */
  read(): void {
    this.#to('read');
  }

  /** An answer is being journaled. */
  deciding(): void {
    this.#to('deciding');
  }

  /** The answer is durable: the operation may go on. */
  decided(response: number): void {
    this.#to('decided');
    this.#resolve(response);
  }

  /** Nobody will answer it in this process (closed, failed): it stays undecided in the journal. */
  abandon(error: unknown): void {
    this.#to('abandoned');
    this.#reject(error);
  }

  /**
   * Starts the permission timeout once: `onTimeout` runs when the engine's
   * clock (`now`, ns) reaches `ms` after now, if the request is still
   * queued or read then. A timer wakes it at least once a second; the clock
   * decides, so that a run on an injected clock times out by that clock.
   */
  armTimeout(ms: number, now: () => bigint, onTimeout: () => void): void {
    if (this.#state !== 'queued' && this.#state !== 'read') assert.fail(`request ${this.seq}: a timeout armed while ${this.#state}`);
    if (this.#timer !== null) return;
    const deadline = now() + BigInt(ms) * 1_000_000n;
    const wake = (): void => {
      this.#timer = null;
      if (this.#state !== 'queued' && this.#state !== 'read') return;
      const left = deadline - now();
      if (left <= 0n) onTimeout();
      else this.#timer = setTimeout(wake, wakeMs(Math.ceil(Number(left) / 1e6)));
    };
    this.#timer = setTimeout(wake, wakeMs(ms));
  }
}
