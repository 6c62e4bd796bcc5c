/**
 * The record codec's byte writer and reader: varints, u64, strings and
 * byte strings, with every length checked against the bytes left.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../../errors.js';
import type { Fid } from './record.js';

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

export class Writer {
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

export function undecodable(what: string): FanlogError {
  return new FanlogError('ECORRUPT', `record undecodable: ${what}`);
}

export class Reader {
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
