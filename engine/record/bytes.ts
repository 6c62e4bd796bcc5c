/**
 * The record format at the byte level, for reading (records are written
 * with the journal's ByteWriter, straight into the batch being gathered).
 *
 * Reading is two steps, so that a record can be read as a view:
 *   scanRecord  checks a record's structure once, in one pass that
 *               allocates nothing: its version, kind and op, every tag in
 *               order and known to its version, every length within the
 *               record, every number in range, every string well-formed
 *               UTF-8, and the fields its kind must carry. It returns the
 *               record's presence bits (bit `tag` set for each field up
 *               to LAST_PRESENCE_TAG; the rare tags past it have none).
 *   fieldAt, valueAt
 *               find a field of a scanned record by stepping over the
 *               fields before it, and decode its value, with no further
 *               checks: the scan made them (the decoders are values.ts).
 * Anything the scan refuses is ECORRUPT: the journal's CRC already caught
 * damage, so a record that fails here is one this version cannot read.
 *
 * Layout (fields.ts): u8 version, u8 kind, u8 op, u64 LE time, then
 * (u8 tag, value) in increasing tag order.
 */
import { isUtf8 } from 'node:buffer';
import { FanlogError } from '../../errors.js';
import type { ByteWriter } from '../../journal/byte-writer.js';
import {
  ARG_FIELDS,
  ATTR_FIELDS,
  byCode,
  FIELDS,
  KIND_CODES,
  LAST_PRESENCE_TAG,
  MAX_HANDLE_BYTES,
  OP_CODES,
  OPEN_FLAGS,
  TAG,
  TAG_MAX_BY_VERSION,
  type WireType,
} from './fields.js';
import { type Fid, type FileHandle, type OpName, type RecordFields, type RecordKind, REQUIRED_FIELDS, REQUIRED_FIELDS_V1 } from './record.js';
import { argsAt, attrsAt, bigVarintAt, statAt, stepsAt, stringAt, varintAt, varintEnd } from './values.js';

/** Bytes before the first tag: version, kind, op, time. */
export const RECORD_FIXED_BYTES = 11;
export const KINDS = byCode(KIND_CODES);
export const OPS = byCode(OP_CODES);

/** A fid as two varints: ino, then generation. */
export function writeFid(w: ByteWriter, value: Fid): void {
  w.varint(value.ino);
  w.varint(value.gen);
}

export function undecodable(what: string): FanlogError {
  return new FanlogError('ECORRUPT', `record undecodable: ${what}`);
}

/** Wire types as small integers, by tag, for the switches below. */
const VARINT = 0,
  BIGVARINT = 1,
  FID = 2,
  RANGE = 3,
  STRING = 4,
  BYTES = 5,
  FLAG = 6,
  STAT = 7,
  ATTRS = 8,
  STEPS = 9,
  ARGS = 10,
  HANDLE = 11;
const WIRE_CODES: Record<WireType, number> = {
  varint: VARINT,
  bigvarint: BIGVARINT,
  fid: FID,
  range: RANGE,
  string: STRING,
  bytes: BYTES,
  flag: FLAG,
  stat: STAT,
  attrs: ATTRS,
  steps: STEPS,
  args: ARGS,
  handle: HANDLE,
};
const WIRE: number[] = [];
for (const field of FIELDS) WIRE[field.tag] = WIRE_CODES[field.type];

/** By version, then kind code: the presence bits a record must have, and the fields they stand for. */
const REQUIRED_BITS: Record<number, { bits: number; fields: readonly (keyof RecordFields)[] }[]> = {};
for (const version of Object.keys(TAG_MAX_BY_VERSION).map(Number)) {
  const required = version === 1 ? REQUIRED_FIELDS_V1 : REQUIRED_FIELDS;
  REQUIRED_BITS[version] = KINDS.map((kind) => {
    const fields = kind === undefined ? [] : required[kind];
    return { bits: fields.reduce((bits, field) => bits | (1 << TAG[field]!), 0), fields };
  });
}

/** Checks the record in `b[start, end)` (see the file's comment); returns its presence bits. */
export function scanRecord(b: Uint8Array, start: number, end: number): number {
  const version = b[start]!;
  if (start >= end) throw undecodable('ends early');
  const tagMax = TAG_MAX_BY_VERSION[version];
  if (tagMax === undefined) throw undecodable(`codec version ${version}`);
  if (KINDS[b[start + 1]!] === undefined || OPS[b[start + 2]!] === undefined) throw undecodable('unknown kind or op');
  if (end - start < RECORD_FIXED_BYTES) throw undecodable('ends early');
  let at = start + RECORD_FIXED_BYTES;
  let lastTag = 0;
  let present = 0;
  while (at < end) {
    const tag = b[at++]!;
    if (tag <= lastTag) throw undecodable(`tag ${tag} out of order`);
    if (tag > tagMax) throw undecodable(`tag ${tag} in a record of version ${version}`);
    lastTag = tag;
    if (tag <= LAST_PRESENCE_TAG) present |= 1 << tag;
    at = checkedValueEnd(b, WIRE[tag]!, at, end);
  }
  const required = REQUIRED_BITS[version]![b[start + 1]!]!;
  if ((present & required.bits) !== required.bits) {
    const missing = required.fields.find((field) => (present & (1 << TAG[field]!)) === 0);
    throw undecodable(`a ${KINDS[b[start + 1]!]} record without its ${missing}`);
  }
  return present;
}

/**
 * Whether the record's version, kind and op are known and it holds its
 * fixed bytes: what a consumer checks of a record it steps over without
 * delivering (a record it delivers is scanned whole). The journal's CRC
 * vouches for the bytes; this vouches that this version wrote them.
 */
export function headerKnown(b: Uint8Array, start: number, end: number): boolean {
  return (
    end - start >= RECORD_FIXED_BYTES && TAG_MAX_BY_VERSION[b[start]!] !== undefined && KINDS[b[start + 1]!] !== undefined && OPS[b[start + 2]!] !== undefined
  );
}

/**
 * The offset of the value of field `tag`, or -1 when it is absent. On a
 * record not scanned, it never reads past `end`, though a record this
 * version cannot read may give a wrong offset (no more than a wrong answer).
 */
export function fieldAt(b: Uint8Array, start: number, end: number, tag: number): number {
  let at = start + RECORD_FIXED_BYTES;
  while (at < end) {
    const found = b[at++]!;
    if (found === tag) return at;
    if (found > tag) return -1;
    at = wireEnd(b, WIRE[found]!, at);
  }
  return -1;
}

/** The value of field `tag` at `at` of a scanned record. */
export function valueAt(b: Uint8Array, tag: number, at: number): unknown {
  switch (WIRE[tag]) {
    case VARINT:
      return varintAt(b, at);
    case BIGVARINT:
      return bigVarintAt(b, at);
    case FID:
      return { ino: varintAt(b, at), gen: varintAt(b, varintEnd(b, at)) };
    case RANGE:
      return { offset: varintAt(b, at), count: varintAt(b, varintEnd(b, at)) };
    case STRING:
      return stringAt(b, at);
    case BYTES:
      return b.slice(varintEnd(b, at), wireEnd(b, BYTES, at));
    case FLAG:
      return true;
    case STAT:
      return statAt(b, at);
    case ATTRS:
      return attrsAt(b, at);
    case STEPS:
      return stepsAt(b, at);
    case HANDLE:
      return handleAt(b, at);
    default:
      return argsAt(b, at);
  }
}

/** A handle's type (the kernel's s32) and a copy of its bytes. */
function handleAt(b: Uint8Array, at: number): FileHandle {
  const from = varintEnd(b, varintEnd(b, at));
  return { type: varintAt(b, at) | 0, bytes: b.slice(from, from + varintAt(b, varintEnd(b, at))) };
}

/** A handle as its wire type: type, length, bytes. */
export function writeHandle(w: ByteWriter, value: FileHandle): void {
  w.varint(value.type >>> 0);
  w.bytes(value.bytes);
}

/** Where the value of field `tag` starting at `at` ends, in a scanned record. */
export function valueEnd(b: Uint8Array, tag: number, at: number): number {
  return wireEnd(b, WIRE[tag]!, at);
}

function wireEnd(b: Uint8Array, wire: number, at: number): number {
  switch (wire) {
    case VARINT:
    case BIGVARINT:
      return varintEnd(b, at);
    case FID:
    case RANGE:
      return varintEnd(b, varintEnd(b, at));
    case STRING:
    case BYTES:
      return varintEnd(b, at) + varintAt(b, at);
    case FLAG:
      return at;
    case STAT: {
      for (let i = 0; i < 6; i++) at = varintEnd(b, at);
      return at + 24;
    }
    case HANDLE: {
      const length = varintEnd(b, at);
      return varintEnd(b, length) + varintAt(b, length);
    }
    default:
      return checkedValueEnd(b, wire, at, b.length);
  }
}

/** As valueEnd, checking everything against `end` (scanRecord). */
function checkedValueEnd(b: Uint8Array, wire: number, at: number, end: number): number {
  switch (wire) {
    case VARINT:
      return checkedVarintEnd(b, at, end, 8);
    case BIGVARINT:
      return checkedVarintEnd(b, at, end, 10);
    case FID:
    case RANGE:
      return checkedVarintEnd(b, checkedVarintEnd(b, at, end, 8), end, 8);
    case STRING:
    case BYTES: {
      const from = checkedVarintEnd(b, at, end, 8);
      const to = from + varintAt(b, at);
      if (to > end) throw undecodable('length beyond the record');
      if (wire === STRING && !wellFormed(b, from, to)) throw undecodable('bad UTF-8');
      return to;
    }
    case FLAG:
      return at;
    case STAT: {
      for (let i = 0; i < 6; i++) at = checkedVarintEnd(b, at, end, 8);
      if (at + 24 > end) throw undecodable('ends early');
      return at + 24;
    }
    case ATTRS:
      return checkedAttrsEnd(b, at, end);
    case STEPS:
      return checkedStepsEnd(b, at, end);
    case HANDLE:
      return checkedHandleEnd(b, at, end);
    default:
      return checkedArgsEnd(b, at, end);
  }
}

function checkedHandleEnd(b: Uint8Array, at: number, end: number): number {
  const lengthAt = checkedVarintEnd(b, at, end, 8);
  if (varintAt(b, at) > 0xffffffff) throw undecodable('a handle type past 32 bits');
  const from = checkedVarintEnd(b, lengthAt, end, 8);
  const length = varintAt(b, lengthAt);
  if (length === 0 || length > MAX_HANDLE_BYTES) throw undecodable(`a file handle of ${length} bytes`);
  if (from + length > end) throw undecodable('length beyond the record');
  return from + length;
}

function checkedAttrsEnd(b: Uint8Array, at: number, end: number): number {
  if (at >= end) throw undecodable('ends early');
  const presence = b[at++]!;
  if (presence >= 1 << ATTR_FIELDS.length) throw undecodable(`attribute presence ${presence}`);
  for (let bit = 0; bit < ATTR_FIELDS.length; bit++) {
    if ((presence & (1 << bit)) === 0) continue;
    const field = ATTR_FIELDS[bit];
    if (field === 'atime' || field === 'mtime') {
      if (at + 8 > end) throw undecodable('ends early');
      at += 8;
    } else at = checkedVarintEnd(b, at, end, 8);
  }
  return at;
}

function checkedStepsEnd(b: Uint8Array, at: number, end: number): number {
  const count = varintAt(b, at);
  at = checkedVarintEnd(b, at, end, 8);
  for (let i = 0; i < count; i++) {
    at = checkedVarintEnd(b, at, end, 10);
    if (at >= end) throw undecodable('ends early');
    const hasRange = b[at++]!;
    if (hasRange > 1) throw undecodable(`step range flag ${hasRange}`);
    if (hasRange === 1) at = checkedVarintEnd(b, checkedVarintEnd(b, at, end, 8), end, 8);
  }
  return at;
}

function checkedArgsEnd(b: Uint8Array, at: number, end: number): number {
  if (at >= end) throw undecodable('ends early');
  const presence = b[at++]!;
  if (presence >= 1 << ARG_FIELDS.length) throw undecodable(`argument presence ${presence}`);
  for (let bit = 0; bit < ARG_FIELDS.length; bit++) {
    if ((presence & (1 << bit)) === 0) continue;
    const next = checkedVarintEnd(b, at, end, 8);
    const value = varintAt(b, at);
    const field = ARG_FIELDS[bit];
    if (field === 'flags' && OPEN_FLAGS[value] === undefined) throw undecodable('open flags');
    if ((field === 'exec' || field === 'truncate' || field === 'write') && value > 1) throw undecodable(`boolean argument ${value}`);
    at = next;
  }
  return at;
}

/** Where a varint of at most `maxBytes` bytes starting at `at` ends; a plain varint must also be a safe integer. */
function checkedVarintEnd(b: Uint8Array, at: number, end: number, maxBytes: number): number {
  for (let i = 0; i < maxBytes; i++) {
    if (at + i >= end) throw undecodable('ends early');
    if ((b[at + i]! & 0x80) === 0) {
      if (maxBytes === 8 && varintAt(b, at) > Number.MAX_SAFE_INTEGER) throw undecodable('number too large');
      return at + i + 1;
    }
  }
  throw undecodable(maxBytes === 8 ? 'number too large' : 'varint too long');
}

/** Well-formed UTF-8: ASCII checked byte by byte, anything else by the runtime. */
function wellFormed(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i]! >= 0x80) return isUtf8(b.subarray(from, to));
  return true;
}

/** The kind and op of a scanned record. */
export function kindAt(b: Uint8Array, start: number): RecordKind {
  return KINDS[b[start + 1]!]!;
}

export function opAt(b: Uint8Array, start: number): OpName {
  return OPS[b[start + 2]!]!;
}
