/**
 * `node dist/bench/view-shapes.js`: why a record view keeps its fields as
 * getters on its class (README, design notes: "A record view spreads to
 * { seq, kind }"). Over 300,000 encoded event records (the consumers suite's), each shape is built
 * per record and `path` and `mask` read from it:
 *
 *   decoded         decodeRecord, whole, into a plain object (spreads fully)
 *   class getters   LazyRecord: getters on the class (spreads to seq, kind)
 *   own accessors   a LazyRecord's fields as accessors defined on each record (spreads fully)
 *   literal getters a LazyRecord's fields as getters of an object literal per record (spreads fully)
 *
 * Three rounds each, alternating; records/s.
 */
import { decodeRecord } from '../engine/record/codec.js';
import { viewRecord } from '../engine/record/view.js';
import { createEvent } from './consumers.js';

const RECORDS = 300_000;
const records = Array.from({ length: RECORDS }, (_, i) => createEvent(i));

const FIELDS = ['op', 'time', 'mask', 'fid', 'parentFid', 'name', 'path', 'stat', 'pid', 'tid', 'uid'] as const;
type Shape = { seq: bigint; kind: string; path?: string; mask?: bigint; [field: string]: unknown };

/** The view's lazy fields, as accessors defined on each record (the cost is the defining). */
function ownAccessors(seq: bigint, bytes: Uint8Array): Shape {
  const view = viewRecord(seq, bytes) as unknown as Record<string, unknown>;
  const record: Record<string, unknown> = { seq, kind: 'event' };
  for (const field of FIELDS) Object.defineProperty(record, field, { get: () => view[field], enumerable: true, configurable: true });
  return record as Shape;
}

/** The view's lazy fields, as getters of an object literal made per record. */
function literalGetters(seq: bigint, bytes: Uint8Array): Shape {
  const view = viewRecord(seq, bytes);
  return {
    seq,
    kind: 'event',
    get op() {
      return view.op;
    },
    get time() {
      return view.time;
    },
    get mask() {
      return view.mask;
    },
    get fid() {
      return view.fid;
    },
    get parentFid() {
      return view.parentFid;
    },
    get name() {
      return view.name;
    },
    get path() {
      return view.path;
    },
    get stat() {
      return view.stat;
    },
    get pid() {
      return view.pid;
    },
    get tid() {
      return view.tid;
    },
    get uid() {
      return view.uid;
    },
  };
}

const SHAPES: Record<string, (seq: bigint, bytes: Uint8Array) => Shape> = {
  decoded: (seq, bytes) => Object.assign(decodeRecord(bytes), { seq }) as unknown as Shape,
  'class getters': (seq, bytes) => viewRecord(seq, bytes) as unknown as Shape,
  'own accessors': ownAccessors,
  'literal getters': literalGetters,
};

const rates: Record<string, string[]> = {};
for (let round = 0; round < 3; round++) {
  for (const [name, make] of Object.entries(SHAPES)) {
    const started = performance.now();
    let touched = 0;
    for (let i = 0; i < RECORDS; i++) {
      const record = make(BigInt(i), records[i]!);
      touched += (record.path?.length ?? 0) + (record.mask === undefined ? 0 : 1);
    }
    if (touched === 0) throw new Error(`${name}: no path read`);
    const perSecond = RECORDS / ((performance.now() - started) / 1000);
    (rates[name] ??= []).push(`${(perSecond / 1e6).toFixed(2)} M`);
  }
}
console.log(`records/s building each shape and reading path and mask, ${RECORDS.toLocaleString('en-US')} records, three rounds:`);
for (const [name, shown] of Object.entries(rates)) console.log(`  ${name.padEnd(16)} ${shown.join(' / ')}`);
