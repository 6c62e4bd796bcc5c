/**
 * The crash campaign's model of what must survive a crash, kept apart from
 * the engine: the promises the engine made while the workload ran (the
 * durable seq it reported after calls resolved, the acks and responses that
 * resolved), plus, on simulated disks, the History of every record it wrote.
 * It also counts the checks made and collects the violations found, each
 * under the number of the docs/design.md invariant it breaks (0: the workload
 * itself saw an error a working engine must not give).
 */
import type { History } from './history.js';
import type { ControlChange, Observer } from './workload.js';

export interface Violation {
  invariant: number;
  what: string;
}

/**
 * What the stored state of a group or consumer the workload raced control
 * calls on must be after recovery: the result of its resolved calls in the
 * order they resolved (a serial order), unless a call on it is still in
 * flight or failed in a way that may have landed (then it is not checked).
 */
export interface ExpectedObject {
  present: boolean;
  /** Consumers: the cursor is at least this. */
  cursorAtLeast: bigint;
  /** Groups: the paths of marks that must be there. */
  marks: Set<string>;
  inFlight: number;
  uncertain: boolean;
}

export class Model implements Observer {
  durableSeq = 0n;
  readonly acks = new Map<string, bigint>();
  readonly decisions = new Set<bigint>();
  readonly violations: Violation[] = [];
  /** Raced objects by 'consumer:<name>' or 'group:<name>'. */
  readonly objects = new Map<string, ExpectedObject>();
  checks = 0;
  /** Set on simulated disks, where every write is traced. */
  history: History | null = null;

  durable(seq: bigint): void {
    if (seq > this.durableSeq) this.durableSeq = seq;
  }

  acked(consumer: string, seq: bigint): void {
    if (seq > (this.acks.get(consumer) ?? 0n)) this.acks.set(consumer, seq);
  }

  decided(requestSeq: bigint): void {
    this.decisions.add(requestSeq);
  }

  registered(consumer: string): void {
    this.acks.delete(consumer);
  }

  #object(key: string): ExpectedObject {
    let object = this.objects.get(key);
    if (object === undefined) this.objects.set(key, (object = { present: false, cursorAtLeast: 0n, marks: new Set(), inFlight: 0, uncertain: false }));
    return object;
  }

  controlStarted(key: string): void {
    this.#object(key).inFlight++;
  }

  controlSettled(key: string, change: ControlChange): void {
    const object = this.#object(key);
    object.inFlight--;
    switch (change.type) {
      case 'refused':
      case 'attach':
        return;
      case 'failed':
        object.uncertain = true;
        return;
      case 'register':
      case 'create':
        Object.assign(object, { present: true, cursorAtLeast: 0n, marks: new Set(), uncertain: false });
        return;
      case 'deregister':
      case 'destroy':
        Object.assign(object, { present: false, cursorAtLeast: 0n, marks: new Set(), uncertain: false });
        return;
      case 'ack':
        if (change.seq > object.cursorAtLeast) object.cursorAtLeast = change.seq;
        return;
      case 'mark':
        object.marks.add(change.path);
        return;
    }
  }

  violation(invariant: number, what: string): void {
    this.violations.push({ invariant, what });
  }

  checked(): void {
    this.checks++;
  }

  /** Counts a check; records a violation when it failed. */
  check(invariant: number, ok: boolean, what: () => string): boolean {
    this.checks++;
    if (!ok) this.violation(invariant, what());
    return ok;
  }
}
