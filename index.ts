/**
 * `fanlog`: what an application uses. The Engine, its errors, masks and
 * record types. The journal alone (`fanlog/journal`), the formats of other
 * tools (`fanlog/interop`), crash tests of your own (`fanlog/testing`) and
 * the remote reader (`fanlog/redis`) are the other entries; nothing else
 * of the package is public.
 *
 * @module fanlog
 */
export { FanlogError, type FanlogErrorCode, type FanlogErrorDetails } from './errors.js';
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
  type OutcomeRecord,
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
  type FileHandle,
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
export * from './engine/notify/masks.js';
export { ERRNO, responseName } from './engine/permission/rules.js';
export type { Intent, IntentBase, OpenIntent, ReadIntent, WriteIntent, TruncateIntent, FaultIntent, ExternalIntent } from './engine/permission/intent.js';
export type { FanotifyOptions, FanotifyPermissionOptions, FanotifySource, FanotifySourceStats } from './kernel/source.js';
export type { FanotifyStats } from './kernel/watch.js';
export type { KernelPermissionStats } from './kernel/permission.js';
export type { Outcome } from './engine/permission/operation.js';
export { Consumer, type ConsumerInfo, type ConsumerOptions, type DeliveredRecord } from './consumers/consumer.js';
export { Consumers } from './consumers/consumer-registry.js';
export { Filters, type FilterFactory, type FilterPredicate } from './consumers/filters.js';
export type { RecordHeader } from './engine/record/view.js';
export type { ChangedObject, Changes, ChangesOptions } from './engine/changes-since.js';
export { EngineClient, type ClientOptions } from './serve/client.js';
export { LocalConsumer } from './serve/local-consumer.js';
