/**
 * Waiters: callers waiting until something arrives, or for at most a given
 * time. `wait(ms)` resolves at the first `wakeAll()` or after `ms`,
 * whichever comes first. A group's queue waits for events with it, the
 * consumer registry for durable records.
 */
export class Waiters {
  readonly #waiting = new Set<() => void>();

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiting.add(done);
    });
  }

  wakeAll(): void {
    for (const waiter of [...this.#waiting]) waiter();
  }
}
