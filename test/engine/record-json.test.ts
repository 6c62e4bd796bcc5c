/**
 * A delivered record's JSON holds every field it carries: for every kind,
 * every op and every tag of the format's table (engine/record/fields.ts),
 * a record of that kind and op with that field (by the name it has in that
 * kind: a note's tag 20 is its `reason`, an event's tag 19 its `source`)
 * is viewed as a consumer gets it, and `toJSON()` (what JSON.stringify and
 * util.inspect show) must hold exactly kind, op, time, seq and the fields
 * that are not internal, each equal to what its getter reads.
 */
import { expect, it } from 'vitest';
import { encodeRecord } from '../../engine/record/codec.js';
import {
  fieldName,
  FIELDS,
  INTERNAL_FIELDS,
  KIND_CODES,
  LEGACY_FIELDS,
  LEGACY_KINDS,
  LEGACY_OPS,
  OP_CODES,
  type WireType,
} from '../../engine/record/fields.js';
import { type EngineRecord, type OpName, type RecordKind, REQUIRED_FIELDS } from '../../engine/record/record.js';
import { viewRecord } from '../../engine/record/view.js';

const SAMPLES: Record<WireType, unknown> = {
  varint: 300,
  bigvarint: 2n ** 63n + 5n,
  fid: { ino: 130, gen: 7 },
  range: { offset: 2 ** 40, count: 5 },
  string: 'mirror',
  bytes: new Uint8Array([0, 255]),
  flag: true,
  stat: { ino: 1, mode: 2, uid: 3, gid: 4, size: 5, nlink: 6, atime: 7n, mtime: 8n, ctime: 9n },
  attrs: { mode: 0o644, atime: 5n },
  steps: [{ mask: 0x1_0000n }, { mask: 0x8_0000n, range: { offset: 1, count: 300 } }],
  args: { flags: 'rw', truncate: true, size: 300 },
  handle: { type: -2, bytes: new Uint8Array([1, 2, 3]) },
};

const kinds = (Object.keys(KIND_CODES) as RecordKind[]).filter((kind) => !LEGACY_KINDS.includes(kind));
const ops = (Object.keys(OP_CODES) as OpName[]).filter((op) => !LEGACY_OPS.includes(op));
const fields = FIELDS.filter((field) => !LEGACY_FIELDS.includes(field.name));
const typeOf = (kind: RecordKind, name: string): WireType => FIELDS.find((field) => fieldName(field.tag, kind) === name)!.type;

it('puts every field a record carries into its JSON, for every kind, op and tag', () => {
  let records = 0;
  for (const kind of kinds) {
    for (const op of ops) {
      for (const field of fields) {
        const record: Record<string, unknown> = { kind, op, time: 11n };
        for (const name of REQUIRED_FIELDS[kind]) record[name] = SAMPLES[typeOf(kind, name)];
        const name = fieldName(field.tag, kind);
        record[name] = SAMPLES[field.type];
        const view = viewRecord(9n, encodeRecord(record as unknown as EngineRecord)) as unknown as Record<string, unknown> & {
          toJSON(): Record<string, unknown>;
        };
        const json = view.toJSON();
        const carried = Object.keys(record).filter((key) => !['kind', 'op', 'time'].includes(key));
        const shown = carried.filter((key) => !(INTERNAL_FIELDS as readonly string[]).includes(key));
        const what = `a ${kind} ${op} with ${name} (tag ${field.tag})`;
        expect(Object.keys(json).sort(), what).toEqual(['kind', 'op', 'time', 'seq', ...shown].sort());
        for (const key of Object.keys(json)) expect(json[key], `${what}: ${key}`).toEqual(key === 'seq' ? 9n : view[key]);
        for (const key of shown) expect(json[key], `${what}: ${key}`).toEqual(record[key]);
        records++;
      }
    }
  }
  expect(records).toBe(kinds.length * ops.length * fields.length);
});

it("gives a scan note's reason in JSON.stringify, as record.reason has it", () => {
  const note = viewRecord(3n, encodeRecord({ kind: 'note', op: 'scanBegin', time: 1n, path: '/m', reason: 'watcher-error' }));
  expect(note.reason).toBe('watcher-error');
  expect(JSON.parse(JSON.stringify(note, (_, value: unknown) => (typeof value === 'bigint' ? String(value) : value)))).toEqual({
    kind: 'note',
    op: 'scanBegin',
    time: '1',
    path: '/m',
    reason: 'watcher-error',
    seq: '3',
  });
});
