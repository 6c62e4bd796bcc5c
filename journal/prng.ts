/**
 * A small seeded pseudo-random generator (mulberry32) for everything that
 * must replay from a seed: MemoryIo's crash choices, crash-test workloads,
 * fuzz cases. Not for anything security-related (journal ids use
 * `node:crypto`).
 */
export class Prng {
  #state: number;

  constructor(readonly seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`);
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [0, bound). */
  int(bound: number): number {
    if (!(bound >= 1)) throw new RangeError(`bound must be >= 1, got ${bound}`);
    return Math.floor(this.next() * bound);
  }

  /** A uniform integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.nextU32() & 0xff;
    return out;
  }
}
