/**
 * Records written by each record codec version (test/fixtures/records-vN.bin,
 * made by make-records.mjs N: every kind, every op and every field that
 * version wrote) decode forever after to what they held: a codec change that
 * cannot read old journals fails here. The current version must also write
 * the same bytes again, so that the format does not drift by accident; an
 * older version's records re-encode to the same bytes but the version byte,
 * except those with what is no longer written (legacy kinds, ops, fields).
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../engine/record/codec.js';
import { CODEC_VERSION, LEGACY_FIELDS, LEGACY_KINDS, LEGACY_OPS } from '../../engine/record/fields.js';

function frames(bin: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bin.length;) {
    const length = bin.readUInt32LE(at);
    out.push(new Uint8Array(bin.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return out;
}

/** The fixture's JSON form: bigints as `123n`, bytes as `{ hex }`. */
const asJson = (value: unknown): unknown =>
  JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v)),
  );

it.each([1, 2, 3, 4, 5, 6, 7, 8, 9])('decodes every record of format version %i to what it held, and writes the same bytes', (version) => {
  const bin = readFileSync(new URL(`../fixtures/records-v${version}.bin`, import.meta.url));
  const expected = JSON.parse(readFileSync(new URL(`../fixtures/records-v${version}.json`, import.meta.url), 'utf8')) as unknown[];
  const records = frames(bin);
  expect(records.length).toBe(expected.length);
  records.forEach((bytes, i) => {
    expect(bytes[0], `record ${i}`).toBe(version);
    const record = decodeRecord(bytes);
    expect(asJson(record), `record ${i}`).toEqual(expected[i]);
    const legacy = LEGACY_KINDS.includes(record.kind) || LEGACY_OPS.includes(record.op) || LEGACY_FIELDS.some((field) => field in record);
    if (legacy) {
      expect(version, `record ${i} has what no version writes now`).toBeLessThan(CODEC_VERSION);
      return;
    }
    const again = encodeRecord(record);
    expect(again[0]).toBe(CODEC_VERSION);
    expect(Buffer.from(again.subarray(1)).equals(Buffer.from(bytes.subarray(1))), `record ${i} re-encoded`).toBe(true);
  });
});
