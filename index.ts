/**
 * fanlog's public entry: everything a user may import, by name.
 *
 * @module fanlog
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
export type { ByteWriter } from './journal/byte-writer.js';
export { JournalReader, type JournalRecord, type RecordVisitor } from './journal/reader.js';
export { JournalFollower } from './journal/follower.js';
export type { RecoveryReport } from './journal/recovery.js';
export type { ByteOffset, JournalId, Seq } from './journal/types.js';
export { Engine, type EngineOptions, type EngineRecovery } from './fanlog.js';
export type { EngineCore } from './engine/engine.js';
export { FanlogFs, type ProcessContext, type OpenFlags, PAGE_BYTES } from './engine/fs/fs.js';
export { Group, EventQueue, type GroupClass, type GroupInfo, type GroupOptions, type MarkOptions, type QueuedEvent } from './engine/notify/groups.js';
export { Groups } from './engine/notify/group-registry.js';
export type { Mark, MarkScope } from './engine/notify/marks.js';
export type { MetaStore, MetaOp, StoreKind } from './store/meta-store.js';
export {
  type EngineRecord,
  type OpRecord,
  type EventRecord,
  type RequestRecord,
  type DecisionRecord,
  type EvictedRecord,
  type NoteRecord,
  type ConfigRecord,
  type Exclusive,
  type RecordBase,
  type RecordFields,
  type RecordView,
  type AnyRecordFields,
  type Carries,
  type MayCarry,
  type Attrs,
  type IntentArgs,
  type IntentStep,
  type Fid,
  type Stat,
  type Range,
  type OpName,
  type RecordKind,
  OP_NAMES,
} from './engine/record/record.js';
export { INTERNAL_FIELDS } from './engine/record/fields.js';
export type { GroupSettings } from './engine/notify/group-codec.js';
export type { PendingOperation } from './engine/permission/broker.js';
export type { FileStat } from './engine/fs/fs-queries.js';
export { type EngineMetrics, prometheusText, type ReplicatorMetrics } from './metrics.js';
export type { ReplicateOptions, Replicator, ReplicatorState, ReplicatorStats } from './replication/replicator.js';
export type { Mirror, MirrorOptions, MirrorStats, MirrorProblem, ReconcileResult, ScanReason } from './mirror/mirror.js';
export { encodeRecord, decodeRecord } from './engine/record/codec.js';
export * from './engine/notify/masks.js';
export { ERRNO, responseName } from './engine/permission/rules.js';
export { exportLfsChangelog, lfsLine, lustreType, lustreFid, LUSTRE_RECORD_TYPES, type LustreRecordType, CLF_UNLINK_LAST } from './interop/lfs.js';
export { encodeFanotifyEvents, decodeFanotifyEvents, writeFanotifyEvents, fanotifyEventOf, type FanotifyEvent, type FanotifyExportOptions, FILEID_INO32_GEN, FANLOG_INFO_TYPE_WRITE } from './interop/fanotify-events.js';
export { importFanotifyEvents } from './interop/fanotify-import.js';
export { encodeFanotifyResponse, decodeFanotifyResponses, type FanotifyResponse, FANOTIFY_RESPONSE_BYTES, FAN_NOFD, FAN_AUDIT, FAN_INFO } from './interop/fanotify-response.js';
export type { Intent, IntentBase, OpenIntent, ReadIntent, WriteIntent, TruncateIntent, FaultIntent } from './engine/permission/intent.js';
export type { Outcome } from './engine/permission/operation.js';
export { Consumer, type ConsumerInfo, type ConsumerOptions, type DeliveredRecord } from './consumers/consumer.js';
export { Consumers } from './consumers/consumer-registry.js';
export { Filters, type FilterFactory, type FilterPredicate } from './consumers/filters.js';
export type { RecordHeader } from './engine/record/view.js';
export {
  runCrashTests,
  deriveRunSeed,
  FAULT_KINDS,
  type FaultKind,
  type CrashTestOptions,
  type CrashTestSummary,
  type CrashFailure,
} from './crash/campaign.js';
