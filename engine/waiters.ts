/**
 * Waiters: callers waiting until something arrives, or for at most a given
 * time. `wait(ms)` resolves at the first `wakeAll()` or after `ms`,
 * whichever comes first. A group's queue waits for events with it, the
 * consumer registry for durable records.
 */
/** The period of the timer that keeps the process alive while something waits (it does nothing when it fires). */
const KEEP_ALIVE_MS = 2 ** 31 - 1;
/** One timer for every wait: ref'd while any is pending, unref'd otherwise (no timer made per wait). */
let keepAliveTimer: NodeJS.Timeout | null = null;
let waiting = 0;

/** Awaits `promise` holding a ref'd timer, so that Node's event loop cannot drain while it is pending. */
export async function keepingAlive<T>(promise: Promise<T>): Promise<T> {
  if (waiting++ === 0) (keepAliveTimer ??= setInterval(() => undefined, KEEP_ALIVE_MS)).ref();
  try {
    return await promise;
  } finally {
    if (--waiting === 0) keepAliveTimer!.unref();
  }
}

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
