/**
 * A set of byte ranges, kept as sorted, disjoint, non-adjacent half-open
 * intervals [start, end). Used for a file's offline (not resident) content.
 */
export type Interval = readonly [start: number, end: number];

export class RangeSet {
  // `private`, not `#`: the intervals are the set's value, and structural
  // equality (a test's toEqual of two inodes) must see them; a `#` field
  // would make every two sets compare equal.
  // eslint-disable-next-line no-restricted-syntax -- structural equality must see the intervals (above)
  private intervals: Interval[];

  constructor(intervals: Iterable<Interval> = []) {
    this.intervals = [];
    for (const [start, end] of intervals) this.add(start, end);
  }

  get isEmpty(): boolean {
    return this.intervals.length === 0;
  }

  /** Total bytes covered. */
  get bytes(): number {
    return this.intervals.reduce((total, [start, end]) => total + end - start, 0);
  }

  toArray(): Interval[] {
    return this.intervals.map(([start, end]) => [start, end] as const);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const kept: Interval[] = [];
    let low = start;
    let high = end;
    for (const [s, e] of this.intervals) {
      if (e < low || s > high) kept.push([s, e]);
      else {
        low = Math.min(low, s);
        high = Math.max(high, e);
      }
    }
    kept.push([low, high]);
    kept.sort((a, b) => a[0] - b[0]);
    this.intervals = kept;
  }

  remove(start: number, end: number): void {
    if (end <= start) return;
    const kept: Interval[] = [];
    for (const [s, e] of this.intervals) {
      if (e <= start || s >= end) {
        kept.push([s, e]);
        continue;
      }
      if (s < start) kept.push([s, start]);
      if (e > end) kept.push([end, e]);
    }
    this.intervals = kept;
  }

  intersects(start: number, end: number): boolean {
    return this.intervals.some(([s, e]) => s < end && e > start && end > start);
  }

  /** Bytes of [start, end) inside the set. */
  overlap(start: number, end: number): number {
    let total = 0;
    for (const [s, e] of this.intervals) total += Math.max(0, Math.min(e, end) - Math.max(s, start));
    return total;
  }

  clone(): RangeSet {
    return new RangeSet(this.intervals);
  }
}
