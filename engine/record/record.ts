/**
 * What the engine writes into the journal: records, one per journal record.
 *
 * An operation's entry holds one `op` record (the mutation, exactly what
 * replay needs to redo it) followed by one `event` record per object and
 * event it raised (what consumers read). A permission `request` and its
 * `decision` are entries of their own, journaled before the listener sees
 * the request and before the operation proceeds. An `evicted` note records
 * that a consumer was evicted and which records it will never see. A
 * `note` marks a point in the changelog that is not a change: a mirrored
 * directory's scan beginning (`scanBegin`, with its reason) and ending
 * (`scanEnd`), and a place where the mirror may not be its disk (`loss`,
 * with why), mirror/mirror.ts.
 */
import type { Mask } from '../notify/masks.js';

export type RecordKind = 'op' | 'event' | 'config' | 'request' | 'decision' | 'evicted' | 'note' | 'outcome';

/** Every operation the simulated filesystem knows, by name. */
export const OP_NAMES = [
  'mkdir',
  'create',
  'open',
  'read',
  'write',
  'fault',
  'close',
  'truncate',
  'unlink',
  'rmdir',
  'rename',
  'link',
  'symlink',
  'chmod',
  'chown',
  'utimes',
  'setxattr',
  'removexattr',
  'hsmFill',
  'hsmRelease',
  'group',
  'consumer',
  'release',
  /** Events imported from outside (a captured fanotify stream): no operation of this filesystem behind them. */
  'external',
  /** A mirrored object's attributes and size, set to what was found on disk (mirror/). */
  'sync',
  /** Notes: a mirrored directory's scan begins, and ends. */
  'scanBegin',
  'scanEnd',
  /** A note: the mirrored tree may differ from the disk at and below the note's path (a name or size the engine cannot hold, a directory it may not read, watching stopped), until the next scan says it again or not. */
  'loss',
  /** A note: a label the application set in the changelog (`engine.mark`), delivered to every consumer whatever its mask. */
  'mark',
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** An object's identity: inode number and generation, never reused together. */
export interface Fid {
  ino: number;
  gen: number;
}

/**
 * A file handle as the kernel gives it (name_to_handle_at, a fanotify FID
 * record): the filesystem's handle type and its bytes, opaque. A record
 * holds one only where no fid can (record format 9): the filesystem's
 * handle is not ext4's FILEID_INO32_GEN (xfs, btrfs, tmpfs).
 */
export interface FileHandle {
  type: number;
  bytes: Uint8Array;
}

/** A handle as text: its type in hex and its bytes in hex, `0x81:1a2b...` (a Redis entry, a tail line). */
export function handleText(handle: FileHandle): string {
  const { buffer, byteOffset, length } = handle.bytes;
  return `0x${(handle.type >>> 0).toString(16)}:${Buffer.from(buffer, byteOffset, length).toString('hex')}`;
}

/** Attributes, as stat(2) would give them. Times are nanoseconds. */
export interface Stat {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
}

/** Attribute changes an op record carries (chmod, chown, utimes, create). */
export interface Attrs {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: bigint;
  mtime?: bigint;
}

export interface Range {
  offset: number;
  count: number;
}

/** One permission event a guarded operation raises, with its range (pre-content events). */
export interface IntentStep {
  mask: Mask;
  range?: Range;
}

/** A guarded operation's own arguments, as its first request journals them: those of its op (permission/intent.ts). */
export interface IntentArgs {
  flags?: 'r' | 'w' | 'rw';
  exec?: boolean;
  truncate?: boolean;
  offset?: number;
  length?: number;
  size?: number;
  write?: boolean;
}

/** Every field a record may carry, by name: the union below gives each kind its own. */
export interface RecordFields {
  mask: Mask;
  fid: Fid;
  parentFid: Fid;
  name: string;
  oldParentFid: Fid;
  oldName: string;
  /** Kernel events and requests (format 9): the object's file handle, where its filesystem's holds no fid. */
  handle: FileHandle;
  /** The parent's file handle, where no `parentFid` holds it. */
  parentHandle: FileHandle;
  /** A rename's old parent's file handle, where no `oldParentFid` holds it. */
  oldParentHandle: FileHandle;
  path: string;
  oldPath: string;
  range: Range;
  stat: Stat;
  attrs: Attrs;
  xattr: string;
  /** An op: the xattr value set. An imported FS_ERROR event (op `external`): its ERROR record's body (interop/fanotify-events.ts). */
  value: Uint8Array;
  target: string;
  offline: boolean;
  /** unlink, rmdir, rename (of what it replaces): the object losing its last name stays as an orphan, still open. */
  orphan: boolean;
  pid: number;
  tid: number;
  uid: number;
  /** The process's group id: in every record that carries its uid (record format 3; absent from older records). */
  gid: number;
  group: string;
  config: string;
  /**
   * The guarded operation a record belongs to, by its seq (the seq of its
   * first request): on a request after the operation's first, and on the
   * first record of the entry that completes the operation.
   */
  operationSeq: bigint;
  /** Decisions: the seq of the request answered. */
  requestSeq: bigint;
  /** Decisions: FAN_ALLOW, FAN_DENY or FAN_DENY_ERRNO(errno). */
  response: number;
  /** Decisions: the answer came from the group's timeout, not a listener. */
  timeout: boolean;
  /** Requests of format 1: the operation to complete if allowed, as JSON (permission/intent.ts); read, never written. */
  intent: string;
  /** Requests: the index, in its operation's steps, of the step this request asks about. */
  step: number;
  /** An operation's first request: the permission events the operation raises, in order. */
  steps: IntentStep[];
  /** An operation's first request: the operation's own arguments. */
  args: IntentArgs;
  /** Events: where the change came from, when not from a process of the simulated filesystem ('mirror': found on disk by a mirror, which knows no process; 'fanotify': reported by the kernel, kernel/). */
  source: 'mirror' | 'fanotify';
  /**
   * Requests of op `external` (record format 6): the kernel permission event
   * asked about, by an identity no other event shares (kernel/permission.ts):
   * what a restarted handler matches the events its supervisor sends again to.
   */
  kernelEvent: string;
  /** Notes: why the scan ran ('start', 'watcher-error', 'overflow', 'gap', 'periodic', 'manual'); in a `loss` note, why the mirror may differ there, as the code of the problem ('EILSEQ': a name or symlink target that is not UTF-8; 'EPERM': not readable; 'EFBIG': a size beyond 2^53 - 1; 'EOPNOTSUPP': a FIFO, socket or device node; 'ENOSPC': no inotify watch left; another code: a change that could not be applied). */
  reason: string;
  /** Eviction notes: the consumer evicted, and the records it will never see. */
  consumer: string;
  fromSeq: bigint;
  toSeq: bigint;
}

export interface RecordBase {
  /** Nanoseconds, from the engine's clock. */
  time: bigint;
  op: OpName;
}

/** The fields a kind always carries, and those it may. */
export type Carries<K extends keyof RecordFields> = Pick<RecordFields, K>;
export type MayCarry<K extends keyof RecordFields> = Partial<Pick<RecordFields, K>>;

/** The mutation, exactly what replay needs to redo it. */
export type OpRecord = RecordBase & { kind: 'op' } & MayCarry<
    | 'fid'
    | 'parentFid'
    | 'name'
    | 'oldParentFid'
    | 'oldName'
    | 'oldPath'
    | 'range'
    | 'attrs'
    | 'xattr'
    | 'value'
    | 'target'
    | 'offline'
    | 'orphan'
    | 'pid'
    | 'tid'
    | 'uid'
    | 'gid'
    | 'operationSeq'
  >;
/** One event on one object: what consumers read. */
export type EventRecord = RecordBase & { kind: 'event' } & Carries<'mask'> &
  MayCarry<
    | 'fid'
    | 'parentFid'
    | 'name'
    | 'oldParentFid'
    | 'oldName'
    | 'path'
    | 'oldPath'
    | 'range'
    | 'stat'
    | 'xattr'
    | 'target'
    | 'pid'
    | 'tid'
    | 'uid'
    | 'gid'
    | 'operationSeq'
    | 'value'
    | 'source'
    | 'handle'
    | 'parentHandle'
    | 'oldParentHandle'
  >;
/** A permission request, journaled before any listener sees it. */
export type RequestRecord = RecordBase & { kind: 'request' } & Carries<
    'mask' | 'fid' | 'parentFid' | 'name' | 'path' | 'stat' | 'pid' | 'tid' | 'uid' | 'group'
  > &
  MayCarry<'gid' | 'range' | 'operationSeq' | 'step' | 'steps' | 'args' | 'intent' | 'kernelEvent' | 'handle'>;
/** A permission answer, journaled before the operation goes on. */
export type DecisionRecord = RecordBase & { kind: 'decision' } & Carries<
    'mask' | 'fid' | 'path' | 'group' | 'requestSeq' | 'response' | 'pid' | 'tid' | 'uid'
  > &
  MayCarry<'gid' | 'timeout'>;
/** A consumer was evicted: the records it will never see. */
export type EvictedRecord = RecordBase & { kind: 'evicted' } & Carries<'consumer' | 'fromSeq' | 'toSeq'>;
/**
 * The end of a guarded operation that journaled no entry of its own (it
 * failed after a group allowed it, or it journaled nothing: a fault, a
 * read of nothing, events the changelog mask leaves out): recovery's sign
 * that it is over (format 7). Its mask is the union of the operation's
 * permission events, so that a consumer's mask takes it with the requests.
 */
export type OutcomeRecord = RecordBase & { kind: 'outcome' } & Carries<'operationSeq' | 'path' | 'mask'>;
/** A point in the changelog that is not a change: a mirror's scan begins or ends, under `path`; or (`loss`) the mirror may differ from its disk at and below `path`. */
export type NoteRecord = RecordBase & { kind: 'note' } & Carries<'path' | 'reason'>;
/** Legacy: never produced; decoded from old journals. */
export type ConfigRecord = RecordBase & { kind: 'config' } & MayCarry<'group' | 'config'>;

/** A record type with every field its kind does not carry marked absent, so that a field can be read from any record. */
export type Exclusive<T> = T & { [K in Exclude<keyof RecordFields, keyof T>]?: undefined };

/** Any record, by kind; each kind carries its own fields, and reading another's gives undefined. */
export type EngineRecord =
  | Exclusive<OpRecord>
  | Exclusive<EventRecord>
  | Exclusive<RequestRecord>
  | Exclusive<DecisionRecord>
  | Exclusive<EvictedRecord>
  | Exclusive<NoteRecord>
  | Exclusive<OutcomeRecord>
  | Exclusive<ConfigRecord>;

/** Whatever fields a record has, read without regard to its kind (matching marks, queueing). */
export type AnyRecordFields = Partial<RecordFields>;

/** A record of any kind, its fields read without regard to it: a decoded record before its check, a delivered one. */
export type RecordView = { kind: RecordKind; op: OpName; time: bigint } & AnyRecordFields;

/** A request before it names its group and intent: what is matched against a group's marks. */
export type RequestEvent = Omit<RequestRecord, 'group' | 'intent' | 'step' | 'steps' | 'args'>;

/**
 * What `FsState.apply` (engine/model/fs-state.ts) reads of an op record: a
 * decoded record (the live path), or an OpCursor over its bytes (replay).
 * `apply` reads each fid, range and attrs object once and keeps none of
 * them (it copies the numbers), since a cursor refills its own on the next
 * access. It is a record's shape, so it lives with the records: the model
 * that reads it sits above them.
 */
export type OpSource = { readonly kind: RecordKind; readonly op: OpName; readonly time: bigint } & Partial<
  Pick<RecordFields, 'fid' | 'parentFid' | 'oldParentFid' | 'name' | 'oldName' | 'range' | 'attrs' | 'xattr' | 'value' | 'target' | 'offline' | 'orphan'>
>;

/** The fields a record of some kind may be built from. */
export type OpFields = Omit<OpRecord, 'kind' | 'op' | 'time'>;
export type EventFields = Omit<EventRecord, 'kind' | 'op' | 'time' | 'mask'>;

/**
 * The fields each kind must carry: checked when a record is read (codec.ts).
 * A request of format 2 carries its `step` (and, if it is its operation's
 * first, `steps` and `args`); one of format 1 carried the JSON `intent`
 * instead (REQUIRED_FIELDS_V1).
 */
export const REQUIRED_FIELDS: Readonly<Record<RecordKind, readonly (keyof RecordFields)[]>> = {
  op: [],
  event: ['mask'],
  request: ['mask', 'fid', 'parentFid', 'name', 'path', 'stat', 'pid', 'tid', 'uid', 'group', 'step'],
  decision: ['mask', 'fid', 'path', 'group', 'requestSeq', 'response', 'pid', 'tid', 'uid'],
  evicted: ['consumer', 'fromSeq', 'toSeq'],
  note: ['path', 'reason'],
  outcome: ['operationSeq', 'path', 'mask'],
  config: [],
};

/** What format 1 required: the same, but a request's JSON `intent` where format 2 has its `step`. */
export const REQUIRED_FIELDS_V1: Readonly<Record<RecordKind, readonly (keyof RecordFields)[]>> = {
  ...REQUIRED_FIELDS,
  request: [...REQUIRED_FIELDS.request.filter((field) => field !== 'step'), 'intent'],
};
