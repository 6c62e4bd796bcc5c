/**
 * The campaign's `replication` runs (not built yet: issue 26).
 */
import type { RunResult } from './real-disk.js';

export function replicationRun(runSeed: number, base: string): Promise<RunResult> {
  return Promise.reject(new Error(`replication runs are not built yet (run seed ${runSeed}, ${base})`));
}
