/**
 * The campaign's `mirror` runs (not built yet: issue 26).
 */
import type { RunResult } from './real-disk.js';

export function mirrorRun(runSeed: number, base: string): Promise<RunResult> {
  return Promise.reject(new Error(`mirror runs are not built yet (run seed ${runSeed}, ${base})`));
}
