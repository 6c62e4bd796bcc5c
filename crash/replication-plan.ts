/**
 * The faults of a `replication` run (replication-run.ts says what each
 * does), drawn from the run's seed: a few windows in which redis-server is
 * killed or frozen, never overlapping one another; at most one fault that
 * ends the replicator's exactness for good (a restore from an older copy,
 * or a foreign entry), which the replicator must report; second
 * replicators; trims. Faults that need Redis to answer (copies, foreign
 * entries, second replicators, trims) fall outside every window. A
 * restore lands after the last filesystem call now and then, so that only
 * the check at catch-up can find it.
 */
import type { Prng } from '../journal/prng.js';

export type Fault =
  | { kind: 'kill'; at: number; until: number }
  | { kind: 'freeze'; at: number; until: number; stop: boolean }
  | { kind: 'restore'; copyAt: number; at: number; rdb: boolean }
  | { kind: 'foreign'; at: number; how: 'xadd' | 'xsetid' | 'hidden' }
  | { kind: 'second'; at: number; other: boolean }
  /** `where` in [0, 1): which entry the trim starts at; `holding`: just above a batch reader `reader` holds, which then restarts (or `dies`). */
  | { kind: 'trim'; at: number; where: number; holding: boolean; reader: number; dies: boolean };

/** The faults of a run of `steps` steps (0..steps, the last one without filesystem calls). */
export function planFaults(prng: Prng, steps: number): Fault[] {
  const busy = new Set<number>();
  const faults: Fault[] = [];
  /** A free step in [low, high], or null. */
  const free = (low: number, high: number): number | null => {
    const candidates = Array.from({ length: Math.max(0, high - low + 1) }, (_, i) => low + i).filter((step) => !busy.has(step));
    return candidates.length === 0 ? null : prng.pick(candidates);
  };
  /** A window of `length` steps in which Redis does not answer, with its ends; null when none fits. */
  const window = (length: number): { at: number; until: number } | null => {
    const starts = Array.from({ length: Math.max(0, steps - length) }, (_, i) => 1 + i).filter((at) =>
      Array.from({ length: length + 1 }, (_, i) => at + i).every((step) => !busy.has(step)),
    );
    if (starts.length === 0) return null;
    const at = prng.pick(starts);
    for (let step = at; step <= at + length; step++) busy.add(step);
    return { at, until: at + length };
  };
  for (let kills = prng.int(3); kills > 0; kills--) {
    const placed = window(prng.between(1, 3));
    if (placed !== null) faults.push({ kind: 'kill', ...placed });
  }
  for (let freezes = prng.int(3); freezes > 0; freezes--) {
    const placed = window(prng.between(1, 3));
    if (placed !== null) faults.push({ kind: 'freeze', ...placed, stop: prng.chance(0.3) });
  }
  const terminal = prng.next();
  if (terminal < 0.35) {
    const copyAt = free(1, steps - 2);
    const at = copyAt === null ? null : prng.chance(0.4) && !busy.has(steps) ? steps : free(copyAt + 1, steps);
    if (copyAt !== null && at !== null) {
      busy.add(copyAt).add(at);
      faults.push({ kind: 'restore', copyAt, at, rdb: prng.chance(0.5) });
    }
  } else if (terminal < 0.7) {
    const at = free(1, steps);
    if (at !== null) faults.push({ kind: 'foreign', at, how: prng.pick(['xadd', 'xadd', 'xsetid', 'hidden'] as const) });
  }
  if (prng.chance(0.5)) {
    // Just before a window when there is one: a second replicator that started anyway (it must not) then
    // meets retries that reorder its batches and the first one's.
    const windows = faults.filter((fault): fault is Extract<Fault, { kind: 'kill' | 'freeze' }> => fault.kind === 'kill' || fault.kind === 'freeze');
    const before = windows.map((fault) => fault.at - 1).filter((step) => step >= 2 && !busy.has(step));
    const at = before.length > 0 && prng.chance(0.7) ? prng.pick(before) : free(2, steps - 3);
    if (at !== null) faults.push({ kind: 'second', at, other: prng.chance(0.5) });
  }
  for (let trims = prng.int(3); trims > 0; trims--) {
    const at = free(1, steps);
    if (at !== null) faults.push({ kind: 'trim', at, where: prng.next(), holding: prng.chance(0.6), reader: prng.int(2), dies: prng.chance(0.3) });
  }
  return faults;
}
