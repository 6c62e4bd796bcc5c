/**
 * The permission broker: an operation a permission mark guards waits for a
 * listener's answer, and no request is lost or answered twice, across queue
 * releases and crashes (docs/design.md invariant 5). It owns every guarded
 * operation (operation.ts) and every request (request.ts) until they end.
 *
 * `run(intent, perform)`, the one path of a guarded operation:
 *   1. The filesystem checks the call and describes it as an `Intent`: the
 *      object, the operation's arguments, and its steps (the permission
 *      events it raises, in order, with their ranges).
 *   2. Asking: for each step, every group whose marks want that event is
 *      asked, one after another, by priority (pre-content, then content; by
 *      name within a class). Asking journals a `request` record (its own
 *      entry, durable) before the group's queue shows it; the answer
 *      journals a `decision` record (durable) before the operation goes on.
 *      The first denial settles the operation as denied, with its errno.
 *   3. Performing: `perform` completes the intent against the state as it
 *      is then (the state may have moved while it waited) and journals the
 *      operation's own entry, tagged with the operation's seq.
 * With no group to ask, `perform` runs at once, within the call.
 *
 * Answers: `decide` journals one, for a listener, a timeout, a queue
 * release, a destroy or a gone group; only the first is taken, any later
 * one is ENOENT. A timeout is armed on the request when it is first queued.
 *
 * Kernel permission events (an `external` intent, kernel/permission.ts):
 * the same path, but the operation waits in the kernel. It asks its one
 * named group, whatever that group's marks say, and its answer is written
 * to the kernel (`host.answerKernel`) once the decision is durable, before
 * the operation counts as decided; there is nothing to perform. Resurrected,
 * such a request is held out of its queue until the kernel source holding
 * its event (and descriptor) claims it (`kernelHold`, kernel-hold.ts).
 *
 * Crash resurrection (`resurrect`): the journal holds every request and
 * every decision. On open, each request without a decision is queued again
 * at the head of its group's queue, in seq order, exactly once, as a queue
 * release would, and its operation (an orphan: its caller died) runs on from
 * the step and group it was waiting at through the same `run` as a live
 * one. `Engine.settled(seq)` reports its outcome once.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../../errors.js';
import type { FsState } from '../model/fs-state.js';
import { FAN_ALLOW } from '../notify/masks.js';
import type { EngineRecord, RequestEvent, RequestRecord } from '../record/record.js';
import { type ExternalIntent, type Intent, intentFields, intentOf, type IntentOp, stepEvent } from './intent.js';
import { GuardedOperation, type Outcome } from './operation.js';
import { KernelHold } from './kernel-hold.js';
import { failedOutcome } from './outcome.js';
import { goneGroup, type PermissionGroup, PermissionRequest } from './request.js';
import { denialCode, denialError, isAllowed, priorityKey } from './rules.js';
import { keepingAlive } from '../waiters.js';

/** What the broker needs of the engine. */
export interface PermissionHost {
  readonly state: FsState;
  now(): bigint;
  /** Groups that may be asked, in priority order. */
  permissionGroups(): readonly PermissionGroup[];
  /** Journals one record as its own entry; resolves with its seq once durable. */
  appendRecord(record: EngineRecord, onSeq?: (seq: bigint) => void): Promise<bigint>;
  /** Writes a durable decision on a kernel event to the kernel (kernel/permission.ts); `listenerHolds`: read, not answered by its listener. */
  answerKernel(intent: ExternalIntent, response: number, listenerHolds: boolean): void;
}

/**
 * Completes an allowed intent of type `I`, resolving with that operation's
 * own result `T`; `operationSeq` tags the entry it journals.
 */
export type Perform<I extends Intent, T> = (intent: I, operationSeq: bigint | undefined) => Promise<T>;

/** Where an operation starts asking: a step, past the groups up to a priority key, maybe waiting on a recovered request. */
interface From {
  step: number;
  afterGroupKey?: string;
  waiting?: PermissionRequest;
}

/** What the journal showed recovery about permission traffic (replay.ts). */
export interface JournaledPermissions {
  requests: Map<bigint, RequestRecord>;
  decisions: Map<bigint, number>;
  completed: Set<bigint>;
}

export interface PendingOperation {
  operationSeq: bigint;
  op: IntentOp;
  path: string;
  pid: number;
  waitingOn: { group: string; requestSeq: bigint } | null;
  /** Whether its caller died in a crash (recovery resurrected it); false while its caller waits for it. */
  resurrected: boolean;
}

const failed = (error: unknown): Outcome => ({ outcome: 'failed', code: (error as { code?: string } | null)?.code ?? 'EIO' });
const deleted = (intent: Intent): FanlogError => new FanlogError('ENOENT', `'${intent.path}' was deleted while its ${intent.op} waited for permission`);

export class PermissionBroker {
  /** Every request seq of each operation not settled yet, the first being the operation's seq. */
  readonly #operations = new Map<bigint, GuardedOperation>();
  /** Seqs of requests being appended: not requests yet, but the journal must keep them. */
  readonly #appending = new Set<bigint>();
  /** Settled orphans, by each of their request seqs, until `settled` reports their outcome. */
  readonly #settledOrphans = new Map<bigint, GuardedOperation>();
  /** Resurrected kernel requests, until a kernel source claims them (see the header). */
  readonly kernelHold = new KernelHold((request) => this.#enqueue(request.group, [request], false));

  readonly #host: PermissionHost;

  constructor(host: PermissionHost) {
    this.#host = host;
  }

  /** Whether any group could be asked about this operation at all (false: no need to wait). */
  mayAsk(intent: Intent): boolean {
    return intent.steps.length > 0 && this.#groupsFor(intent).length > 0;
  }

  /** The groups an intent may ask, in priority order: a kernel event's one group, or every group. */
  #groupsFor(intent: Intent): readonly PermissionGroup[] {
    const groups = this.#host.permissionGroups();
    return intent.op === 'external' ? groups.filter((group) => group.name === intent.group) : groups;
  }

  /** Runs a guarded operation: asks, then performs (see the header); resolves with what `perform` gives. */
  run<I extends Intent, T>(intent: I, perform: Perform<I, T>): Promise<T> {
    if (!this.mayAsk(intent)) return perform(intent, undefined);
    return this.#run(new GuardedOperation(intent, false), { step: 0 }, (operationSeq) => perform(intent, operationSeq));
  }

  /** Asks from `from` on, then calls `perform` with the operation's seq (its first request's, if it asked any). */
  async #run<T>(operation: GuardedOperation, from: From, perform: (operationSeq: bigint | undefined) => Promise<T>): Promise<T> {
    try {
      if (from.waiting !== undefined) await this.#wait(operation, from.waiting);
      await this.#ask(operation, from);
    } catch (error) {
      if (operation.state !== 'settled') this.#settle(operation, failed(error));
      throw error;
    }
    operation.allowed();
    operation.performing();
    try {
      const result = await perform(operation.seq);
      this.#settle(operation, { outcome: 'completed' });
      return result;
    } catch (error) {
      this.#settle(operation, failed(error));
      throw error;
    }
  }

  /** Asks every group that wants each step, from `from` on; throws on the first denial. */
  async #ask(operation: GuardedOperation, from: From): Promise<void> {
    const { intent } = operation;
    for (let index = from.step; index < intent.steps.length; index++) {
      const step = intent.steps[index]!;
      for (const group of this.#groupsFor(intent)) {
        if (index === from.step && from.afterGroupKey !== undefined && priorityKey(group) <= from.afterGroupKey) continue;
        const event = stepEvent(intent, step, this.#host);
        // Gone while it asked: one that asked ends with its outcome journaled (outcome.ts).
        if (event === null) throw await failedOutcome((record) => this.#host.appendRecord(record), intent, operation.seq, this.#host.now(), deleted(intent));
        // The kernel's mark chose a kernel event; the group's own marks are of the simulated filesystem.
        if (intent.op !== 'external' && group.wants(event) === 0n) continue;
        await this.#wait(operation, await this.#request(operation, group, event, index));
      }
    }
  }

  /** Waits for a request's answer, keeping the process alive as a blocked syscall does; a denial settles and throws. */
  async #wait(operation: GuardedOperation, request: PermissionRequest): Promise<void> {
    const response = await keepingAlive(request.answered);
    operation.answered(request);
    if (isAllowed(response)) return;
    this.#settle(operation, { outcome: 'denied', code: denialCode(response) });
    throw denialError(response, `${operation.intent.op} of '${operation.intent.path}'`);
  }

  /** Journals a request (durable before anyone sees it), then queues it for the group. */
  async #request(operation: GuardedOperation, group: PermissionGroup, event: RequestEvent, step: number): Promise<PermissionRequest> {
    // The event becomes the record (no copy): its group, and its part of the
    // intent; the first request journals the intent, later ones name it by
    // the operation's seq.
    const record = event as RequestRecord;
    record.group = group.name;
    if (operation.seq !== undefined) record.operationSeq = operation.seq;
    Object.assign(record, intentFields(operation.intent, step, operation.seq === undefined));
    // Until the request is durable and tracked, `appending` keeps it in
    // oldestPendingSeq: a checkpoint taken meanwhile must not cover it up.
    let assigned: bigint | undefined;
    let seq: bigint;
    try {
      seq = await this.#host.appendRecord(record, (at) => this.#appending.add((assigned = at)));
    } finally {
      if (assigned !== undefined) this.#appending.delete(assigned);
    }
    const request = new PermissionRequest(seq, operation, group, record, step);
    operation.asked([seq], request);
    this.#operations.set(seq, operation);
    const { intent } = operation;
    if (intent.op === 'external' && intent.kernel !== undefined) await this.kernelHold.journaled(record, intent.kernel, seq);
    // A destroy that started while the request was being appended could not
    // see it: it is allowed now, as the destroy allowed the others.
    if (group.alive) this.#enqueue(group, [request], false);
    else void this.decide(request, FAN_ALLOW).catch(() => undefined);
    return request;
  }

  /** Queues requests for their group and arms the group's timeout on each. */
  #enqueue(group: PermissionGroup, requests: PermissionRequest[], atHead: boolean): void {
    group.enqueueAll(requests, atHead);
    const timeout = group.timeout;
    if (timeout === null) return;
    for (const request of requests)
      request.armTimeout(
        timeout.ms,
        () => this.#host.now(),
        () => void this.#timedOut(request, timeout.response),
      );
  }

  async #timedOut(request: PermissionRequest, response: number): Promise<void> {
    request.group.withdraw(request);
    try {
      await this.decide(request, response, { timeout: true });
    } catch {
      return; // answered meanwhile, or the engine failed
    }
    request.group.timedOut();
  }

  /** Answers a request: journals the decision, then lets the operation go on; ENOENT if it was answered already (or is being answered). */
  async decide(request: PermissionRequest, response: number, options: { timeout?: boolean; byListener?: boolean } = {}): Promise<void> {
    if (!request.undecided) throw new FanlogError('ENOENT', `request ${request.seq} was already answered`);
    const listenerHolds = request.state === 'read' && options.byListener !== true;
    request.deciding();
    const { intent } = request;
    const record: EngineRecord = {
      kind: 'decision',
      op: intent.op,
      time: this.#host.now(),
      mask: request.record.mask,
      fid: intent.fid,
      path: intent.path,
      group: request.group.name,
      requestSeq: request.seq,
      response,
      pid: intent.pid,
      tid: intent.tid,
      uid: intent.uid,
    };
    if (intent.gid !== undefined) record.gid = intent.gid;
    if (options.timeout === true) record.timeout = true;
    try {
      await this.#host.appendRecord(record);
    } catch (error) {
      if (request.state === 'deciding') request.abandon(error);
      throw error;
    }
    // The decision is durable: now, and only now, the kernel may hear it (even if this engine closed meanwhile).
    if (intent.op === 'external') this.#host.answerKernel(intent, response, listenerHolds);
    // Closed or failed while the answer was being journaled: nobody waits any more.
    if (request.state === 'abandoned') return;
    if (options.byListener === true) request.group.answeredByListener();
    request.decided(response);
  }

  /** Undecided requests of a group (queued or read), in seq order. */
  pendingOf(group: PermissionGroup): PermissionRequest[] {
    const out: PermissionRequest[] = [];
    for (const [seq, operation] of this.#operations) {
      const request = operation.waiting;
      if (seq === operation.seq && request !== null && request.group === group && request.undecided) out.push(request);
    }
    return out.sort((a, b) => (a.seq < b.seq ? -1 : 1));
  }

  /**
   * The first request seq of the oldest operation not settled yet (asking,
   * or allowed and not yet performed): the journal must keep it and
   * everything after, for recovery to finish that operation.
   */
  oldestPendingSeq(): bigint | undefined {
    let oldest: bigint | undefined;
    for (const seq of this.#appending) if (oldest === undefined || seq < oldest) oldest = seq;
    for (const seq of this.#operations.keys()) if (oldest === undefined || seq < oldest) oldest = seq;
    return oldest;
  }

  /** Ends an operation: forgets it under each of its seqs, keeping an orphan's outcome for `settled`. */
  #settle(operation: GuardedOperation, outcome: Outcome): void {
    operation.settle(outcome);
    for (const seq of operation.requestSeqs) {
      if (this.#operations.get(seq) !== operation) assert.fail(`request ${seq} belongs to another operation`);
      this.#operations.delete(seq);
      if (operation.orphan) this.#settledOrphans.set(seq, operation);
    }
  }

  /**
   * Finishes, after a crash, every guarded operation the journal shows
   * unfinished. Per operation (its requests share one operation seq):
   *   - its last request has no decision: it is queued again, at the head
   *     of its group's queue, in seq order among all such requests, exactly
   *     once, and the operation runs on once it is answered;
   *   - its last request was allowed and the operation's entry is missing:
   *     the operation runs on from there at once (it may ask further groups);
   *   - otherwise (denied, or completed) there is nothing to do.
   * `groupFor` finds a group by name (null: gone; its requests are then
   * allowed, as destroying it would have). With `resume` false (a read-only
   * engine) requests are queued, so that they can be seen, but nothing is
   * answered or performed. Returns how many requests were queued again.
   */
  resurrect(journaled: JournaledPermissions, groupFor: (name: string) => PermissionGroup | null, perform: Perform<Intent, void>, resume: boolean): number {
    const byOperation = new Map<bigint, bigint[]>();
    for (const [seq, record] of journaled.requests) {
      const operationSeq = record.operationSeq ?? seq;
      byOperation.set(operationSeq, [...(byOperation.get(operationSeq) ?? []), seq]);
    }
    const waiting: PermissionRequest[] = [];
    const resumed: PermissionRequest[] = [];
    for (const [operationSeq, unsorted] of byOperation) {
      const seqs = unsorted.sort((a, b) => (a < b ? -1 : 1));
      const last = seqs.at(-1)!;
      const record = journaled.requests.get(last)!;
      const response = journaled.decisions.get(last);
      if (response !== undefined && (!isAllowed(response) || journaled.completed.has(operationSeq))) continue;
      const first = journaled.requests.get(operationSeq);
      if (seqs[0] !== operationSeq || first === undefined) assert.fail(`operation ${operationSeq} starts with request ${seqs[0]}`);
      const { intent, step } = intentOf(first, operationSeq, record, last);
      const operation = new GuardedOperation(intent, true);
      const request = new PermissionRequest(last, operation, groupFor(record.group) ?? goneGroup(record.group), record, step);
      operation.asked(seqs, response === undefined ? request : null);
      for (const seq of seqs) this.#operations.set(seq, operation);
      if (response === undefined) waiting.push(request);
      else {
        request.decided(response);
        resumed.push(request);
      }
    }
    waiting.sort((a, b) => (a.seq < b.seq ? -1 : 1));
    // At the head of each queue, in seq order.
    const byGroup = new Map<PermissionGroup, PermissionRequest[]>();
    for (const request of waiting) {
      if (groupFor(request.group.name) === null) continue;
      if (request.intent.op === 'external') {
        this.kernelHold.hold(request);
        continue;
      }
      byGroup.set(request.group, [...(byGroup.get(request.group) ?? []), request]);
    }
    for (const [group, requests] of byGroup) this.#enqueue(group, requests, true);
    if (!resume) return waiting.length;
    for (const request of [...waiting, ...resumed]) {
      const from: From = { step: request.step, afterGroupKey: priorityKey(request.group), ...(request.state === 'decided' ? {} : { waiting: request }) };
      const { operation } = request;
      void this.#run(operation, from, (operationSeq) => perform(operation.intent, operationSeq)).catch(() => undefined);
      if (request.undecided && groupFor(request.group.name) === null) void this.decide(request, FAN_ALLOW).catch(() => undefined);
    }
    return waiting.length;
  }

  /** Guarded operations that asked and are not settled yet: those whose callers wait, and those resurrected after a crash. */
  pendingOperations(): PendingOperation[] {
    const out: PendingOperation[] = [];
    for (const [seq, { seq: first, intent, waiting, orphan }] of this.#operations) {
      const waitingOn = waiting === null ? null : { group: waiting.group.name, requestSeq: waiting.seq };
      if (seq === first) out.push({ operationSeq: seq, op: intent.op, path: intent.path, pid: intent.pid, waitingOn, resurrected: orphan });
    }
    return out.sort((a, b) => (a.operationSeq < b.operationSeq ? -1 : 1));
  }

  /**
   * Resolves with the outcome of the guarded operation a request (or
   * operation) seq belongs to. A settled orphan's outcome is reported once,
   * then forgotten.
   */
  settled(seq: bigint): Promise<Outcome> {
    const operation = this.#operations.get(seq) ?? this.#settledOrphans.get(seq);
    if (operation === undefined) return Promise.reject(new FanlogError('ENOENT', `no guarded operation with request seq ${seq}`));
    if (!operation.orphan) return operation.outcome;
    return operation.outcome.then((outcome) => {
      for (const request of operation.requestSeqs) this.#settledOrphans.delete(request);
      return outcome;
    });
  }

  /** On close or failure: every waiting request is abandoned (it stays undecided in the journal for the next open). */
  abandonAll(error: FanlogError): void {
    for (const [seq, operation] of this.#operations) {
      const request = operation.waiting;
      if (seq === operation.seq && request !== null && (request.undecided || request.state === 'deciding')) request.abandon(error);
    }
  }
}
