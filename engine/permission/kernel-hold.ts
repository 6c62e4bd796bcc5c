/**
 * Kernel permission requests between the journal and their listener
 * (kernel/permission.ts): the descriptor each one's listener fills through,
 * and the resurrected ones held out of their queues until the kernel source
 * that holds their events claims them.
 *
 * Why hold them: a resurrected kernel request can be answered only through
 * the kernel's event, which only a source holding it (its supervisor's,
 * handed over again after a restart) can name, and its listener fills only
 * through that event's descriptor. Queued before, a listener would see it
 * without one. A held request no source claims was held by a process gone
 * with its fanotify group; the source decides those (`held`).
 */
import type { ExternalIntent } from './intent.js';
import type { PermissionRequest } from './request.js';

/**
 * The descriptor a kernel permission event's listener fills through, by its
 * request record: held in this process only, never journaled; the queue
 * shows it as the event's `fd` (notify/group-queue.ts).
 */
export const kernelDescriptors = new WeakMap<object, number>();

export class KernelHold {
  readonly #held = new Map<string, PermissionRequest>();
  readonly #enqueue: (request: PermissionRequest) => void;

  constructor(enqueue: (request: PermissionRequest) => void) {
    this.#enqueue = enqueue;
  }

  /** A live request is durable at `seq`: its descriptor is recorded, and its source told, before it is queued. */
  async journaled(record: object, kernel: NonNullable<ExternalIntent['kernel']>, seq: bigint): Promise<void> {
    kernelDescriptors.set(record, kernel.fd);
    await kernel.journaled(seq);
  }

  /** Holds a resurrected request until it is claimed. */
  hold(request: PermissionRequest): void {
    this.#held.set((request.intent as ExternalIntent).kernelEvent, request);
  }

  /**
   * Takes a resurrected request out of hold by its kernel event, gives it
   * the descriptor `fd` of the event's file, and queues it behind those
   * claimed before it; undefined if none is held under that event.
   */
  claim(kernelEvent: string, fd: number): PermissionRequest | undefined {
    const request = this.#held.get(kernelEvent);
    if (request === undefined) return undefined;
    this.#held.delete(kernelEvent);
    kernelDescriptors.set(request.record, fd);
    if (request.undecided && request.group.alive) this.#enqueue(request);
    return request;
  }

  /** Held requests no source has claimed, in seq order. */
  held(): PermissionRequest[] {
    return [...this.#held.values()].sort((a, b) => (a.seq < b.seq ? -1 : 1));
  }

  /** Takes a held request out of hold without queueing it (it is to be decided at once). */
  release(request: PermissionRequest): void {
    this.#held.delete((request.intent as ExternalIntent).kernelEvent);
  }
}
