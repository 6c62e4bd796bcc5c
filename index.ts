/**
 * fanlog's public entry: everything a user may import, by name.
 */
export { FanlogError, type FanlogErrorCode, type FanlogErrorDetails } from './errors.js';
export type { Io, IoFile, IoLock, IoOpenMode } from './journal/io.js';
export { NodeIo } from './journal/node-io.js';
export { MemoryIo, CRASH_MODES, type CrashMode, type FaultPlan } from './journal/memory-io.js';
export { Prng } from './journal/prng.js';
export {
  Journal,
  type JournalOptions,
  type ReadRange,
  type SyncPolicy,
} from './journal/journal.js';
export { JournalReader, type JournalRecord } from './journal/reader.js';
export type { RecoveryReport } from './journal/recovery.js';
export type { ByteOffset, JournalId, Seq } from './journal/types.js';
