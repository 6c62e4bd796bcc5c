/**
 * What the crash workload (workload.ts) reports to its model and takes as
 * options.
 */
import type { Engine, EngineOptions } from '../fanlog.js';

/** What the workload tells the model. */
export interface Observer {
  /** The journal promised durability through `seq` (its durableSeq, sampled after something resolved). */
  durable(seq: bigint): void;
  /** `consumer`'s ack of `seq` resolved. */
  acked(consumer: string, seq: bigint): void;
  /** `consumer` was registered (again, after an eviction): acks before it no longer bind. */
  registered(consumer: string): void;
  /** A response to the permission request at `requestSeq` resolved. */
  decided(requestSeq: bigint): void;
  /** A check made during the run failed. */
  violation(invariant: number, what: string): void;
  /** A check made during the run passed. */
  checked(): void;
  /** A control call on `object` ('consumer:<name>', 'group:<name>') started. */
  controlStarted(object: string): void;
  /** A control call on `object` settled: how (see control-races.ts). */
  controlSettled(object: string, change: ControlChange): void;
}

/** How a raced control call settled, as far as the model follows the object. */
export type ControlChange =
  { type: 'refused' | 'failed' | 'attach' | 'register' | 'deregister' | 'create' | 'destroy' } | { type: 'ack'; seq: bigint } | { type: 'mark'; path: string };

export interface WorkloadOptions {
  ops: number;
  /** Engine options but the directory; the same on every reopen. */
  engine: EngineOptions;
  /** Adds a group whose requests all time out (wall-clock timers). */
  timeouts: boolean;
  /**
   * On a real disk: waits for operations are bounded by time (an fsync takes
   * real time), not by turns of the event loop as on MemoryIo, where a
   * seeded run must not depend on the clock.
   */
  realDisk: boolean;
  /** Whether the engine is now and then closed and reopened (default true; lock runs need it held throughout). */
  reopens?: boolean;
  /** True once nothing more can happen (power cut); checked between steps. */
  stopped: () => boolean;
  /** Called after each reopen, before the engine is used. */
  onOpen?: (engine: Engine) => void;
}
