/**
 * ByteWriter: a growable byte buffer with the primitives records are made
 * of (bytes, varints, u64, UTF-8 strings). The journal gathers a batch of
 * entries in one, and each record is encoded straight into it, where the
 * disk write will read it (journal.ts `appendRecords`): no buffer per
 * record, no concatenation.
 *
 * Growing copies what was written into a buffer twice the size, so a
 * writer's `buffer` must be read only between calls: positions (numbers)
 * stay valid across growth, references to `buffer` do not.
 *
 * Varints are unsigned LEB128; u64 and u32 are little-endian; a string is a
 * varint byte length then its UTF-8.
 */
import assert from 'node:assert/strict';

const SAFE_INTEGER_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const encoder = new TextEncoder();

export class ByteWriter {
  buffer: Uint8Array;
  #view: DataView;
  /** Bytes written: the next write goes here. */
  length = 0;

  constructor(initialBytes = 4096) {
    this.buffer = new Uint8Array(initialBytes);
    this.#view = new DataView(this.buffer.buffer);
  }

  /** Makes room for `count` more bytes. */
  reserve(count: number): void {
    if (this.length + count <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + count));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  /** Forgets everything from `length` on (an encoding that failed half-way). */
  truncate(length: number): void {
    assert.ok(length >= 0 && length <= this.length);
    this.length = length;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** Reserves `count` bytes to be filled in later (a length or header); returns where they are. */
  skip(count: number): number {
    this.reserve(count);
    const at = this.length;
    this.length += count;
    return at;
  }

  u32At(at: number, value: number): void {
    this.#view.setUint32(at, value, true);
  }

  u64At(at: number, value: bigint): void {
    this.#view.setBigUint64(at, value, true);
  }

  /** Unsigned LEB128 of a safe integer, without going through BigInt. */
  varint(value: number): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`varint of ${value}`);
    this.reserve(8);
    const buffer = this.buffer;
    let at = this.length;
    while (value >= 0x80) {
      buffer[at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buffer[at++] = value;
    this.length = at;
  }

  bigVarint(value: bigint): void {
    if (value < 0n) throw new RangeError(`varint of a negative value ${value}`);
    if (value <= SAFE_INTEGER_MAX) return this.varint(Number(value));
    this.reserve(10);
    let rest = value;
    while (rest >= 0x80n) {
      this.buffer[this.length++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.buffer[this.length++] = Number(rest);
  }

  u64(value: bigint): void {
    this.reserve(8);
    this.#view.setBigUint64(this.length, BigInt.asUintN(64, value), true);
    this.length += 8;
  }

  /** The bytes as they are, with no length. */
  raw(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** A varint length, then the bytes. */
  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.raw(value);
  }

  /**
   * A varint byte length then UTF-8, encoded in place (one byte of length
   * assumed, the bytes moved up if the length needs more). Only
   * well-formed strings reach here (the API refuses lone surrogates):
   * UTF-8 would replace one, silently.
   */
  string(value: string): void {
    // Short ASCII (most names and paths): copied char by char, no view, no encoder call.
    const count = value.length;
    if (count < 0x80) {
      this.reserve(count + 1);
      const buffer = this.buffer;
      const start = this.length + 1;
      let i = 0;
      for (; i < count; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buffer[start + i] = code;
      }
      if (i === count) {
        buffer[this.length] = count;
        this.length = start + count;
        return;
      }
    }
    if (!value.isWellFormed()) assert.fail('only well-formed strings are encoded');
    this.reserve(value.length * 3 + 10);
    const start = this.length + 1;
    const { written } = encoder.encodeInto(value, this.buffer.subarray(start));
    if (written < 0x80) {
      this.buffer[this.length] = written;
      this.length = start + written;
      return;
    }
    const text = this.buffer.slice(start, start + written);
    this.bytes(text);
  }

  /** A copy of bytes [from, length). */
  copy(from = 0): Uint8Array {
    return this.buffer.slice(from, this.length);
  }
}
