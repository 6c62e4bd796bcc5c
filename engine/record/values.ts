/**
 * The values of a scanned record's fields, decoded with no further checks
 * (bytes.ts's scanRecord made them): the primitives (varints, u64s,
 * strings) and the compound values (stat, attrs, intent steps and
 * arguments), as fields.ts lays them out.
 */
import { readU64 } from '../../journal/frame.js';
import { ARG_FIELDS, ATTR_FIELDS, OPEN_FLAGS } from './fields.js';
import type { Attrs, IntentArgs, IntentStep, Stat } from './record.js';

// ignoreBOM: a name may start with U+FEFF, and must come back with it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Where the varint starting at `at` ends. */
export function varintEnd(b: Uint8Array, at: number): number {
  while ((b[at]! & 0x80) !== 0) at++;
  return at + 1;
}

/** A varint up to 2^53 (a scanned record holds no larger one). */
export function varintAt(b: Uint8Array, at: number): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = b[at++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value;
    scale *= 0x80;
  }
}

/** A 64-bit varint; up to 2^49 without BigInt arithmetic. */
export function bigVarintAt(b: Uint8Array, at: number): bigint {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const byte = b[at++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return BigInt(value);
    scale *= 0x80;
  }
  let big = BigInt(value);
  for (let shift = 49n; ; shift += 7n) {
    const byte = b[at++]!;
    big |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return big;
  }
}

/** A u64, little-endian (the journal's own reader of one). */
export const u64At = readU64;

/** UTF-8; short ASCII strings (most names and paths) skip the TextDecoder call. */
export function stringAt(b: Uint8Array, at: number): string {
  const length = varintAt(b, at);
  const start = varintEnd(b, at);
  if (length <= 64) {
    let ascii = true;
    for (let i = start; i < start + length; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(start, start + length) as unknown as number[]);
  }
  return decoder.decode(b.subarray(start, start + length));
}

export function statAt(b: Uint8Array, at: number): Stat {
  const ino = varintAt(b, at);
  const mode = varintAt(b, (at = varintEnd(b, at)));
  const uid = varintAt(b, (at = varintEnd(b, at)));
  const gid = varintAt(b, (at = varintEnd(b, at)));
  const size = varintAt(b, (at = varintEnd(b, at)));
  const nlink = varintAt(b, (at = varintEnd(b, at)));
  at = varintEnd(b, at);
  return { ino, mode, uid, gid, size, nlink, atime: u64At(b, at), mtime: u64At(b, at + 8), ctime: u64At(b, at + 16) };
}

export function attrsAt(b: Uint8Array, at: number): Attrs {
  return fillAttrs(b, at, {});
}

/** Decodes the attrs value at `at` into a reused object: every field set, absent ones to undefined. */
export function attrsInto(b: Uint8Array, at: number, attrs: Attrs): Attrs {
  for (const field of ATTR_FIELDS) attrs[field] = undefined;
  return fillAttrs(b, at, attrs);
}

function fillAttrs(b: Uint8Array, at: number, attrs: Attrs): Attrs {
  const presence = b[at++]!;
  for (let bit = 0; bit < ATTR_FIELDS.length; bit++) {
    if ((presence & (1 << bit)) === 0) continue;
    const field = ATTR_FIELDS[bit]!;
    if (field === 'atime' || field === 'mtime') {
      attrs[field] = u64At(b, at);
      at += 8;
    } else {
      attrs[field] = varintAt(b, at);
      at = varintEnd(b, at);
    }
  }
  return attrs;
}

export function stepsAt(b: Uint8Array, at: number): IntentStep[] {
  const count = varintAt(b, at);
  at = varintEnd(b, at);
  const steps: IntentStep[] = [];
  for (let i = 0; i < count; i++) {
    const mask = bigVarintAt(b, at);
    at = varintEnd(b, at);
    if (b[at++] === 0) {
      steps.push({ mask });
      continue;
    }
    const offset = varintAt(b, at);
    at = varintEnd(b, at);
    steps.push({ mask, range: { offset, count: varintAt(b, at) } });
    at = varintEnd(b, at);
  }
  return steps;
}

export function argsAt(b: Uint8Array, at: number): IntentArgs {
  const presence = b[at++]!;
  const args: IntentArgs = {};
  for (let bit = 0; bit < ARG_FIELDS.length; bit++) {
    if ((presence & (1 << bit)) === 0) continue;
    const value = varintAt(b, at);
    at = varintEnd(b, at);
    const field = ARG_FIELDS[bit]!;
    if (field === 'flags') args.flags = OPEN_FLAGS[value];
    else if (field === 'exec' || field === 'truncate' || field === 'write') args[field] = value === 1;
    else args[field] = value;
  }
  return args;
}
