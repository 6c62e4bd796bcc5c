/**
 * What the record codec can hold, as a check that runs before a record's
 * change is applied. The writer (journal/byte-writer.ts) throws a
 * RangeError on a varint it cannot hold, writes a fraction's low bits, and
 * keeps a u64's low 64 bits without a word: a record must be checked before
 * the operation it journals changes the state, never found out when it is
 * encoded, after.
 *
 *   wire type  holds
 *   varint     an integer from 0 to 2^53 - 1 (Number.MAX_SAFE_INTEGER):
 *              sizes, offsets, counts, ids, modes, a fid's ino and gen
 *   bigvarint  a bigint from 0 to 2^64 - 1: masks, seqs
 *   u64        a bigint from 0 to 2^64 - 1: times in ns (a record's time,
 *              and atime, mtime, ctime in stat and attrs)
 *   string     a string with no lone surrogate (UTF-8 would replace it)
 *   bytes      a Uint8Array
 *   flag       a boolean
 *   steps, args, stat, attrs, fid, range: their parts, each as above
 *   handle     a type from -2^31 to 2^31 - 1, and 1 to MAX_HANDLE_BYTES
 *              bytes
 *
 * `unencodable(record)` names the first field that breaks this, or gives
 * null. Entry points refuse what a caller hands in with their own codes
 * (EINVAL, EFBIG: engine/fs/limits.ts); the engine asserts it of every op
 * record before applying it (engine.ts `commit`, through `opFault`, the
 * same check unrolled: 20 ns where the table's walk takes 300), and
 * `encodeRecord`, a public function, refuses a record failing it (EINVAL).
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../../errors.js';
import { FIELDS, MAX_HANDLE_BYTES, OPEN_FLAGS, type WireType } from './fields.js';
import type { Fid, OpRecord } from './record.js';

const U64_MAX = 2n ** 64n - 1n;

/** Every field's wire type, by each of its names (a decision's `requestSeq`, a note's `reason` too). */
const WIRE_BY_NAME = new Map<string, WireType>();
for (const field of FIELDS) {
  WIRE_BY_NAME.set(field.name, field.type);
  for (const name of Object.values(field.byKind ?? {})) WIRE_BY_NAME.set(name, field.type);
}

const isCount = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
const isU64 = (value: unknown): boolean => typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
const show = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' && value !== null ? 'an object' : String(value);

/** The first of `parts` of `value` (an object) that fails `holds`, as `.part value`; null when all hold. */
function partsFault(value: unknown, parts: readonly string[], holds: (part: unknown) => boolean, optional = false): string | null {
  if (typeof value !== 'object' || value === null) return ` ${show(value)}`;
  const object = value as Record<string, unknown>;
  for (const part of parts) {
    const got = object[part];
    if (optional && got === undefined) continue;
    if (!holds(got)) return `.${part} ${show(got)}`;
  }
  return null;
}

const STAT_COUNTS = ['ino', 'mode', 'uid', 'gid', 'size', 'nlink'] as const;
const TIMES = ['atime', 'mtime', 'ctime'] as const;

/** Why `value` is not a value of `wire`, as a suffix to the field's name (` 2.5`, `.offset 1e+30`); null when it is. */
function wireFault(wire: WireType, value: unknown): string | null {
  switch (wire) {
    case 'varint':
      return isCount(value) ? null : ` ${show(value)}`;
    case 'bigvarint':
      return isU64(value) ? null : ` ${show(value)}`;
    case 'fid':
      return partsFault(value, ['ino', 'gen'], isCount);
    case 'range':
      return partsFault(value, ['offset', 'count'], isCount);
    case 'string':
      return typeof value === 'string' && value.isWellFormed() ? null : ` ${typeof value === 'string' ? 'with a lone surrogate' : show(value)}`;
    case 'bytes':
      return value instanceof Uint8Array ? null : ` ${show(value)}`;
    case 'flag':
      return typeof value === 'boolean' ? null : ` ${show(value)}`;
    case 'stat':
      return partsFault(value, STAT_COUNTS, isCount) ?? partsFault(value, TIMES, isU64);
    case 'attrs':
      return partsFault(value, ['mode', 'uid', 'gid', 'size'], isCount, true) ?? partsFault(value, ['atime', 'mtime'], isU64, true);
    case 'steps':
      return stepsFault(value);
    case 'args':
      return argsFault(value);
    case 'handle':
      return handleFault(value);
  }
}

/** A handle's type is the kernel's s32, its bytes 1 to MAX_HANDLE_BYTES of them. */
function handleFault(value: unknown): string | null {
  const type = partsFault(value, ['type'], (part) => Number.isInteger(part) && (part as number) >= -(2 ** 31) && (part as number) < 2 ** 31);
  if (type !== null) return type;
  const bytes = (value as { bytes?: unknown }).bytes;
  if (!(bytes instanceof Uint8Array)) return `.bytes ${show(bytes)}`;
  return bytes.length >= 1 && bytes.length <= MAX_HANDLE_BYTES ? null : `.bytes of ${bytes.length} bytes (1 to ${MAX_HANDLE_BYTES})`;
}

function stepsFault(value: unknown): string | null {
  if (!Array.isArray(value)) return ` ${show(value)}`;
  for (let i = 0; i < value.length; i++) {
    const step = value[i] as { mask?: unknown; range?: unknown } | null;
    if (typeof step !== 'object' || step === null || !isU64(step.mask)) return `[${i}].mask ${show(step?.mask)}`;
    if (step.range === undefined) continue;
    const fault = partsFault(step.range, ['offset', 'count'], isCount);
    if (fault !== null) return `[${i}].range${fault}`;
  }
  return null;
}

function argsFault(value: unknown): string | null {
  return (
    partsFault(value, ['flags'], (flags) => (OPEN_FLAGS as readonly unknown[]).includes(flags), true) ??
    partsFault(value, ['exec', 'truncate', 'write'], (flag) => typeof flag === 'boolean', true) ??
    partsFault(value, ['offset', 'length', 'size'], isCount, true)
  );
}

/**
 * The first field of `record` the codec cannot hold, as `name value`
 * (`attrs.size 1152921504606846976`), or null when it can hold them all.
 * Fields it does not know are not its concern: the encoder ignores them.
 */
export function unencodable(record: object): string | null {
  const fields = record as Record<string, unknown>;
  if (!isU64(fields.time)) return `time ${show(fields.time)}`;
  for (const name in fields) {
    const value = fields[name];
    const wire = WIRE_BY_NAME.get(name);
    if (value === undefined || wire === undefined) continue;
    const fault = wireFault(wire, value);
    if (fault !== null) return `${name}${fault}`;
  }
  return null;
}

const count = (value: number | undefined): boolean => value === undefined || (Number.isSafeInteger(value) && value >= 0);
const u64 = (value: bigint | undefined): boolean => value === undefined || (typeof value === 'bigint' && value >= 0n && value <= U64_MAX);
const text = (value: string | undefined): boolean => value === undefined || (typeof value === 'string' && value.isWellFormed());
const fid = (value: Fid | undefined): boolean => value === undefined || (count(value.ino) && count(value.gen));

/**
 * `unencodable` of an op record, unrolled over the fields an op record
 * carries (OP_RECORD_FIELDS) for commit, which runs it on every operation;
 * it names the field only, and a test holds it to `unencodable` field by
 * field.
 */
export function opFault(op: OpRecord): string | null {
  if (!u64(op.time)) return 'time';
  if (!fid(op.fid)) return 'fid';
  if (!fid(op.parentFid)) return 'parentFid';
  if (!fid(op.oldParentFid)) return 'oldParentFid';
  if (!text(op.name)) return 'name';
  if (!text(op.oldName)) return 'oldName';
  if (!text(op.oldPath)) return 'oldPath';
  if (!text(op.xattr)) return 'xattr';
  if (!text(op.target)) return 'target';
  const { range, attrs } = op;
  if (range !== undefined && !(count(range.offset) && count(range.count))) return 'range';
  if (attrs !== undefined && !(count(attrs.mode) && count(attrs.uid) && count(attrs.gid) && count(attrs.size) && u64(attrs.atime) && u64(attrs.mtime)))
    return 'attrs';
  if (op.value !== undefined && !(op.value instanceof Uint8Array)) return 'value';
  if (op.offline !== undefined && typeof op.offline !== 'boolean') return 'offline';
  if (op.orphan !== undefined && typeof op.orphan !== 'boolean') return 'orphan';
  if (!(count(op.pid) && count(op.tid) && count(op.uid) && count(op.gid))) return 'pid, tid, uid or gid';
  if (!u64(op.operationSeq)) return 'operationSeq';
  return null;
}

/** The fields an op record may carry (OpRecord), which opFault checks. */
export const OP_RECORD_FIELDS = [
  'fid',
  'parentFid',
  'oldParentFid',
  'name',
  'oldName',
  'oldPath',
  'xattr',
  'target',
  'range',
  'attrs',
  'value',
  'offline',
  'orphan',
  'pid',
  'tid',
  'uid',
  'gid',
  'operationSeq',
] as const satisfies readonly (keyof OpRecord)[];
/** The compiler's proof that the list is whole: a field added to OpRecord and not to it names itself here. */
type Unchecked = Exclude<Exclude<keyof OpRecord, 'kind' | 'op' | 'time'>, (typeof OP_RECORD_FIELDS)[number]>;
const opRecordFieldsWhole: [Unchecked] extends [never] ? true : Unchecked = true;
void opRecordFieldsWhole;

/**
 * What an append that assigned no seq (its encoding threw: the journal
 * appends nothing then) rejects with, taken so that it never rejects
 * unhandled: a FanlogError as it is, anything else (the writer's RangeError
 * on a value the checks should have refused) as the bug it is.
 */
export async function refusal(appended: Promise<bigint>): Promise<Error> {
  const error = await appended.then(
    () => assert.fail('an append that assigned no seq resolved'),
    (thrown: unknown) => thrown,
  );
  if (error instanceof FanlogError || error instanceof assert.AssertionError) return error;
  return new assert.AssertionError({ message: `a record its checks let through could not be encoded: ${String(error)}` });
}
