/**
 * The hand-unrolled codec (engine/record/codec.ts) against the format's
 * table (engine/record/fields.ts): every kind and op has its code, every
 * field its tag and wire type, and no tag outside the table decodes.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../engine/record/codec.js';
import { viewRecord } from '../../engine/record/view.js';
import { AssertionError } from 'node:assert';
import { FIELDS, INTERNAL_FIELDS, KIND_CODES, LEGACY_FIELDS, LEGACY_KINDS, LEGACY_OPS, OP_CODES, type WireType } from '../../engine/record/fields.js';
import { type EngineRecord, type OpName, type RecordKind, REQUIRED_FIELDS } from '../../engine/record/record.js';
import { rejection } from '../helpers.js';

const HEADER_BYTES = 11; // version, kind, op, u64 time

const SAMPLES: Record<WireType, { value: unknown; bytes: number }> = {
  varint: { value: 300, bytes: 2 },
  bigvarint: { value: 2n ** 63n + 5n, bytes: 10 },
  fid: { value: { ino: 130, gen: 7 }, bytes: 3 },
  range: { value: { offset: 2 ** 40, count: 5 }, bytes: 7 },
  string: { value: 'héllo', bytes: 7 },
  bytes: { value: new Uint8Array([0, 255]), bytes: 3 },
  flag: { value: true, bytes: 0 },
  stat: { value: { ino: 1, mode: 2, uid: 3, gid: 4, size: 5, nlink: 6, atime: 7n, mtime: 8n, ctime: 9n }, bytes: 30 },
  attrs: { value: { mode: 0o644, atime: 5n }, bytes: 11 },
  steps: { value: [{ mask: 0x1_0000n }, { mask: 0x8_0000n, range: { offset: 1, count: 300 } }], bytes: 12 },
  args: { value: { flags: 'rw', truncate: true, size: 300 }, bytes: 5 },
  // xfs's FILEID_INO32_GEN | XFS_FILEID_TYPE_64FLAG: type 0x81 in two bytes, a length byte, 12 bytes.
  handle: { value: { type: 0x81, bytes: new Uint8Array(12).fill(7) }, bytes: 15 },
};

it('lists each tag once, in increasing order, and every field formats 1 to 9 wrote', () => {
  const tags = FIELDS.map((field) => field.tag);
  expect(tags).toEqual([...tags].sort((a, b) => a - b));
  expect(new Set(tags).size).toBe(tags.length);
  const fixture = ['v1', 'v2', 'v3', 'v4', 'v6', 'v9'].flatMap(
    (version) => JSON.parse(readFileSync(new URL(`../fixtures/records-${version}.json`, import.meta.url), 'utf8')) as Record<string, unknown>[],
  );
  const written = new Set(fixture.flatMap((record) => Object.keys(record)).filter((key) => !['kind', 'op', 'time'].includes(key)));
  expect([...written].sort()).toEqual(FIELDS.flatMap((field) => [field.name, ...Object.values(field.byKind ?? {})]).sort());
});

/** A record of `kind` with every field its kind must carry, and `extra`. */
function complete(kind: RecordKind, extra: Record<string, unknown> = {}): EngineRecord {
  const record: Record<string, unknown> = { kind, op: 'mkdir', time: 0n };
  for (const name of REQUIRED_FIELDS[kind])
    record[name] = SAMPLES[FIELDS.find((field) => [field.name, ...Object.values(field.byKind ?? {})].includes(name))!.type].value;
  return { ...record, ...extra } as unknown as EngineRecord;
}

it('writes every kind and op as its code, reads the legacy ones and never writes them', () => {
  const bare = (kind: number, op: number): Uint8Array => new Uint8Array([2, kind, op, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (const [kind, code] of Object.entries(KIND_CODES) as [RecordKind, number][]) {
    if (LEGACY_KINDS.includes(kind)) {
      expect(decodeRecord(bare(code, OP_CODES.mkdir)).kind, kind).toBe(kind);
      expect(() => encodeRecord(complete(kind)), kind).toThrow(AssertionError);
      continue;
    }
    const bytes = encodeRecord(complete(kind));
    expect(bytes[1], kind).toBe(code);
    expect(decodeRecord(bytes).kind, kind).toBe(kind);
  }
  for (const [op, code] of Object.entries(OP_CODES) as [OpName, number][]) {
    expect(decodeRecord(bare(KIND_CODES.op, code)).op, op).toBe(op);
    if (LEGACY_OPS.includes(op)) expect(() => encodeRecord({ kind: 'op', op, time: 0n }), op).toThrow(AssertionError);
    else expect(encodeRecord({ kind: 'op', op, time: 0n })[2], op).toBe(code);
  }
});

it('writes every field as the table says: its tag, then its wire type, and reads it back', () => {
  for (const field of FIELDS) {
    if (LEGACY_FIELDS.includes(field.name)) continue; // read only: the fixture of format 1 holds them
    const sample = SAMPLES[field.type];
    const record = { kind: 'op', op: 'mkdir', time: 0n, [field.name]: sample.value } as EngineRecord;
    const bytes = encodeRecord(record);
    expect(bytes[HEADER_BYTES], field.name).toBe(field.tag);
    expect(bytes.length - HEADER_BYTES - 1, `${field.name} as ${field.type}`).toBe(sample.bytes);
    expect(decodeRecord(bytes), field.name).toEqual(record);
    for (const [kind, name] of Object.entries(field.byKind ?? {}) as [RecordKind, string][]) {
      const other = complete(kind, { [name]: sample.value });
      const decoded = decodeRecord(encodeRecord(other)) as unknown as Record<string, unknown>;
      expect(decoded, `${name} in a ${kind}`).toEqual(other);
      expect(decoded[field.name], `${name} in a ${kind} is not ${field.name}`).toBeUndefined();
      const view = viewRecord(1n, encodeRecord(other)) as unknown as Record<string, unknown>;
      expect(view[name], `${name} in a view of a ${kind}`).toEqual(sample.value);
      expect(view[field.name], `${name} in a view of a ${kind} is not ${field.name}`).toBeUndefined();
    }
    // A record view reads the field as decodeRecord does, unless consumers never see it.
    const view = viewRecord(1n, bytes) as unknown as Record<string, unknown>;
    if ((INTERNAL_FIELDS as readonly string[]).includes(field.name)) expect(view[field.name], `${field.name} is internal`).toBeUndefined();
    else expect(view[field.name], `${field.name} in a view`).toEqual(sample.value);
    expect(view.toJSON, field.name).toBeTypeOf('function');
  }
});

it('refuses every tag outside the table', async () => {
  const known = new Set(FIELDS.map((field) => field.tag));
  for (let tag = 0; tag < 256; tag++) {
    if (known.has(tag)) continue;
    const bytes = new Uint8Array([...encodeRecord({ kind: 'op', op: 'mkdir', time: 0n }), tag, 0]);
    expect((await rejection(async () => decodeRecord(bytes))).code, `tag ${tag}`).toBe('ECORRUPT');
  }
});

it('refuses a record without a field its kind must carry', async () => {
  for (const [kind, required] of Object.entries(REQUIRED_FIELDS) as [RecordKind, readonly string[]][]) {
    for (const missing of required) {
      const record = complete(kind) as unknown as Record<string, unknown>;
      delete record[missing];
      const error = await rejection(async () => decodeRecord(encodeRecord(record as unknown as EngineRecord)));
      expect(error.code, `${kind} without ${missing}`).toBe('ECORRUPT');
    }
  }
});
