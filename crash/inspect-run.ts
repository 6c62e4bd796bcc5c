/**
 * The campaign's `inspect` runs (not built yet: issue 26).
 */
import type { RunResult } from './real-disk.js';

export function inspectRun(runSeed: number, base: string): Promise<RunResult> {
  return Promise.reject(new Error(`inspect runs are not built yet (run seed ${runSeed}, ${base})`));
}
