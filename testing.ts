/**
 * `fanlog/testing`: crash tests of your own. MemoryIo (a disk that forgets
 * what was not synced, and injects faults), the seeded Prng, and the crash
 * campaign `fanlog crash-test` runs, with its fault kinds.
 *
 * @module fanlog/testing
 */
export { MemoryIo, CRASH_MODES, type CrashMode, type FaultPlan } from './journal/memory-io.js';
export { Prng } from './journal/prng.js';
export {
  runCrashTests,
  deriveRunSeed,
  FAULT_KINDS,
  type FaultKind,
  type CrashTestOptions,
  type CrashTestSummary,
  type CrashFailure,
} from './crash/campaign.js';
