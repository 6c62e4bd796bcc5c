/**
 * Permission events: an operation a permission mark guards waits for a
 * listener's answer, and no request is lost or answered twice, across queue
 * releases and crashes (DESIGN.md invariant 5).
 *
 * Life of a guarded operation
 *   1. The filesystem checks the call and describes it as an `Intent`: the
 *      object, the operation's arguments, and its steps (the permission
 *      events it raises, in order, with their ranges).
 *   2. `guard(intent)`: for each step, every group whose marks want that
 *      event is asked, one after another, by priority (pre-content, then
 *      content; by name within a class). Asking journals a `request` record
 *      (its own entry, durable) before the group's queue shows it; the
 *      answer journals a `decision` record (durable) before the operation
 *      goes on. The first denial ends the operation with its errno.
 *   3. The filesystem completes the intent against the state as it is then
 *      (the state may have moved while waiting) and journals the operation's
 *      own entry, as for any operation.
 *
 * Request states: queued (in a group's queue) -> read (handed to a queue
 * handle) -> deciding (an answer is being journaled) -> decided. A restart
 * (restartable queue handle closed) moves read requests back to queued, at
 * the head. Only the first answer is taken: any later one is ENOENT.
 *
 * Crash resurrection: the journal holds every request and every decision.
 * On open, each request without a decision is queued again at the head of
 * its group's queue, in seq order, exactly once, as a queue release would,
 * and its operation (an orphan: its caller died) continues from the step and
 * group it was waiting at once it is answered, then completes through the
 * same code as a live one. `Engine.settled(seq)` reports its outcome.
 *
 * Intent encoding: JSON of the Intent below, in the request record's
 * `intent` field, with the step index the request was for.
 */
import { FanlogError, type FanlogErrorCode, invalid } from '../errors.js';
import type { FsState } from './fs-state.js';
import { fidOf, statOf } from './inode.js';
import { FAN_ALLOW, FAN_DENY, FAN_ONDIR, FAN_PERMISSION_EVENTS, FAN_PRE_CONTENT_EVENTS, type Mask } from './masks.js';
import type { EngineRecord, Fid, Range } from './record.js';

/** Linux errno values a pre-content listener may deny with: FAN_DENY_ERRNO(ERRNO.EIO). */
export const ERRNO = { EPERM: 1, EIO: 5, EAGAIN: 11, EBUSY: 16, ETXTBSY: 26, ENOSPC: 28, EDQUOT: 122 } as const;
const ERRNO_CODES = new Map<number, FanlogErrorCode>(Object.entries(ERRNO).map(([name, value]) => [value, name as FanlogErrorCode]));

export type PermissionClass = 'notif' | 'content' | 'pre-content';

/** Checks a listener's response; returns it. EINVAL for anything Linux rejects. */
export function checkResponse(response: unknown, groupClass: PermissionClass): number {
  if (typeof response !== 'number' || !Number.isInteger(response) || response < 0 || response > 0xffffffff) {
    throw invalid(`response must be FAN_ALLOW, FAN_DENY or FAN_DENY_ERRNO(errno), got ${String(response)}`);
  }
  const verdict = response & 0xff;
  const errno = response >>> 24;
  if ((verdict !== FAN_ALLOW && verdict !== FAN_DENY) || (response & 0x00ffff00) !== 0) {
    throw invalid(`response 0x${response.toString(16)} is neither FAN_ALLOW nor FAN_DENY`);
  }
  if (errno !== 0) {
    if (verdict === FAN_ALLOW) throw invalid('an errno goes with FAN_DENY only');
    if (groupClass !== 'pre-content') throw invalid('a custom errno needs a pre-content group');
    if (!ERRNO_CODES.has(errno)) throw invalid(`errno ${errno} is not one a listener may choose (EIO, EPERM, EBUSY, ETXTBSY, EAGAIN, ENOSPC, EDQUOT)`);
  }
  return response;
}

export function isAllowed(response: number): boolean {
  return (response & 0xff) === FAN_ALLOW;
}

/** The error a denied operation fails with: EPERM, or the listener's errno. */
export function denialError(response: number, what: string): FanlogError {
  const code = ERRNO_CODES.get(response >>> 24) ?? 'EPERM';
  return new FanlogError(code, `${what} denied by a permission listener`);
}

export type IntentOp = 'open' | 'read' | 'write' | 'truncate' | 'fault';

export interface IntentStep {
  /** One permission event bit, as a decimal string (JSON has no bigint). */
  mask: string;
  range?: Range;
}

/** A guarded operation, as it is journaled in its requests. */
export interface Intent {
  op: IntentOp;
  fid: Fid;
  path: string;
  parentFid: Fid;
  name: string;
  pid: number;
  tid: number;
  uid: number;
  /** open */
  flags?: 'r' | 'w' | 'rw';
  exec?: boolean;
  truncate?: boolean;
  /** read, write, fault */
  offset?: number;
  length?: number;
  /** truncate */
  size?: number;
  /** fault */
  write?: boolean;
  steps: IntentStep[];
  /**
   * The seq of the operation's first request (decimal), once it has one.
   * The operation's own entry carries it as `requestSeq`, which is how
   * recovery knows an allowed operation was completed.
   */
  operationSeq?: string;
}

/** What a request needs of a group. */
export interface PermissionGroup {
  readonly name: string;
  readonly groupClass: PermissionClass;
  /** The bits of a permission event this group's marks want (0n: none). */
  wants(event: EngineRecord): Mask;
  /** False once the group is being destroyed: a request that was being appended for it is allowed instead. */
  readonly alive: boolean;
  /** Queues requests for its listener, in the order given (at the head, ahead of the rest, when resurrected or restarted). */
  enqueueAll(requests: readonly PermissionRequest[], atHead: boolean): void;
  /** A listener answered (not a timeout): resets the consecutive-timeout count. */
  answeredByListener(): void;
}

export type RequestState = 'queued' | 'read' | 'deciding' | 'decided';

export class PermissionRequest {
  state: RequestState = 'queued';
  timer: NodeJS.Timeout | null = null;
  readonly answered: Promise<number>;
  private settle!: (response: number) => void;
  private fail!: (error: unknown) => void;

  constructor(
    /** The seq of this request's record. */
    readonly seq: bigint,
    /** The seq of the operation's first request: the operation's id. */
    readonly operationSeq: bigint,
    readonly group: PermissionGroup,
    /** The request record, as journaled. */
    readonly record: EngineRecord,
    readonly intent: Intent,
    readonly step: number,
  ) {
    this.answered = new Promise<number>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    // A waiter may be gone (an orphan not yet attached); never leave a rejection unhandled.
    this.answered.catch(() => undefined);
  }

  decided(response: number): void {
    this.state = 'decided';
    if (this.timer !== null) clearTimeout(this.timer);
    this.settle(response);
  }

  abandon(error: unknown): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.fail(error);
  }
}

/** What permissions need of the engine. */
export interface PermissionHost {
  readonly state: FsState;
  now(): bigint;
  /** Groups that may be asked, in priority order. */
  permissionGroups(): PermissionGroup[];
  /** Journals one record as its own entry; resolves with its seq once durable. */
  appendRecord(record: EngineRecord, onSeq?: (seq: bigint) => void): Promise<bigint>;
}

export type Outcome = { outcome: 'completed' } | { outcome: 'denied' | 'failed'; code: string };

interface Operation {
  intent: Intent;
  /** The operation seq, then the seq of each of its requests: its keys in `operations`. */
  seqs: bigint[];
  waiting: PermissionRequest | null;
  settled: Promise<Outcome>;
  settle: (outcome: Outcome) => void;
  orphan: boolean;
}

const CLASS_RANK: Record<PermissionClass, number> = { 'pre-content': 0, content: 1, notif: 2 };

/** Priority order: pre-content, content, notif; by name within a class. */
export function priorityKey(group: { groupClass: PermissionClass; name: string }): string {
  return `${CLASS_RANK[group.groupClass]}/${group.name}`;
}

export class Permissions {
  /** Undecided requests, by seq. */
  private readonly pending = new Map<bigint, PermissionRequest>();
  /** Requests appended but not yet durable (and so not yet in `pending`). */
  private readonly appending = new Set<bigint>();
  /** Guarded operations not yet settled, by operation seq and by each of their request seqs. */
  private readonly operations = new Map<bigint, Operation>();
  /** Outcomes of settled orphan operations, by operation seq and request seqs, for `settled`. */
  private readonly outcomes = new Map<bigint, Outcome>();

  constructor(private readonly host: PermissionHost) {}

  /** The permission event a step raises on the intent's object, or null if the object is gone. */
  private stepEvent(intent: Intent, step: IntentStep): EngineRecord | null {
    const inode = this.host.state.byFid(intent.fid);
    if (inode === undefined) return null;
    const mask = BigInt(step.mask);
    return {
      kind: 'request',
      op: intent.op,
      time: this.host.now(),
      mask: inode.type === 'dir' ? mask | FAN_ONDIR : mask,
      fid: fidOf(inode),
      parentFid: intent.parentFid,
      name: intent.name,
      path: intent.path,
      ...(step.range === undefined ? {} : { range: step.range }),
      stat: statOf(inode),
      pid: intent.pid,
      tid: intent.tid,
      uid: intent.uid,
    };
  }

  /** Whether any group could be asked about this operation at all (false: no need to wait). */
  mayAsk(intent: Intent): boolean {
    return intent.steps.length > 0 && this.host.permissionGroups().length > 0;
  }

  /**
   * Asks every group that wants each step, from `step` on (skipping, at
   * that step, the groups up to `afterGroupKey`); throws the first denial.
   */
  async guard(intent: Intent, from: { step: number; afterGroupKey?: string; operationSeq?: bigint } = { step: 0 }): Promise<void> {
    if (!this.mayAsk(intent)) return;
    let operationSeq = from.operationSeq;
    let operation = operationSeq === undefined ? undefined : this.operations.get(operationSeq);
    try {
      for (let index = from.step; index < intent.steps.length; index++) {
        const step = intent.steps[index]!;
        for (const group of this.host.permissionGroups()) {
          if (index === from.step && from.afterGroupKey !== undefined && priorityKey(group) <= from.afterGroupKey) continue;
          const event = this.stepEvent(intent, step);
          if (event === null) throw new FanlogError('ENOENT', `'${intent.path}' was deleted while its ${intent.op} waited for permission`);
          if (group.wants(event) === 0n) continue;
          const request = await this.ask(group, event, intent, index, operationSeq);
          if (operation === undefined) {
            operationSeq = request.seq;
            intent.operationSeq = operationSeq.toString();
            operation = this.track(intent, operationSeq, false);
          }
          this.operations.set(request.seq, operation);
          operation.seqs.push(request.seq);
          operation.waiting = request;
          const response = await request.answered;
          operation.waiting = null;
          if (!isAllowed(response)) throw denialError(response, `${intent.op} of '${intent.path}'`);
        }
      }
    } catch (error) {
      if (operation !== undefined) this.settle(operation, error);
      throw error;
    }
    if (operation !== undefined) this.settle(operation, null);
  }

  private track(intent: Intent, operationSeq: bigint, orphan: boolean): Operation {
    let settle!: (outcome: Outcome) => void;
    const settled = new Promise<Outcome>((resolve) => (settle = resolve));
    const operation: Operation = { intent, seqs: [operationSeq], waiting: null, settled, settle, orphan };
    this.operations.set(operationSeq, operation);
    return operation;
  }

  /** Settles an operation after its permission phase; `completion` is the error it ended with, or null. */
  private settle(operation: Operation, error: unknown): void {
    if (error !== null && error !== undefined) {
      const code = (error as { code?: string }).code ?? 'EIO';
      const denied = error instanceof FanlogError && error.message.includes('denied by a permission listener');
      this.finish(operation, { outcome: denied ? 'denied' : 'failed', code });
    }
    // Allowed: the caller completes it and reports through completed().
    else operation.waiting = null;
  }

  /** Ends an operation: forgets it under each of its seqs (O(its requests)). */
  private finish(operation: Operation, outcome: Outcome): void {
    for (const seq of operation.seqs) {
      if (this.operations.get(seq) !== operation) continue;
      this.operations.delete(seq);
      // Outcomes are kept for orphans only (their callers are gone, so
      // `settled` is how anyone learns them); a live caller got its result.
      if (operation.orphan) this.outcomes.set(seq, outcome);
    }
    operation.settle(outcome);
  }

  /** Reports how a guarded operation ended after its permissions were granted. */
  completed(intent: Intent, error: unknown): void {
    if (intent.operationSeq === undefined) return;
    const operation = this.operations.get(BigInt(intent.operationSeq));
    if (operation === undefined || operation.intent !== intent) return;
    const code = (error as { code?: string } | null)?.code;
    this.finish(operation, error === null ? { outcome: 'completed' } : { outcome: 'failed', code: code ?? 'EIO' });
  }

  private async ask(group: PermissionGroup, event: EngineRecord, intent: Intent, step: number, operationSeq: bigint | undefined): Promise<PermissionRequest> {
    const record: EngineRecord = {
      ...event,
      group: group.name,
      ...(operationSeq === undefined ? {} : { requestSeq: operationSeq }),
      intent: JSON.stringify({ ...intent, step }),
    };
    // Until the request is durable and tracked, `appending` keeps it in
    // oldestPendingSeq: a checkpoint taken meanwhile must not cover it up.
    let assigned: bigint | undefined;
    let seq: bigint;
    try {
      seq = await this.host.appendRecord(record, (at) => this.appending.add((assigned = at)));
    } finally {
      if (assigned !== undefined) this.appending.delete(assigned);
    }
    const request = new PermissionRequest(seq, operationSeq ?? seq, group, record, intent, step);
    this.pending.set(seq, request);
    // A destroy that started while the request was being appended could not
    // see it: it is allowed now, as the destroy allowed the others.
    if (group.alive) group.enqueueAll([request], false);
    else void this.decide(request, FAN_ALLOW).catch(() => undefined);
    return request;
  }

  /**
   * Answers a request: journals the decision, then lets the operation go on.
   * ENOENT if it was answered already (or is being answered).
   */
  async decide(request: PermissionRequest, response: number, options: { timeout?: boolean; byListener?: boolean } = {}): Promise<void> {
    if (request.state === 'deciding' || request.state === 'decided') {
      throw new FanlogError('ENOENT', `request ${request.seq} was already answered`);
    }
    const time = this.host.now();
    request.state = 'deciding';
    const record: EngineRecord = {
      kind: 'decision',
      op: request.intent.op,
      time,
      mask: request.record.mask!,
      fid: request.intent.fid,
      path: request.intent.path,
      group: request.group.name,
      requestSeq: request.seq,
      response,
      ...(options.timeout === true ? { timeout: true } : {}),
      pid: request.intent.pid,
      tid: request.intent.tid,
      uid: request.intent.uid,
    };
    try {
      await this.host.appendRecord(record);
    } catch (error) {
      request.abandon(error);
      throw error;
    }
    this.pending.delete(request.seq);
    if (options.byListener === true) request.group.answeredByListener();
    request.decided(response);
  }

  /** Undecided requests of a group (queued or read), in seq order. */
  pendingOf(group: PermissionGroup): PermissionRequest[] {
    return [...this.pending.values()].filter((request) => request.group === group && request.state !== 'deciding').sort((a, b) => (a.seq < b.seq ? -1 : 1));
  }

  /**
   * The first request seq of the oldest operation not finished yet (waiting,
   * or allowed and not yet completed): the journal must keep it and
   * everything after, for recovery to finish that operation.
   */
  oldestPendingSeq(): bigint | undefined {
    let oldest: bigint | undefined;
    for (const seq of this.appending) if (oldest === undefined || seq < oldest) oldest = seq;
    for (const seq of this.pending.keys()) if (oldest === undefined || seq < oldest) oldest = seq;
    for (const seq of this.operations.keys()) if (oldest === undefined || seq < oldest) oldest = seq;
    return oldest;
  }

  /**
   * Finishes, after a crash, every guarded operation the journal shows
   * unfinished. `requests` are the request records by seq, `decisions` the
   * journaled answers by request seq, `completed` the operation seqs whose
   * own entry is in the journal. Per operation (its requests share one
   * operation seq):
   *   - its last request has no decision: it is queued again, at the head
   *     of its group's queue, in seq order among all such requests, exactly
   *     once, and the operation goes on once it is answered;
   *   - its last request was allowed and the operation's entry is missing:
   *     the operation goes on from there at once (it may ask further groups);
   *   - otherwise (denied, or completed) there is nothing to do.
   * `complete` runs an allowed operation; `groupFor` finds a group by name
   * (null: gone; its requests are then allowed, as destroying it would have).
   * With `resume` false (a read-only engine) requests are queued, so that
   * they can be seen, but nothing is answered or completed.
   */
  resurrect(
    requests: Map<bigint, EngineRecord>,
    decisions: Map<bigint, number>,
    completed: Set<bigint>,
    groupFor: (name: string) => PermissionGroup | null,
    complete: (intent: Intent) => Promise<void>,
    resume = true,
  ): number {
    const byOperation = new Map<bigint, bigint[]>();
    for (const [seq, record] of requests) {
      const operationSeq = record.requestSeq ?? seq;
      byOperation.set(operationSeq, [...(byOperation.get(operationSeq) ?? []), seq]);
    }
    const waiting: PermissionRequest[] = [];
    const resumed: PermissionRequest[] = [];
    for (const [operationSeq, seqs] of byOperation) {
      const last = seqs.reduce((a, b) => (a > b ? a : b));
      const record = requests.get(last)!;
      const response = decisions.get(last);
      if (response !== undefined && (!isAllowed(response) || completed.has(operationSeq))) continue;
      const { step, ...intent } = JSON.parse(record.intent!) as Intent & { step: number };
      intent.operationSeq = operationSeq.toString();
      const group = groupFor(record.group!);
      const request = new PermissionRequest(last, operationSeq, group ?? orphanGroup(record.group!), record, intent, step);
      const operation = this.track(intent, operationSeq, true);
      for (const seq of seqs) {
        this.operations.set(seq, operation);
        if (seq !== operationSeq) operation.seqs.push(seq);
      }
      if (response === undefined) {
        this.pending.set(last, request);
        operation.waiting = request;
        waiting.push(request);
      } else {
        request.decided(response);
        resumed.push(request);
      }
    }
    waiting.sort((a, b) => (a.seq < b.seq ? -1 : 1));
    // At the head of each queue, in seq order.
    const byGroup = new Map<PermissionGroup, PermissionRequest[]>();
    for (const request of waiting) {
      if (groupFor(request.group.name) === null) continue;
      const queued = byGroup.get(request.group);
      if (queued === undefined) byGroup.set(request.group, [request]);
      else queued.push(request);
    }
    for (const [group, requests] of byGroup) group.enqueueAll(requests, true);
    if (!resume) return waiting.length;
    for (const request of [...waiting, ...resumed]) {
      void this.continueOrphan(request, complete);
      if (request.state !== 'decided' && groupFor(request.group.name) === null) void this.decide(request, FAN_ALLOW).catch(() => undefined);
    }
    return waiting.length;
  }

  private async continueOrphan(request: PermissionRequest, complete: (intent: Intent) => Promise<void>): Promise<void> {
    const operation = this.operations.get(request.operationSeq)!;
    let response: number;
    try {
      response = await request.answered;
    } catch (error) {
      this.settle(operation, error);
      return;
    }
    operation.waiting = null;
    if (!isAllowed(response)) {
      this.settle(operation, denialError(response, `${request.intent.op} of '${request.intent.path}'`));
      return;
    }
    try {
      await this.guard(request.intent, { step: request.step, afterGroupKey: priorityKey(request.group), operationSeq: request.operationSeq });
    } catch {
      return; // settled by guard
    }
    try {
      await complete(request.intent);
      this.completed(request.intent, null);
    } catch (error) {
      this.completed(request.intent, error);
    }
  }

  /** Operations whose callers are gone (resurrected after a crash) and that are not settled yet. */
  pendingOperations(): { operationSeq: bigint; op: IntentOp; path: string; pid: number; waitingOn: { group: string; requestSeq: bigint } | null }[] {
    const seen = new Set<Operation>();
    const out = [];
    for (const [seq, operation] of this.operations) {
      if (!operation.orphan || seen.has(operation)) continue;
      seen.add(operation);
      const operationSeq = operation.waiting?.operationSeq ?? seq;
      out.push({
        operationSeq,
        op: operation.intent.op,
        path: operation.intent.path,
        pid: operation.intent.pid,
        waitingOn: operation.waiting === null ? null : { group: operation.waiting.group.name, requestSeq: operation.waiting.seq },
      });
    }
    return out.sort((a, b) => (a.operationSeq < b.operationSeq ? -1 : 1));
  }

  /** Resolves with the outcome of the guarded operation a request (or operation) seq belongs to. */
  settled(seq: bigint): Promise<Outcome> {
    const outcome = this.outcomes.get(seq);
    if (outcome !== undefined) return Promise.resolve(outcome);
    const operation = this.operations.get(seq);
    if (operation === undefined) return Promise.reject(new FanlogError('ENOENT', `no guarded operation with request seq ${seq}`));
    return operation.settled;
  }

  /** On close: live waiters fail with ECLOSED; their requests stay undecided in the journal for the next open. */
  abandonAll(error: FanlogError): void {
    for (const request of this.pending.values()) request.abandon(error);
    this.pending.clear();
  }
}

/** A stand-in for a group that no longer exists, so its orphaned requests can still be decided. */
function orphanGroup(name: string): PermissionGroup {
  return {
    name,
    groupClass: 'content',
    alive: true,
    wants: () => 0n,
    enqueueAll: () => undefined,
    answeredByListener: () => undefined,
  };
}

export const PERMISSION_BITS: Mask = FAN_PERMISSION_EVENTS | FAN_PRE_CONTENT_EVENTS;
