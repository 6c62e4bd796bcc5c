/**
 * Records as views over their bytes: how a consumer is handed records.
 *
 * A `LazyRecord` holds the bytes of one record (a range of the journal
 * chunk it was read in: no copy), its seq and its presence bits. `seq` and
 * `kind` are plain properties; every other field is a getter that finds
 * the field by stepping over the ones before it and decodes it on access
 * (strings once, then kept). The record was checked whole when the view was
 * made (`scanRecord`): a getter never throws, and a record this version
 * cannot read is ECORRUPT before anyone sees it.
 *
 * The public shape is a DeliveredRecord's: the same properties with the
 * same types, and absent fields read as undefined; the engine's internal
 * fields (a request's intent, an op's attrs and value) are not exposed.
 * `toJSON()` gives a plain object with every field, in the order a decoded
 * record has them (kind, op, time, the fields by tag, seq), which is what
 * `JSON.stringify` and `util.inspect` show. Spreading a view copies its own
 * properties only (`seq` and `kind`): for a plain copy of every field, take
 * `record.toJSON()` (README, "Records are views").
 *
 * Validity: the view keeps its chunk alive; chunks are never reused, so a
 * record stays valid after the next read, for as long as it is referenced.
 */
import { fieldAt, kindAt, opAt, scanRecord, valueAt, valueEnd, RECORD_FIXED_BYTES } from './bytes.js';
import { bigVarintAt, u64At, varintAt, varintEnd } from './values.js';
import { fieldName, FIELDS, INTERNAL_FIELDS, KIND_CODES, LAST_PRESENCE_TAG, TAG } from './fields.js';
import type { Fid, FileHandle, OpName, Range, RecordKind, Stat } from './record.js';
import type { Mask } from '../notify/masks.js';
import { FanlogError } from '../../errors.js';

/** The fields a filter sees (a view: decoded on access). */
export interface RecordHeader {
  kind: RecordKind;
  op: OpName;
  mask?: bigint;
  fid?: Fid;
  path?: string;
  oldPath?: string;
}

/**
 * By kind, the tags of the fields a consumer never sees (fields.ts
 * INTERNAL_FIELDS), by the name each tag has in that kind: tag 20 is a
 * legacy config's JSON, internal, but a note's `reason`, which is not.
 */
const HIDDEN_TAGS = {} as Record<RecordKind, number>;
for (const kind of Object.keys(KIND_CODES) as RecordKind[]) {
  HIDDEN_TAGS[kind] = FIELDS.reduce(
    (bits, field) =>
      field.tag <= LAST_PRESENCE_TAG && (INTERNAL_FIELDS as readonly string[]).includes(fieldName(field.tag, kind)) ? bits | (1 << field.tag) : bits,
    0,
  );
}
const MASK_TAG = TAG.mask!;
const PATH_TAG = TAG.path!;
const OLD_PATH_TAG = TAG.oldPath!;
const KIND_OP = 0;
/** util.inspect.custom, by its registered name (no node:util in the public types). */
const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;
const SLASH = 0x2f;

export class LazyRecord implements RecordHeader {
  readonly seq: bigint;
  readonly kind: RecordKind;
  readonly #bytes: Uint8Array;
  readonly #start: number;
  readonly #end: number;
  readonly #present: number;
  #path: string | undefined = undefined;

  /** @internal Use viewRecord; `present` is what scanRecord returned for these bytes. */
  constructor(seq: bigint, bytes: Uint8Array, start: number, end: number, present: number) {
    this.seq = seq;
    this.kind = kindAt(bytes, start);
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
    this.#present = present;
  }

  /** The value of field `tag`, or undefined when absent. */
  #field(tag: number): unknown {
    if ((this.#present & (1 << tag)) === 0) return undefined;
    return valueAt(this.#bytes, tag, fieldAt(this.#bytes, this.#start, this.#end, tag));
  }

  /** The value of field `tag` past the presence bits (fields.ts LAST_PRESENCE_TAG), found by stepping; undefined when absent. */
  #late(tag: number): unknown {
    const at = fieldAt(this.#bytes, this.#start, this.#end, tag);
    return at < 0 ? undefined : valueAt(this.#bytes, tag, at);
  }

  get op(): OpName {
    return opAt(this.#bytes, this.#start);
  }
  get time(): bigint {
    return u64At(this.#bytes, this.#start + 3);
  }
  get mask(): Mask | undefined {
    // The mask is the first field when present.
    return (this.#present & (1 << MASK_TAG)) === 0 ? undefined : bigVarintAt(this.#bytes, this.#start + RECORD_FIXED_BYTES + 1);
  }
  get fid(): Fid | undefined {
    return this.#field(TAG.fid!) as Fid | undefined;
  }
  get parentFid(): Fid | undefined {
    return this.#field(TAG.parentFid!) as Fid | undefined;
  }
  get name(): string | undefined {
    return this.#field(TAG.name!) as string | undefined;
  }
  get oldParentFid(): Fid | undefined {
    return this.#field(TAG.oldParentFid!) as Fid | undefined;
  }
  get oldName(): string | undefined {
    return this.#field(TAG.oldName!) as string | undefined;
  }
  get path(): string | undefined {
    if (this.#path === undefined && (this.#present & (1 << PATH_TAG)) !== 0) this.#path = this.#field(PATH_TAG) as string;
    return this.#path;
  }
  get oldPath(): string | undefined {
    return this.#field(OLD_PATH_TAG) as string | undefined;
  }
  get range(): Range | undefined {
    return this.#field(TAG.range!) as Range | undefined;
  }
  get stat(): Stat | undefined {
    return this.#field(TAG.stat!) as Stat | undefined;
  }
  get xattr(): string | undefined {
    return this.#field(TAG.xattr!) as string | undefined;
  }
  get target(): string | undefined {
    return this.kind === 'request' ? undefined : (this.#field(TAG.target!) as string | undefined);
  }
  /** Tag 14 in a request (format 6): the kernel permission event it asks about. */
  get kernelEvent(): string | undefined {
    return this.kind === 'request' ? (this.#field(TAG.target!) as string | undefined) : undefined;
  }
  get offline(): boolean | undefined {
    return this.#field(TAG.offline!) as boolean | undefined;
  }
  get pid(): number | undefined {
    return this.#field(TAG.pid!) as number | undefined;
  }
  get tid(): number | undefined {
    return this.#field(TAG.tid!) as number | undefined;
  }
  get uid(): number | undefined {
    return this.#field(TAG.uid!) as number | undefined;
  }
  get gid(): number | undefined {
    return this.#field(TAG.gid!) as number | undefined;
  }
  get group(): string | undefined {
    return this.kind === 'event' ? undefined : (this.#field(TAG.group!) as string | undefined);
  }
  /** Tag 19 in an event: where it came from ('mirror', 'fanotify'). */
  get source(): 'mirror' | 'fanotify' | undefined {
    return this.kind === 'event' ? (this.#field(TAG.group!) as 'mirror' | 'fanotify' | undefined) : undefined;
  }
  /** Tag 20 in a note: the scan's reason. */
  get reason(): string | undefined {
    return this.kind === 'note' ? (this.#field(TAG.config!) as string | undefined) : undefined;
  }
  /** Tag 21: the operation's seq, but in a decision the request's (requestSeq). */
  get operationSeq(): bigint | undefined {
    return this.kind === 'decision' ? undefined : (this.#field(TAG.operationSeq!) as bigint | undefined);
  }
  get requestSeq(): bigint | undefined {
    return this.kind === 'decision' ? (this.#field(TAG.operationSeq!) as bigint | undefined) : undefined;
  }
  get response(): number | undefined {
    return this.#field(TAG.response!) as number | undefined;
  }
  get timeout(): boolean | undefined {
    return this.#field(TAG.timeout!) as boolean | undefined;
  }
  get consumer(): string | undefined {
    return this.#field(TAG.consumer!) as string | undefined;
  }
  get fromSeq(): bigint | undefined {
    return this.#field(TAG.fromSeq!) as bigint | undefined;
  }
  get toSeq(): bigint | undefined {
    return this.#field(TAG.toSeq!) as bigint | undefined;
  }
  get orphan(): boolean | undefined {
    return this.#field(TAG.orphan!) as boolean | undefined;
  }
  /** Format 9: the object's file handle, where its filesystem's holds no fid. */
  get handle(): FileHandle | undefined {
    return this.#late(TAG.handle!) as FileHandle | undefined;
  }
  get parentHandle(): FileHandle | undefined {
    return this.#late(TAG.parentHandle!) as FileHandle | undefined;
  }
  get oldParentHandle(): FileHandle | undefined {
    return this.#late(TAG.oldParentHandle!) as FileHandle | undefined;
  }

  /** Every field, as a plain object, in a decoded record's order: kind, op, time, the fields by tag, seq. */
  toJSON(): Record<string, unknown> {
    const b = this.#bytes;
    const plain: Record<string, unknown> = { kind: this.kind, op: this.op, time: this.time };
    const hidden = HIDDEN_TAGS[this.kind];
    let at = this.#start + RECORD_FIXED_BYTES;
    while (at < this.#end) {
      const tag = b[at++]!;
      if (tag > LAST_PRESENCE_TAG || (hidden & (1 << tag)) === 0) {
        plain[fieldName(tag, this.kind)] = tag === PATH_TAG ? this.path : valueAt(b, tag, at);
      }
      at = valueEnd(b, tag, at);
    }
    plain.seq = this.seq;
    return plain;
  }

  /** @internal The record's encoded bytes, as the journal holds them (a copy): what `decodeRecord` reads. */
  encoded(): Uint8Array {
    return this.#bytes.slice(this.#start, this.#end);
  }

  /** @internal What `util.inspect` (and so console.log) shows: every field. */
  [INSPECT](): Record<string, unknown> {
    return this.toJSON();
  }
}

/** A view of the record in `bytes[start, end)` with its seq (ECORRUPT if this version cannot read it). */
export function viewRecord(seq: bigint, bytes: Uint8Array, start = 0, end = bytes.length): LazyRecord {
  return new LazyRecord(seq, bytes, start, end, scanRecord(bytes, start, end));
}

/** A delivered record's encoded bytes (a copy); EINVAL for anything but a record view. */
export function encodedOf(record: object): Uint8Array {
  if (!(record instanceof LazyRecord)) throw new FanlogError('EINVAL', 'not a record as a consumer delivers it');
  return record.encoded();
}

/** An `op` record (replay data, never delivered), from a scanned record's bytes. */
export function isOpRecord(b: Uint8Array, start: number): boolean {
  return b[start + 1] === KIND_OP;
}

/**
 * Whether the record's mask has any of the bits `low` (bits 0..31) and
 * `high` (32..63); true when it has no mask. From the bytes, with no BigInt
 * unless the mask needs more than 53 bits. Needs only `headerKnown`.
 */
export function maskMeetsAt(b: Uint8Array, start: number, end: number, low: number, high: number): boolean {
  // The mask is the first field when present.
  const at = start + RECORD_FIXED_BYTES + 1;
  if (at > end || b[at - 1] !== MASK_TAG) return true;
  if (varintEnd(b, at) - at <= 7) {
    const value = varintAt(b, at);
    return ((value % 0x100000000) & low) !== 0 || (Math.floor(value / 0x100000000) & high) !== 0;
  }
  const value = bigVarintAt(b, at);
  return ((value & 0xffffffffn & BigInt(low >>> 0)) | ((value >> 32n) & BigInt(high >>> 0))) !== 0n;
}

/** Whether the record has a mask. Needs only `headerKnown`. */
export function hasMaskAt(b: Uint8Array, start: number, end: number): boolean {
  return end > start + RECORD_FIXED_BYTES && b[start + RECORD_FIXED_BYTES] === MASK_TAG;
}

/**
 * Whether the record's path or old path is `prefix` or under it, compared
 * as UTF-8 bytes (`prefix` is encoded once, by the filter): the path-prefix
 * filter's test, with nothing decoded. Needs only `headerKnown`.
 */
export function pathUnderAt(b: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  return fieldUnder(b, start, end, PATH_TAG, prefix) || fieldUnder(b, start, end, OLD_PATH_TAG, prefix);
}

/** Whether the record's path is `prefix` or one of its ancestors: a note about a tree that holds the prefix. */
export function pathAboveAt(b: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  const at = fieldAt(b, start, end, PATH_TAG);
  if (at < 0) return false;
  const from = varintEnd(b, at);
  const length = varintAt(b, at);
  if (from + length > end || length > prefix.length) return false;
  for (let i = 0; i < length; i++) if (b[from + i] !== prefix[i]) return false;
  return length === prefix.length || (length === 1 && b[from] === SLASH) || prefix[length] === SLASH;
}

function fieldUnder(b: Uint8Array, start: number, end: number, tag: number, prefix: Uint8Array): boolean {
  const at = fieldAt(b, start, end, tag);
  if (at < 0) return false;
  const from = varintEnd(b, at);
  const length = varintAt(b, at);
  // '/' holds every path; a prefix ending in '/' is a plain prefix; any other
  // is the path itself or a path that goes on with '/'.
  const p = prefix.length;
  if (p === 1 && prefix[0] === SLASH) return true;
  if (length < p || from + length > end) return false;
  for (let i = 0; i < p; i++) if (b[from + i] !== prefix[i]) return false;
  return prefix[p - 1] === SLASH || length === p || b[from + p] === SLASH;
}
