/**
 * SlidingWindow: what happened in the last minute (by default), kept in
 * one-second buckets on a ring, for metrics: how many samples, and
 * quantiles of their values (fdatasync latencies, in ms). A bucket older
 * than the window is reused, so memory is bounded by the samples of one
 * window; the time source is injectable for tests.
 */
interface Bucket {
  second: number;
  count: number;
  values: number[];
}

export class SlidingWindow {
  readonly #buckets: Bucket[];
  readonly #nowMs: () => number;
  /** Whether `record` keeps values for quantiles. */
  readonly #keepValues: boolean;

  constructor(
    readonly seconds = 60,
    nowMs: () => number = () => performance.now(),
    keepValues = true,
  ) {
    this.#nowMs = nowMs;
    this.#keepValues = keepValues;
    this.#buckets = Array.from({ length: seconds }, () => ({ second: -1, count: 0, values: [] }));
  }

  /** One sample with its value. */
  record(value = 0): void {
    const bucket = this.#current();
    bucket.count++;
    if (this.#keepValues) bucket.values.push(value);
  }

  /** `count` samples without values (a counter). */
  tally(count: number): void {
    this.#current().count += count;
  }

  #current(): Bucket {
    const second = Math.floor(this.#nowMs() / 1000);
    const bucket = this.#buckets[second % this.seconds]!;
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.count = 0;
      bucket.values.length = 0;
    }
    return bucket;
  }

  /** The buckets inside the window now. */
  #live(): Bucket[] {
    const oldest = Math.floor(this.#nowMs() / 1000) - this.seconds + 1;
    return this.#buckets.filter((bucket) => bucket.second >= oldest);
  }

  /** Samples in the window. */
  count(): number {
    return this.#live().reduce((total, bucket) => total + bucket.count, 0);
  }

  /** Samples per second over the window. */
  rate(): number {
    return this.count() / this.seconds;
  }

  /** The `q` quantile (0..1) of the values in the window, nearest rank; null when there is none. */
  quantile(q: number): number | null {
    const values = this.#live()
      .flatMap((bucket) => bucket.values)
      .sort((a, b) => a - b);
    if (values.length === 0) return null;
    return values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
  }
}
