/**
 * The crash campaign's model of what must survive a crash, kept apart from
 * the engine: the promises the engine made while the workload ran (the
 * durable seq it reported after calls resolved, the acks and responses that
 * resolved), plus, on simulated disks, the History of every record it wrote.
 * It also counts the checks made and collects the violations found, each
 * under the number of the DESIGN.md invariant it breaks (0: the workload
 * itself saw an error a working engine must not give).
 */
import type { History } from './history.js';
import type { Observer } from './workload.js';

export interface Violation {
  invariant: number;
  what: string;
}

export class Model implements Observer {
  durableSeq = 0n;
  readonly acks = new Map<string, bigint>();
  readonly decisions = new Set<bigint>();
  readonly violations: Violation[] = [];
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
