/**
 * The record codec's byte reader: varints, u64, strings and byte strings,
 * with every length checked against the bytes left. Records are written
 * with the journal's ByteWriter (journal/byte-writer.ts), straight into the
 * batch being gathered.
 */
import { FanlogError } from '../../errors.js';
import type { ByteWriter } from '../../journal/byte-writer.js';
import type { Fid } from './record.js';

// ignoreBOM: a name may start with U+FEFF, and must come back with it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A fid as two varints: ino, then generation. */
export function writeFid(w: ByteWriter, value: Fid): void {
  w.varint(value.ino);
  w.varint(value.gen);
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
