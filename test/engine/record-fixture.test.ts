/**
 * Records written by record codec version 1 (test/fixtures/records-v1.bin,
 * made by make-records-v1.mjs: every kind, every op and every field) decode
 * forever after to what they held: a codec change that cannot read old
 * journals fails here. While the writer writes version 1 it must also write
 * the same bytes, so that the format does not drift by accident.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../engine/record/codec.js';
import { LEGACY_KINDS, LEGACY_OPS } from '../../engine/record/fields.js';

const bin = readFileSync(new URL('../fixtures/records-v1.bin', import.meta.url));
const expected = JSON.parse(readFileSync(new URL('../fixtures/records-v1.json', import.meta.url), 'utf8')) as unknown[];

function frames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bin.length; ) {
    const length = bin.readUInt32LE(at);
    out.push(new Uint8Array(bin.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return out;
}

/** The fixture's JSON form: bigints as `123n`, bytes as `{ hex }`. */
const asJson = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v)));

it('decodes every record of format version 1 to what it held, and writes the same bytes', () => {
  const records = frames();
  expect(records.length).toBe(expected.length);
  records.forEach((bytes, i) => {
    const record = decodeRecord(bytes);
    expect(asJson(record), `record ${i}`).toEqual(expected[i]);
    // Legacy kinds and ops (never produced now) are read, not written.
    if (LEGACY_KINDS.includes(record.kind) || LEGACY_OPS.includes(record.op)) return;
    expect(Buffer.from(encodeRecord(record)).equals(Buffer.from(bytes)), `record ${i} re-encoded`).toBe(true);
  });
});
