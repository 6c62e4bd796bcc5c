/**
 * The record codec: EngineRecord <-> bytes, compact and versioned.
 *
 * Layout: one byte of codec version (1), one byte of kind, one byte of op,
 * the time as 8 bytes little-endian, then optional fields as tag-value pairs
 * in increasing tag order, each tag one byte:
 *
 *   tag  field         value
 *   1    mask          varint (64-bit)
 *   2    fid           varint ino, varint gen
 *   3    parentFid     varint ino, varint gen
 *   4    name          string
 *   5    oldParentFid  varint ino, varint gen
 *   6    oldName       string
 *   7    path          string
 *   8    oldPath       string
 *   9    range         varint offset, varint count
 *   10   stat          varints ino mode uid gid size nlink, then atime mtime ctime (u64 ns)
 *   11   attrs         presence byte (mode uid gid size atime mtime = bits 0..5), then those
 *                      present: varints, but atime and mtime as u64 ns
 *   12   xattr         string
 *   13   value         varint length, bytes
 *   14   target        string
 *   15   offline       (no value: present means true)
 *   16   pid           varint
 *   17   tid           varint
 *   18   uid           varint
 *   19   group         string
 *   20   config        string (JSON)
 *   21   requestSeq    varint (64-bit)
 *   22   response      varint
 *   23   timeout       (no value: present means true)
 *   24   intent        string (JSON)
 *   25   consumer      string
 *   26   fromSeq       varint (64-bit)
 *   27   toSeq         varint (64-bit)
 *   28   orphan        (no value: present means true)
 *
 * Strings are a varint byte length then UTF-8. Varints are unsigned LEB128.
 * Decoding checks every length against the bytes left and rejects unknown
 * versions, kinds, ops and tags, and trailing bytes, with ECORRUPT: the
 * journal's CRC already caught damage, so a failure here means a record this
 * version cannot read.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../errors.js';
import type { Attrs, EngineRecord, Fid, OpName, RecordKind, Stat } from './record.js';
import { OP_NAMES } from './record.js';

export const CODEC_VERSION = 1;
// Append only: a kind's index is its code on disk.
const KINDS: readonly RecordKind[] = ['op', 'event', 'config', 'request', 'decision', 'evicted'];

const encoder = new TextEncoder();
// ignoreBOM: a name may start with U+FEFF, and must come back with it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes into one shared, growing scratch buffer: encodeRecord runs to
 * completion synchronously, so no two encodings ever share it, and the hot
 * path allocates only the result.
 */
const SAFE_INTEGER_MAX = BigInt(Number.MAX_SAFE_INTEGER);
let scratch = new Uint8Array(4096);
let scratchView = new DataView(scratch.buffer);

class Writer {
  length = 0;

  private reserve(count: number): void {
    if (this.length + count <= scratch.length) return;
    const grown = new Uint8Array(Math.max(scratch.length * 2, this.length + count));
    grown.set(scratch.subarray(0, this.length));
    scratch = grown;
    scratchView = new DataView(scratch.buffer);
  }

  byte(value: number): void {
    this.reserve(1);
    scratch[this.length++] = value;
  }

  /** Unsigned LEB128 of a safe integer, without going through BigInt. */
  varint(value: number): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`varint of ${value}`);
    this.reserve(8);
    while (value >= 0x80) {
      scratch[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    scratch[this.length++] = value;
  }

  bigVarint(value: bigint): void {
    if (value < 0n) throw new RangeError(`varint of a negative value ${value}`);
    if (value <= SAFE_INTEGER_MAX) return this.varint(Number(value));
    this.reserve(10);
    let rest = value;
    while (rest >= 0x80n) {
      scratch[this.length++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    scratch[this.length++] = Number(rest);
  }

  u64(value: bigint): void {
    this.reserve(8);
    scratchView.setBigUint64(this.length, BigInt.asUintN(64, value), true);
    this.length += 8;
  }

  raw(value: Uint8Array): void {
    this.varint(value.length);
    this.reserve(value.length);
    scratch.set(value, this.length);
    this.length += value.length;
  }

  /**
   * A varint byte length then UTF-8, encoded in place (one byte of length
   * assumed, moved if longer). Only well-formed strings reach here (the API
   * refuses lone surrogates): UTF-8 would replace one, silently.
   */
  string(value: string): void {
    assert.ok(value.isWellFormed(), 'only well-formed strings are encoded');
    this.reserve(value.length * 3 + 10);
    const start = this.length + 1;
    const { written } = encoder.encodeInto(value, scratch.subarray(start));
    if (written < 0x80) {
      scratch[this.length] = written;
      this.length = start + written;
      return;
    }
    const text = scratch.slice(start, start + written);
    this.raw(text);
  }

  fid(value: Fid): void {
    this.varint(value.ino);
    this.varint(value.gen);
  }

  result(): Uint8Array {
    return scratch.slice(0, this.length);
  }
}

function undecodable(what: string): FanlogError {
  return new FanlogError('ECORRUPT', `record undecodable: ${what}`);
}

class Reader {
  private at = 0;
  private view: DataView | null = null;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  byte(): number {
    if (this.at >= this.bytes.length) throw undecodable('ends early');
    return this.bytes[this.at++]!;
  }

  /** A 64-bit varint; numbers up to 2^49 are read without BigInt arithmetic. */
  bigVarint(): bigint {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return BigInt(value);
      scale *= 0x80;
    }
    let big = BigInt(value);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      big |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return big;
    }
    throw undecodable('varint too long');
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw undecodable('number too large');
        return value;
      }
      scale *= 0x80;
    }
    throw undecodable('number too large');
  }

  u64(): bigint {
    if (this.at + 8 > this.bytes.length) throw undecodable('ends early');
    this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
    const value = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return value;
  }

  skip(count: number): void {
    if (count > this.bytes.length - this.at) throw undecodable('length beyond the record');
    this.at += count;
  }

  raw(): Uint8Array {
    const length = this.varint();
    if (length > this.bytes.length - this.at) throw undecodable('length beyond the record');
    const value = this.bytes.slice(this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** UTF-8; short ASCII strings (most names and paths) skip the TextDecoder call. */
  string(): string {
    const length = this.varint();
    if (length > this.bytes.length - this.at) throw undecodable('length beyond the record');
    const start = this.at;
    this.at += length;
    if (length <= 64) {
      let ascii = true;
      for (let i = start; i < start + length; i++) {
        if (this.bytes[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, this.bytes.subarray(start, start + length) as unknown as number[]);
    }
    try {
      return decoder.decode(this.bytes.subarray(start, start + length));
    } catch {
      throw undecodable('bad UTF-8');
    }
  }

  skipString(): void {
    this.skip(this.varint());
  }

  fid(): Fid {
    return { ino: this.varint(), gen: this.varint() };
  }
}

const ATTR_FIELDS = ['mode', 'uid', 'gid', 'size', 'atime', 'mtime'] as const;

export function encodeRecord(record: EngineRecord): Uint8Array {
  const w = new Writer();
  w.byte(CODEC_VERSION);
  w.byte(KINDS.indexOf(record.kind));
  w.byte(OP_NAMES.indexOf(record.op));
  w.u64(record.time);
  if (record.mask !== undefined) (w.byte(1), w.bigVarint(record.mask));
  if (record.fid !== undefined) (w.byte(2), w.fid(record.fid));
  if (record.parentFid !== undefined) (w.byte(3), w.fid(record.parentFid));
  if (record.name !== undefined) (w.byte(4), w.string(record.name));
  if (record.oldParentFid !== undefined) (w.byte(5), w.fid(record.oldParentFid));
  if (record.oldName !== undefined) (w.byte(6), w.string(record.oldName));
  if (record.path !== undefined) (w.byte(7), w.string(record.path));
  if (record.oldPath !== undefined) (w.byte(8), w.string(record.oldPath));
  if (record.range !== undefined) (w.byte(9), w.varint(record.range.offset), w.varint(record.range.count));
  if (record.stat !== undefined) {
    const s = record.stat;
    w.byte(10);
    for (const value of [s.ino, s.mode, s.uid, s.gid, s.size, s.nlink]) w.varint(value);
    w.u64(s.atime);
    w.u64(s.mtime);
    w.u64(s.ctime);
  }
  if (record.attrs !== undefined) {
    const attrs = record.attrs;
    w.byte(11);
    let presence = 0;
    ATTR_FIELDS.forEach((field, bit) => {
      if (attrs[field] !== undefined) presence |= 1 << bit;
    });
    w.byte(presence);
    for (const field of ATTR_FIELDS) {
      const value = attrs[field];
      if (typeof value === 'bigint') w.u64(value);
      else if (value !== undefined) w.varint(value);
    }
  }
  if (record.xattr !== undefined) (w.byte(12), w.string(record.xattr));
  if (record.value !== undefined) (w.byte(13), w.raw(record.value));
  if (record.target !== undefined) (w.byte(14), w.string(record.target));
  if (record.offline === true) w.byte(15);
  if (record.pid !== undefined) (w.byte(16), w.varint(record.pid));
  if (record.tid !== undefined) (w.byte(17), w.varint(record.tid));
  if (record.uid !== undefined) (w.byte(18), w.varint(record.uid));
  if (record.group !== undefined) (w.byte(19), w.string(record.group));
  if (record.config !== undefined) (w.byte(20), w.string(record.config));
  if (record.requestSeq !== undefined) (w.byte(21), w.bigVarint(record.requestSeq));
  if (record.response !== undefined) (w.byte(22), w.varint(record.response));
  if (record.timeout === true) w.byte(23);
  if (record.intent !== undefined) (w.byte(24), w.string(record.intent));
  if (record.consumer !== undefined) (w.byte(25), w.string(record.consumer));
  if (record.fromSeq !== undefined) (w.byte(26), w.bigVarint(record.fromSeq));
  if (record.toSeq !== undefined) (w.byte(27), w.bigVarint(record.toSeq));
  if (record.orphan === true) w.byte(28);
  return w.result();
}

export function decodeRecord(bytes: Uint8Array): EngineRecord {
  const r = new Reader(bytes);
  const version = r.byte();
  if (version !== CODEC_VERSION) throw undecodable(`codec version ${version}`);
  const kind = KINDS[r.byte()];
  const op: OpName | undefined = OP_NAMES[r.byte()];
  if (kind === undefined || op === undefined) throw undecodable('unknown kind or op');
  const record: EngineRecord = { kind, op, time: r.u64() };
  let lastTag = 0;
  while (!r.done) {
    const tag = r.byte();
    if (tag <= lastTag) throw undecodable(`tag ${tag} out of order`);
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
      case 10: {
        const stat: Stat = {
          ino: r.varint(), mode: r.varint(), uid: r.varint(), gid: r.varint(), size: r.varint(), nlink: r.varint(),
          atime: r.u64(), mtime: r.u64(), ctime: r.u64(),
        };
        record.stat = stat;
        break;
      }
      case 11: {
        const presence = r.byte();
        const attrs: Attrs = {};
        ATTR_FIELDS.forEach((field, bit) => {
          if ((presence & (1 << bit)) === 0) return;
          if (field === 'atime' || field === 'mtime') attrs[field] = r.u64();
          else attrs[field] = r.varint();
        });
        record.attrs = attrs;
        break;
      }
      case 12: record.xattr = r.string(); break;
      case 13: record.value = r.raw(); break;
      case 14: record.target = r.string(); break;
      case 15: record.offline = true; break;
      case 16: record.pid = r.varint(); break;
      case 17: record.tid = r.varint(); break;
      case 18: record.uid = r.varint(); break;
      case 19: record.group = r.string(); break;
      case 20: record.config = r.string(); break;
      case 21: record.requestSeq = r.bigVarint(); break;
      case 22: record.response = r.varint(); break;
      case 23: record.timeout = true; break;
      case 24: record.intent = r.string(); break;
      case 25: record.consumer = r.string(); break;
      case 26: record.fromSeq = r.bigVarint(); break;
      case 27: record.toSeq = r.bigVarint(); break;
      case 28: record.orphan = true; break;
      default: throw undecodable(`unknown tag ${tag}`);
    }
  }
  return record;
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
  if (r.byte() !== CODEC_VERSION) throw undecodable('codec version');
  const kind = KINDS[r.byte()];
  const op: OpName | undefined = OP_NAMES[r.byte()];
  if (kind === undefined || op === undefined) throw undecodable('unknown kind or op');
  r.skip(8); // time
  const header: RecordHeader = { kind, op };
  while (!r.done) {
    const tag = r.byte();
    if (tag > 8) break;
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
