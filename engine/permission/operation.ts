/**
 * GuardedOperation: one filesystem call that permission events guard, from
 * its first question to its outcome.
 *
 *              every group allowed every step
 *   asking ──────────────────────────────────▶ allowed ──▶ performing ──▶ settled: completed
 *     │                                                        │
 *     │ a denial (denied), the object gone, the engine         └─ the filesystem refused ──▶ settled: failed
 *     └─ closed or failed (failed) ─────────────────────────────────────────────────────▶ settled
 *
 * An operation has a seq once it asked its first request (that request's
 * seq); one that no group wanted to ask goes through without one. After a
 * crash, an operation the journal shows unfinished is recovered as an
 * orphan (its caller is gone) in state asking, and runs on through the same
 * broker code as a live one. Each transition is asserted.
 */
import assert from 'node:assert/strict';
import type { Intent } from './intent.js';
import type { PermissionRequest } from './request.js';

export type Outcome = { outcome: 'completed' } | { outcome: 'denied' | 'failed'; code: string };

export type OperationState = 'asking' | 'allowed' | 'performing' | 'settled';

const NEXT: Record<OperationState, readonly OperationState[]> = {
  asking: ['allowed', 'settled'],
  allowed: ['performing'],
  performing: ['settled'],
  settled: [],
};

export class GuardedOperation {
  #state: OperationState = 'asking';
  #seq: bigint | undefined;
  /** The seq of each of its requests, the first being the operation's own. */
  readonly requestSeqs: bigint[] = [];
  /** The request it waits on now, if any. */
  waiting: PermissionRequest | null = null;
  readonly outcome: Promise<Outcome>;
  #resolve!: (outcome: Outcome) => void;

  constructor(
    readonly intent: Intent,
    /** Recovered after a crash: its caller is gone, and `Engine.settled` is how anyone learns its outcome. */
    readonly orphan: boolean,
  ) {
    this.outcome = new Promise<Outcome>((resolve) => (this.#resolve = resolve));
  }

  get state(): OperationState {
    return this.#state;
  }

  /** The seq of its first request; undefined until it asked one. */
  get seq(): bigint | undefined {
    return this.#seq;
  }

  #to(next: OperationState): void {
    if (!NEXT[this.#state].includes(next)) assert.fail(`operation ${this.#seq}: ${this.#state} -> ${next}`);
    this.#state = next;
  }

  /** It asked `request` (or, recovering, had asked the requests `seqs`, in order) and waits for the last one. */
  asked(seqs: readonly bigint[], request: PermissionRequest | null): void {
    if (this.#state !== 'asking') assert.fail(`operation ${this.#seq} asked while ${this.#state}`);
    if (this.waiting !== null) assert.fail(`operation ${this.#seq} asked twice at once`);
    for (const seq of seqs) {
      if (this.requestSeqs.length > 0 && seq <= this.requestSeqs.at(-1)!) assert.fail(`operation ${this.#seq}: request ${seq} out of order`);
      this.requestSeqs.push(seq);
    }
    this.#seq ??= this.requestSeqs[0];
    this.waiting = request;
  }

  /** The request it waited on is answered. */
  answered(request: PermissionRequest): void {
    if (this.waiting !== request) assert.fail(`operation ${this.#seq}: an answer to request ${request.seq}, which it does not wait on`);
    this.waiting = null;
  }

  allowed(): void {
    this.#to('allowed');
  }

  performing(): void {
    this.#to('performing');
  }

  settle(outcome: Outcome): void {
    this.#to('settled');
    this.waiting = null;
    this.#resolve(outcome);
  }
}
