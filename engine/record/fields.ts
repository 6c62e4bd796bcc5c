/**
 * The record format, as one table: the codes of kinds and ops, and every
 * optional field's tag and wire type. codec.ts is hand-unrolled for speed
 * and `test/engine/codec-table.test.ts` holds it to this table, field by
 * field; `test/fixtures/records-v1.bin` holds both to the bytes format 1
 * wrote.
 *
 * Append only: a code or a tag, once given, keeps its meaning forever. A
 * kind or op no longer produced keeps its code so that old journals decode
 * (`config` and the op `group` were never produced by a release; the table
 * still reads them). A field no longer written (tag 24, a format 1
 * request's JSON intent) likewise keeps its tag, and is read only.
 *
 * Record layout: u8 codec version (CODEC_VERSION), u8 kind code, u8 op code, u64 LE
 * time (ns), then the present fields as (u8 tag, value) in increasing tag
 * order. Varints are unsigned LEB128; strings are a varint byte length then
 * UTF-8; u64 are little-endian.
 */
import type { OpName, RecordKind } from './record.js';

/**
 * The version written. Format 2 added tags 29..31 (a request's binary
 * intent) and stopped writing tag 24; format 3 added tag 32 (the process's
 * gid, wherever its uid is); format 4 added the kind `note` and the ops
 * `sync`, `scanBegin` and `scanEnd` (a mirrored directory), and names tag
 * 19 `source` in an event and tag 20 `reason` in a note (no new tag: an
 * older build refuses a format 4 record by its version byte); format 5
 * added the op `loss`, a note of where a mirror may not be its disk (no
 * new tag either); format 6 names tag 14 `kernelEvent` in a request,
 * whose op may now be `external` (a kernel permission event, kernel/), and
 * lets an event's `source` be 'fanotify'; format 7 added the kind
 * `outcome`, the end of a guarded operation that journaled no entry (no
 * new tag: an older build refuses it by its version byte); format 8 added
 * the op `mark`, a note whose reason is a label (`engine.mark`: a backup's
 * bounds), with no new tag either; format 9 added tags 33..35 (a file
 * handle the filesystem's own, where no fid holds it: a kernel event on
 * xfs, btrfs or tmpfs), the first tags past the presence bits (below).
 */
export const CODEC_VERSION = 9;
/** The versions read, with the last tag each may hold. */
export const TAG_MAX_BY_VERSION: Readonly<Record<number, number>> = { 1: 28, 2: 31, 3: 32, 4: 32, 5: 32, 6: 32, 7: 32, 8: 32, 9: 35 };

/** Kind codes. */
export const KIND_CODES: Readonly<Record<RecordKind, number>> = { op: 0, event: 1, config: 2, request: 3, decision: 4, evicted: 5, note: 6, outcome: 7 };

/** Op codes. */
export const OP_CODES: Readonly<Record<OpName, number>> = {
  mkdir: 0,
  create: 1,
  open: 2,
  read: 3,
  write: 4,
  fault: 5,
  close: 6,
  truncate: 7,
  unlink: 8,
  rmdir: 9,
  rename: 10,
  link: 11,
  symlink: 12,
  chmod: 13,
  chown: 14,
  utimes: 15,
  setxattr: 16,
  removexattr: 17,
  hsmFill: 18,
  hsmRelease: 19,
  group: 20,
  consumer: 21,
  release: 22,
  external: 23,
  sync: 24,
  scanBegin: 25,
  scanEnd: 26,
  loss: 27,
  mark: 28,
};

/**
 * Wire types:
 *   varint     unsigned LEB128 of a safe integer
 *   bigvarint  unsigned LEB128 of a u64
 *   fid        varint ino, varint gen
 *   range      varint offset, varint count
 *   string     varint byte length, UTF-8 (well-formed only)
 *   bytes      varint length, bytes
 *   flag       no value: present means true
 *   stat       varints ino mode uid gid size nlink, then u64 atime mtime ctime
 *   attrs      u8 presence (bits 0..5: mode uid gid size atime mtime), then
 *              those present: varints, but atime and mtime as u64
 *   steps      varint count, then per step: bigvarint mask, u8 1 if a range
 *              follows (varint offset, varint count) else 0
 *   args       u8 presence (bits 0..6: flags exec truncate offset length
 *              size write), then those present as varints: flags 0 'r',
 *              1 'w', 2 'rw'; booleans 0 or 1
 *   handle     varint handle type (the kernel's s32, as its u32 bits),
 *              varint length (1..MAX_HANDLE_BYTES), the handle's bytes
 */
export type WireType = 'varint' | 'bigvarint' | 'fid' | 'range' | 'string' | 'bytes' | 'flag' | 'stat' | 'attrs' | 'steps' | 'args' | 'handle';

/** The longest file handle the kernel gives (MAX_HANDLE_SZ): a record refuses a longer one. */
export const MAX_HANDLE_BYTES = 128;
/**
 * Tags past this one have no presence bit (see tag 32): a record finds them
 * by stepping over the fields before them, which costs nothing for records
 * that have none, since they come last. They are rare by design: a field
 * most records carry must not be given one.
 */
export const LAST_PRESENCE_TAG = 32;

export interface FieldSpec {
  tag: number;
  name: string;
  type: WireType;
  /** The field's name in records of these kinds, where it means something else. */
  byKind?: Partial<Record<RecordKind, string>>;
}

export const FIELDS: readonly FieldSpec[] = [
  { tag: 1, name: 'mask', type: 'bigvarint' },
  { tag: 2, name: 'fid', type: 'fid' },
  { tag: 3, name: 'parentFid', type: 'fid' },
  { tag: 4, name: 'name', type: 'string' },
  { tag: 5, name: 'oldParentFid', type: 'fid' },
  { tag: 6, name: 'oldName', type: 'string' },
  { tag: 7, name: 'path', type: 'string' },
  { tag: 8, name: 'oldPath', type: 'string' },
  { tag: 9, name: 'range', type: 'range' },
  { tag: 10, name: 'stat', type: 'stat' },
  { tag: 11, name: 'attrs', type: 'attrs' },
  { tag: 12, name: 'xattr', type: 'string' },
  { tag: 13, name: 'value', type: 'bytes' },
  /** A symlink's target; in a request (format 6), the kernel event it asks about. */
  { tag: 14, name: 'target', type: 'string', byKind: { request: 'kernelEvent' } },
  { tag: 15, name: 'offline', type: 'flag' },
  { tag: 16, name: 'pid', type: 'varint' },
  { tag: 17, name: 'tid', type: 'varint' },
  { tag: 18, name: 'uid', type: 'varint' },
  /** A request's or decision's group; in an event, where it came from (`source`, a mirror's). */
  { tag: 19, name: 'group', type: 'string', byKind: { event: 'source' } },
  /** A legacy config record's JSON; in a note, its reason. */
  { tag: 20, name: 'config', type: 'string', byKind: { note: 'reason' } },
  /** The operation a request belongs to, or an entry completes; in a decision, the request answered. */
  { tag: 21, name: 'operationSeq', type: 'bigvarint', byKind: { decision: 'requestSeq' } },
  { tag: 22, name: 'response', type: 'varint' },
  { tag: 23, name: 'timeout', type: 'flag' },
  /** Format 1 only: a request's whole intent as JSON. Read, never written (LEGACY_FIELDS). */
  { tag: 24, name: 'intent', type: 'string' },
  { tag: 25, name: 'consumer', type: 'string' },
  { tag: 26, name: 'fromSeq', type: 'bigvarint' },
  { tag: 27, name: 'toSeq', type: 'bigvarint' },
  { tag: 28, name: 'orphan', type: 'flag' },
  /** Format 2: a request's binary intent. Every request has its step; an operation's first request also its steps and arguments. */
  { tag: 29, name: 'step', type: 'varint' },
  { tag: 30, name: 'steps', type: 'steps' },
  { tag: 31, name: 'args', type: 'args' },
  /**
   * Format 3: the process's gid. Presence bits are `1 << tag`, which
   * JavaScript takes modulo 32: tag 32 has bit 0, free because tag 0 is
   * never given (a scan refuses it). It is the last tag this scheme has
   * room for; a format that needs more must widen the presence bits.
   */
  { tag: 32, name: 'gid', type: 'varint' },
  /**
   * Format 9: file handles as the kernel gives them, opaque (type and
   * bytes), where the filesystem's is not FILEID_INO32_GEN's 8 bytes and so
   * no fid holds it (xfs, btrfs, tmpfs): the object's, its parent's, a
   * rename's old parent's. An event has a role's fid or its handle, never
   * both; a kernel permission request, which must carry a fid, has its
   * inode number as one (generation 0) and its handle beside it, and then
   * its parent's fid is a placeholder too. No presence bits
   * (LAST_PRESENCE_TAG).
   */
  { tag: 33, name: 'handle', type: 'handle' },
  { tag: 34, name: 'parentHandle', type: 'handle' },
  { tag: 35, name: 'oldParentHandle', type: 'handle' },
];

/** Every field by its name (and a decision's `requestSeq`, tag 21), to its tag. */
export const TAG: Readonly<Record<string, number>> = Object.fromEntries(
  FIELDS.flatMap((field): [string, number][] => [
    [field.name, field.tag],
    ...Object.values(field.byKind ?? {}).map((name): [string, number] => [name, field.tag]),
  ]),
);

/** Field names by tag, and for the kinds that rename a field, their own copy: a lookup per decoded field. */
const NAMES: string[] = [];
for (const field of FIELDS) NAMES[field.tag] = field.name;
const NAMES_OF_KIND: Partial<Record<RecordKind, string[]>> = {};
for (const field of FIELDS) {
  for (const [kind, name] of Object.entries(field.byKind ?? {}) as [RecordKind, string][]) (NAMES_OF_KIND[kind] ??= [...NAMES])[field.tag] = name;
}

/** The name of field `tag` in a record of `kind` (tag 21 is `requestSeq` in a decision). */
export function fieldName(tag: number, kind: RecordKind): string {
  return (NAMES_OF_KIND[kind] ?? NAMES)[tag]!;
}

/** The fields the engine keeps to itself: a consumer's record never shows them. */
export const INTERNAL_FIELDS = ['attrs', 'value', 'config', 'intent', 'step', 'steps', 'args'] as const;

/** Kinds and ops no release produces: they keep their codes so that old journals decode, and are never written. */
export const LEGACY_KINDS: readonly RecordKind[] = ['config'];
export const LEGACY_OPS: readonly OpName[] = ['group'];
/** Fields no release writes any more: read from old journals only. */
export const LEGACY_FIELDS: readonly string[] = ['intent'];

/** The attribute fields of `attrs`, by presence bit. */
export const ATTR_FIELDS = ['mode', 'uid', 'gid', 'size', 'atime', 'mtime'] as const;

/** The fields of `args`, by presence bit. */
export const ARG_FIELDS = ['flags', 'exec', 'truncate', 'offset', 'length', 'size', 'write'] as const;
/** Open flags by their code in `args`. */
export const OPEN_FLAGS = ['r', 'w', 'rw'] as const;

/** The inverse of a code map, as a dense array: the name of each code. */
export function byCode<N extends string>(codes: Readonly<Record<N, number>>): readonly (N | undefined)[] {
  const names: (N | undefined)[] = [];
  for (const [name, code] of Object.entries(codes) as [N, number][]) names[code] = name;
  return names;
}
