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
 * given (well-formed strings, safe integers): a bad record is a bug.
 */
import assert from 'node:assert/strict';
import { type Attrs, type IntentArgs, type IntentStep, type RecordView, type EngineRecord, type Fid, type OpName, type RecordKind, REQUIRED_FIELDS, REQUIRED_FIELDS_V1, type Stat } from './record.js';
import { ByteWriter } from '../../journal/byte-writer.js';
import { Reader, undecodable, writeFid } from './bytes.js';
import { ARG_FIELDS, ATTR_FIELDS, byCode, CODEC_VERSION, HEADER_TAG_MAX, KIND_CODES, LEGACY_KINDS, LEGACY_OPS, OP_CODES, OPEN_FLAGS, TAG_MAX_BY_VERSION } from './fields.js';

export { CODEC_VERSION };
const KINDS = byCode(KIND_CODES);
const OPS = byCode(OP_CODES);

/** Encoding scratch for encodeRecord: it runs to completion synchronously, so no two encodings share it. */
const scratch = new ByteWriter();

/** The record's bytes, in a buffer of their own. */
export function encodeRecord(record: EngineRecord): Uint8Array {
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
  if (record.mask !== undefined) (w.byte(1), w.bigVarint(record.mask));
  if (record.fid !== undefined) (w.byte(2), writeFid(w, record.fid));
  if (record.parentFid !== undefined) (w.byte(3), writeFid(w, record.parentFid));
  if (record.name !== undefined) (w.byte(4), w.string(record.name));
  if (record.oldParentFid !== undefined) (w.byte(5), writeFid(w, record.oldParentFid));
  if (record.oldName !== undefined) (w.byte(6), w.string(record.oldName));
  if (record.path !== undefined) (w.byte(7), w.string(record.path));
  if (record.oldPath !== undefined) (w.byte(8), w.string(record.oldPath));
  if (record.range !== undefined) (w.byte(9), w.varint(record.range.offset), w.varint(record.range.count));
  if (record.stat !== undefined) (w.byte(10), writeStat(w, record.stat));
  if (record.attrs !== undefined) (w.byte(11), writeAttrs(w, record.attrs));
  if (record.xattr !== undefined) (w.byte(12), w.string(record.xattr));
  if (record.value !== undefined) (w.byte(13), w.bytes(record.value));
  if (record.target !== undefined) (w.byte(14), w.string(record.target));
  if (record.offline === true) w.byte(15);
  if (record.pid !== undefined) (w.byte(16), w.varint(record.pid));
  if (record.tid !== undefined) (w.byte(17), w.varint(record.tid));
  if (record.uid !== undefined) (w.byte(18), w.varint(record.uid));
  if (record.group !== undefined) (w.byte(19), w.string(record.group));
  if (record.config !== undefined) (w.byte(20), w.string(record.config));
  // Tag 21 is the operation's seq, or in a decision the request's: never both.
  const seq21 = record.kind === 'decision' ? record.requestSeq : record.operationSeq;
  if ((record.kind === 'decision' ? record.operationSeq : record.requestSeq) !== undefined) assert.fail(`a ${record.kind} record with the wrong one of operationSeq and requestSeq`);
  if (seq21 !== undefined) (w.byte(21), w.bigVarint(seq21));
  if (record.response !== undefined) (w.byte(22), w.varint(record.response));
  if (record.timeout === true) w.byte(23);
  if (record.intent !== undefined) assert.fail('the JSON intent of format 1 is read, never written');
  if (record.consumer !== undefined) (w.byte(25), w.string(record.consumer));
  if (record.fromSeq !== undefined) (w.byte(26), w.bigVarint(record.fromSeq));
  if (record.toSeq !== undefined) (w.byte(27), w.bigVarint(record.toSeq));
  if (record.orphan === true) w.byte(28);
  if (record.step !== undefined) (w.byte(29), w.varint(record.step));
  if (record.steps !== undefined) (w.byte(30), writeSteps(w, record.steps));
  if (record.args !== undefined) (w.byte(31), writeArgs(w, record.args));
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
    else (w.byte(1), w.varint(step.range.offset), w.varint(step.range.count));
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

function readStat(r: Reader): Stat {
  return {
    ino: r.varint(), mode: r.varint(), uid: r.varint(), gid: r.varint(), size: r.varint(), nlink: r.varint(),
    atime: r.u64(), mtime: r.u64(), ctime: r.u64(),
  };
}

function readAttrs(r: Reader): Attrs {
  const presence = r.byte();
  const attrs: Attrs = {};
  ATTR_FIELDS.forEach((field, bit) => {
    if ((presence & (1 << bit)) === 0) return;
    if (field === 'atime' || field === 'mtime') attrs[field] = r.u64();
    else attrs[field] = r.varint();
  });
  return attrs;
}

function readSteps(r: Reader): IntentStep[] {
  const count = r.varint();
  const steps: IntentStep[] = [];
  for (let i = 0; i < count; i++) {
    const mask = r.bigVarint();
    const hasRange = r.byte();
    if (hasRange > 1) throw undecodable(`step range flag ${hasRange}`);
    steps.push(hasRange === 1 ? { mask, range: { offset: r.varint(), count: r.varint() } } : { mask });
  }
  return steps;
}

function readArgs(r: Reader): IntentArgs {
  const presence = r.byte();
  if (presence >= 1 << ARG_FIELDS.length) throw undecodable(`argument presence ${presence}`);
  const args: IntentArgs = {};
  const flag = (): boolean => {
    const value = r.varint();
    if (value > 1) throw undecodable(`boolean argument ${value}`);
    return value === 1;
  };
  ARG_FIELDS.forEach((field, bit) => {
    if ((presence & (1 << bit)) === 0) return;
    if (field === 'flags') {
      const flags = OPEN_FLAGS[r.varint()];
      if (flags === undefined) throw undecodable('open flags');
      args.flags = flags;
    } else if (field === 'exec' || field === 'truncate' || field === 'write') args[field] = flag();
    else args[field] = r.varint();
  });
  return args;
}

export function decodeRecord(bytes: Uint8Array): EngineRecord {
  const r = new Reader(bytes);
  const version = r.byte();
  const tagMax = TAG_MAX_BY_VERSION[version];
  if (tagMax === undefined) throw undecodable(`codec version ${version}`);
  const kind = KINDS[r.byte()];
  const op: OpName | undefined = OPS[r.byte()];
  if (kind === undefined || op === undefined) throw undecodable('unknown kind or op');
  // Built field by field, then checked for what its kind must carry.
  const record: RecordView = { kind, op, time: r.u64() };
  let lastTag = 0;
  while (!r.done) {
    const tag = r.byte();
    if (tag <= lastTag) throw undecodable(`tag ${tag} out of order`);
    if (tag > tagMax) throw undecodable(`tag ${tag} in a record of version ${version}`);
    lastTag = tag;
    switch (tag) {
      case 1: record.mask = r.bigVarint(); break;
      case 2: record.fid = r.fid(); break;
      case 3: record.parentFid = r.fid(); break;
      case 4: record.name = r.string(); break;
      case 5: record.oldParentFid = r.fid(); break;
      case 6: record.oldName = r.string(); break;
      case 7: record.path = r.string(); break;
      case 8: record.oldPath = r.string(); break;
      case 9: record.range = { offset: r.varint(), count: r.varint() }; break;
      case 10: record.stat = readStat(r); break;
      case 11: record.attrs = readAttrs(r); break;
      case 12: record.xattr = r.string(); break;
      case 13: record.value = r.raw(); break;
      case 14: record.target = r.string(); break;
      case 15: record.offline = true; break;
      case 16: record.pid = r.varint(); break;
      case 17: record.tid = r.varint(); break;
      case 18: record.uid = r.varint(); break;
      case 19: record.group = r.string(); break;
      case 20: record.config = r.string(); break;
      case 21:
        if (kind === 'decision') record.requestSeq = r.bigVarint();
        else record.operationSeq = r.bigVarint();
        break;
      case 22: record.response = r.varint(); break;
      case 23: record.timeout = true; break;
      case 24: record.intent = r.string(); break;
      case 25: record.consumer = r.string(); break;
      case 26: record.fromSeq = r.bigVarint(); break;
      case 27: record.toSeq = r.bigVarint(); break;
      case 28: record.orphan = true; break;
      case 29: record.step = r.varint(); break;
      case 30: record.steps = readSteps(r); break;
      case 31: record.args = readArgs(r); break;
      default: throw undecodable(`unknown tag ${tag}`);
    }
  }
  for (const field of (version === 1 ? REQUIRED_FIELDS_V1 : REQUIRED_FIELDS)[kind]) if (record[field] === undefined) throw undecodable(`a ${kind} record without its ${field}`);
  return record as EngineRecord;
}

/** The fields a fastpath filter sees, decoded without the rest of the record. */
export interface RecordHeader {
  kind: RecordKind;
  op: OpName;
  mask?: bigint;
  fid?: Fid;
  path?: string;
  oldPath?: string;
}

/**
 * Decodes only the header fields (kind, op, mask, fid, path, old path): the
 * tags come in increasing order, so it stops at the first tag past old path.
 * Cheap enough to run on every record a consumer scans.
 */
export function decodeHeader(bytes: Uint8Array): RecordHeader {
  const r = new Reader(bytes);
  if (TAG_MAX_BY_VERSION[r.byte()] === undefined) throw undecodable('codec version');
  const kind = KINDS[r.byte()];
  const op: OpName | undefined = OPS[r.byte()];
  if (kind === undefined || op === undefined) throw undecodable('unknown kind or op');
  r.skip(8); // time
  const header: RecordHeader = { kind, op };
  while (!r.done) {
    const tag = r.byte();
    if (tag > HEADER_TAG_MAX) break;
    switch (tag) {
      case 1: header.mask = r.bigVarint(); break;
      case 2: header.fid = r.fid(); break;
      case 3: case 5: r.varint(); r.varint(); break;
      case 4: case 6: r.skipString(); break;
      case 7: header.path = r.string(); break;
      case 8: header.oldPath = r.string(); break;
      default: throw undecodable(`unknown tag ${tag}`);
    }
  }
  return header;
}
