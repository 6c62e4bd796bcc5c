/**
 * The record codec: EngineRecord <-> bytes, compact and versioned. The
 * format is the table in fields.ts (codes, tags, wire types); this file is
 * that table hand-unrolled, and test/engine/codec-table.test.ts holds the
 * two together field by field.
 *
 * Decoding checks every length against the bytes left and rejects unknown
 * versions, kinds, ops and tags, tags out of order, and trailing bytes,
 * with ECORRUPT: the journal's CRC already caught damage, so a failure here
 * means a record this version cannot read. Encoding asserts what it is
 * given (well-formed strings, safe integers): a bad record is a bug. The
 * engine checks a record before it applies its change (encodable.ts), and
 * `encodeRecord`, public, refuses one the format cannot hold with EINVAL.
 */
import assert from 'node:assert/strict';
import type { Attrs, EngineRecord, IntentArgs, IntentStep, RecordView, Stat } from './record.js';
import { ByteWriter } from '../../journal/byte-writer.js';
import { invalid } from '../../errors.js';
import { unencodable } from './encodable.js';
import { kindAt, opAt, RECORD_FIXED_BYTES, scanRecord, valueAt, valueEnd, writeFid, writeHandle } from './bytes.js';
import { u64At } from './values.js';
import { ARG_FIELDS, ATTR_FIELDS, CODEC_VERSION, fieldName, KIND_CODES, LEGACY_KINDS, LEGACY_OPS, OP_CODES, OPEN_FLAGS, TAG } from './fields.js';

export { CODEC_VERSION };

/** Encoding scratch for encodeRecord: it runs to completion synchronously, so no two encodings share it. */
const scratch = new ByteWriter();
const GID_TAG = TAG.gid!;

/** The record's bytes, in a buffer of their own; EINVAL naming the first value the codec cannot hold (encodable.ts). */
export function encodeRecord(record: EngineRecord): Uint8Array {
  if (typeof record !== 'object' || record === null) throw invalid('a record must be an object');
  const fault = unencodable(record);
  if (fault !== null) throw invalid(`a ${record.kind} record with ${fault}, which the record format cannot hold`);
  scratch.truncate(0);
  encodeRecordInto(scratch, record);
  return scratch.copy();
}

/** Appends the record's bytes to `w`: how the engine encodes straight into a journal entry. */
export function encodeRecordInto(w: ByteWriter, record: EngineRecord): void {
  w.byte(CODEC_VERSION);
  const kind = KIND_CODES[record.kind];
  const op = OP_CODES[record.op];
  // Messages are built only on failure: this runs for every record written.
  if (kind === undefined || op === undefined) assert.fail(`a record of kind ${record.kind} and op ${record.op}`);
  if (LEGACY_KINDS.includes(record.kind) || LEGACY_OPS.includes(record.op)) assert.fail(`kind ${record.kind} and op ${record.op} are read, never written`);
  w.byte(kind);
  w.byte(op);
  w.u64(record.time);
  if (record.mask !== undefined) tag(w, 1).bigVarint(record.mask);
  if (record.fid !== undefined) writeFid(tag(w, 2), record.fid);
  if (record.parentFid !== undefined) writeFid(tag(w, 3), record.parentFid);
  if (record.name !== undefined) tag(w, 4).string(record.name);
  if (record.oldParentFid !== undefined) writeFid(tag(w, 5), record.oldParentFid);
  if (record.oldName !== undefined) tag(w, 6).string(record.oldName);
  if (record.path !== undefined) tag(w, 7).string(record.path);
  if (record.oldPath !== undefined) tag(w, 8).string(record.oldPath);
  if (record.range !== undefined) {
    tag(w, 9).varint(record.range.offset);
    w.varint(record.range.count);
  }
  if (record.stat !== undefined) writeStat(tag(w, 10), record.stat);
  if (record.attrs !== undefined) writeAttrs(tag(w, 11), record.attrs);
  if (record.xattr !== undefined) tag(w, 12).string(record.xattr);
  if (record.value !== undefined) tag(w, 13).bytes(record.value);
  // Tag 14 is a symlink's target, or in a request its kernel event (fields.ts).
  const tag14 = record.kind === 'request' ? record.kernelEvent : record.target;
  if (tag14 !== undefined) tag(w, 14).string(tag14);
  if (record.offline === true) w.byte(15);
  if (record.pid !== undefined) tag(w, 16).varint(record.pid);
  if (record.tid !== undefined) tag(w, 17).varint(record.tid);
  if (record.uid !== undefined) tag(w, 18).varint(record.uid);
  // Tags 19 and 20 are named by kind (fields.ts): never both names.
  const tag19 = record.kind === 'event' ? record.source : record.group;
  const tag20 = record.kind === 'note' ? record.reason : record.config;
  if (tag19 !== undefined) tag(w, 19).string(tag19);
  if (tag20 !== undefined) tag(w, 20).string(tag20);
  // Tag 21 is the operation's seq, or in a decision the request's: never both.
  const seq21 = record.kind === 'decision' ? record.requestSeq : record.operationSeq;
  if ((record.kind === 'decision' ? record.operationSeq : record.requestSeq) !== undefined)
    assert.fail(`a ${record.kind} record with the wrong one of operationSeq and requestSeq`);
  if (seq21 !== undefined) tag(w, 21).bigVarint(seq21);
  if (record.response !== undefined) tag(w, 22).varint(record.response);
  if (record.timeout === true) w.byte(23);
  if (record.intent !== undefined) assert.fail('the JSON intent of format 1 is read, never written');
  if (record.consumer !== undefined) tag(w, 25).string(record.consumer);
  if (record.fromSeq !== undefined) tag(w, 26).bigVarint(record.fromSeq);
  if (record.toSeq !== undefined) tag(w, 27).bigVarint(record.toSeq);
  if (record.orphan === true) w.byte(28);
  if (record.step !== undefined) tag(w, 29).varint(record.step);
  if (record.steps !== undefined) writeSteps(tag(w, 30), record.steps);
  if (record.args !== undefined) writeArgs(tag(w, 31), record.args);
  if (record.gid !== undefined) tag(w, 32).varint(record.gid);
  if (record.handle !== undefined) writeHandle(tag(w, 33), record.handle);
  if (record.parentHandle !== undefined) writeHandle(tag(w, 34), record.parentHandle);
  if (record.oldParentHandle !== undefined) writeHandle(tag(w, 35), record.oldParentHandle);
}

/**
 * Writes a field's tag byte and hands back the writer, so that each field of
 * encodeRecordInto is one line. A plain function of the writer, not a closure
 * over it: nothing is allocated per record on this path.
 */
function tag(w: ByteWriter, code: number): ByteWriter {
  w.byte(code);
  return w;
}

/** Every event carries one: written field by field, with no array per record. */
function writeStat(w: ByteWriter, s: Stat): void {
  w.varint(s.ino);
  w.varint(s.mode);
  w.varint(s.uid);
  w.varint(s.gid);
  w.varint(s.size);
  w.varint(s.nlink);
  w.u64(s.atime);
  w.u64(s.mtime);
  w.u64(s.ctime);
}

/** The presence byte of `attrs` and `args`: bit i set when `fields[i]` is present. */
function presenceOf<F extends string>(value: Partial<Record<F, unknown>>, fields: readonly F[]): number {
  let presence = 0;
  for (let bit = 0; bit < fields.length; bit++) if (value[fields[bit]!] !== undefined) presence |= 1 << bit;
  return presence;
}

function writeAttrs(w: ByteWriter, attrs: Attrs): void {
  w.byte(presenceOf(attrs, ATTR_FIELDS));
  for (const field of ATTR_FIELDS) {
    const value = attrs[field];
    if (typeof value === 'bigint') w.u64(value);
    else if (value !== undefined) w.varint(value);
  }
}

function writeSteps(w: ByteWriter, steps: readonly IntentStep[]): void {
  w.varint(steps.length);
  for (const step of steps) {
    w.bigVarint(step.mask);
    if (step.range === undefined) w.byte(0);
    else {
      w.byte(1);
      w.varint(step.range.offset);
      w.varint(step.range.count);
    }
  }
}

function writeArgs(w: ByteWriter, args: IntentArgs): void {
  w.byte(presenceOf(args, ARG_FIELDS));
  for (const field of ARG_FIELDS) {
    const value = args[field];
    if (value === undefined) continue;
    if (typeof value === 'boolean') w.varint(value ? 1 : 0);
    else if (typeof value === 'number') w.varint(value);
    else w.varint(OPEN_FLAGS.indexOf(value));
  }
}

/** The record, decoded whole into a plain object: every field, in tag order (the fields of a record view, and its internal ones). */
export function decodeRecord(bytes: Uint8Array): EngineRecord {
  return decodeRecordAt(bytes, 0, bytes.length);
}

/** decodeRecord of the record in `b[start, end)`. */
export function decodeRecordAt(b: Uint8Array, start: number, end: number): EngineRecord {
  return decodeScanned(b, start, end, scanRecord(b, start, end));
}

/** decodeRecordAt of the record in `b[start, end)`, already checked by scanRecord, which returned `present`. */
export function decodeScanned(b: Uint8Array, start: number, end: number, present: number): EngineRecord {
  const kind = kindAt(b, start);
  const record: RecordView = { kind, op: opAt(b, start), time: u64At(b, start + 3) };
  const fields = record as unknown as Record<string, unknown>;
  let at = start + RECORD_FIXED_BYTES;
  // Shift counts wrap at 32: the loop stops at tag 31; tag 32 (gid) has bit 0 and comes last.
  for (let tag = 1; tag <= 31 && present >>> tag !== 0; tag++) {
    if ((present & (1 << tag)) === 0) continue;
    at++; // the tag
    fields[fieldName(tag, kind)] = valueAt(b, tag, at);
    at = valueEnd(b, tag, at);
  }
  if ((present & 1) !== 0) {
    fields.gid = valueAt(b, GID_TAG, at + 1);
    at = valueEnd(b, GID_TAG, at + 1);
  }
  // Tags past 32 have no presence bit (fields.ts LAST_PRESENCE_TAG): whatever is left.
  while (at < end) {
    const tag = b[at++]!;
    fields[fieldName(tag, kind)] = valueAt(b, tag, at);
    at = valueEnd(b, tag, at);
  }
  return record as EngineRecord;
}
