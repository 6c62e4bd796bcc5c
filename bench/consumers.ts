/**
 * Consumers suite: how fast a changelog consumer reads, filters and
 * acknowledges (lmdb store), against lmdb-js reading the same records.
 *
 * The journal is prepared with N event records (1,000,000; 100,000 with
 * --quick), written straight through the journal so preparation is quick,
 * with paths spread over 100 directories.
 *
 *   consumer_read      one consumer reads all N, no filter, with the default batch (1,000),
 *                      `path` and `mask` read from every record
 *   lmdb_getrange      the same N records' bytes as binary values in lmdb, read with
 *                      `getRange` as records (the same view), `path` and `mask` read: what a
 *                      user would otherwise use
 *   consumer_filtered  one consumer scans all N with a path-prefix filter keeping 1 in 100
 *   consumers_8        8 consumers read all N concurrently (records/s summed)
 *   consumer_acks      durable acknowledgements, one after another
 *   consumer_read_rss  (extra) peak RSS of a process reading 10 M records (1 M with --quick)
 *                      through a consumer in batches of 1,000 (bench/consumer-rss.ts)
 *
 * And on a journal as applications write it (issue 29): 300,000 creates
 * (30,000 with --quick) by 16 simulated processes through the engine's
 * filesystem, one operation per entry, so each entry is a small frame of an
 * op record and an event record:
 *   consumer_read_ops      one consumer reads every event record
 *   lmdb_getrange_ops      the same event records' bytes in lmdb, read with getRange
 *   consumer_filtered_ops  one consumer scans them with a path-prefix filter keeping 1 in 100
 *   changes_since_ops      engine.changesSince(0): every record read, one entry per object
 *                          with its paths and stat now (an incremental backup's question)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open as openLmdb } from 'lmdb';
import { encodeRecord } from '../engine/record/codec.js';
import { viewRecord } from '../engine/record/view.js';
import { Engine } from '../fanlog.js';
import { FAN_CREATE } from '../engine/notify/masks.js';
import { Journal } from '../journal/journal.js';
import { type BenchCase, type BenchSettings, measureTargets, runCases, selected, type Targets } from './harness.js';

export interface ConsumersSuiteResult {
  suite: 'consumers';
  recordsPerSecond: Record<string, number>;
  targets: Targets;
  /** Peak RSS in MB of a process reading `rssRecords` through a consumer; NaN when not measured. */
  readRssMb: number;
  rssRecords: number;
}

const TARGETS: [string, string, number][] = [
  ['consumer_read', 'lmdb_getrange', 1],
  ['consumer_read_ops', 'lmdb_getrange_ops', 1],
  ['consumer_filtered_ops', 'consumer_read_ops', 2.5],
  ['changes_since_ops', 'consumer_read_ops', 1],
];
/** The application-written journal: creates by this many simulated processes, one operation per entry. */
const OPS_PROCESSES = 16;

export async function consumersSuite(settings: BenchSettings): Promise<ConsumersSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-consumers-'));
  const records = settings.quick ? 100_000 : 1_000_000;
  try {
    await writeChangelog(path.join(root, 'engine', 'journal'), records, settings);
    const engine = await Engine.open(path.join(root, 'engine'), { store: 'lmdb' });
    const lmdb = await copyIntoLmdb(engine, path.join(root, 'lmdb'), records);

    const opsRecords = settings.quick ? 30_000 : 300_000;
    const ops = await writeOpsChangelog(path.join(root, 'ops'), opsRecords, settings);
    // Its event records: a create each, and the mkdir of each of the 100 directories.
    const opsLmdb = await copyIntoLmdb(ops, path.join(root, 'ops-lmdb'), opsRecords + 100, true);
    const cases = [...(await consumerCases(engine, lmdb, records)), ...opsCases(ops, opsLmdb, opsRecords)];
    settings.log(`consumers suite (${settings.quick ? 'quick' : 'full'}): lmdb store`);
    const rates = await runCases(cases, settings);
    settings.log('  consumer_read                       target >= 2,000,000 records/s, and >= lmdb_getrange');
    settings.log('  consumer_filtered (records scanned) target >= 5,000,000 records/s');
    settings.log('  consumers_8 (summed)                target >= consumer_read');
    const targets = await measureTargets(cases, TARGETS, settings);
    await engine.close();
    await lmdb.close();
    await ops.close();
    await opsLmdb.close();
    const rssRecords = settings.quick ? 1_000_000 : 10_000_000;
    const readRssMb = selected(settings, 'consumer_read_rss') ? measureReadRss(path.join(root, 'rss'), rssRecords, settings) : NaN;
    return { suite: 'consumers', recordsPerSecond: rates, targets, readRssMb, rssRecords };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The suite's cases over `engine`'s changelog of `records` records and their copy in `lmdb`. */
async function consumerCases(engine: Engine, lmdb: ReturnType<typeof openLmdb<Uint8Array, number>>, records: number): Promise<BenchCase[]> {
  const readAll = async (name: string, filter?: string): Promise<number> => {
    if (engine.consumers.list().some((info) => info.name === name)) await engine.consumers.deregister(name);
    const consumer = await engine.consumers.register(name);
    if (filter !== undefined) await consumer.attachFilter('path-prefix', filter);
    let count = 0;
    let touched = 0;
    for (let batch = await consumer.read(); batch.length > 0; batch = await consumer.read()) {
      count += batch.length;
      for (const record of batch) touched += record.path!.length + (record.mask! > 0n ? 1 : 0);
    }
    if (touched === 0 && count > 0) throw new Error('no path read');
    return count;
  };
  const acker = await engine.consumers.register('acker');
  let ackSeq = 0n;

  const cases: BenchCase[] = [
    {
      name: 'consumer_read',
      recordsPerCall: records,
      run: async () => {
        const count = await readAll('reader');
        if (count !== records) throw new Error(`read ${count} records, expected ${records}`);
      },
    },
    {
      name: 'lmdb_getrange',
      recordsPerCall: records,
      run: async () => {
        let count = 0;
        let touched = 0;
        for (const { key, value } of lmdb.getRange({})) {
          const record = viewRecord(BigInt(key), value);
          touched += record.path!.length + (record.mask! > 0n ? 1 : 0);
          count++;
        }
        if (count !== records || touched === 0) throw new Error(`read ${count} records, expected ${records}`);
      },
    },
    {
      name: 'consumer_filtered',
      recordsPerCall: records,
      run: async () => {
        const count = await readAll('filtered', '/d7');
        if (count !== records / 100) throw new Error(`kept ${count} records, expected ${records / 100}`);
      },
    },
    {
      name: 'consumers_8',
      recordsPerCall: records * 8,
      minSamples: 2,
      run: async () => {
        await Promise.all(Array.from({ length: 8 }, (_, i) => readAll(`reader${i}`)));
      },
    },
    {
      name: 'consumer_acks',
      recordsPerCall: 1,
      unit: 'acks',
      run: () => acker.ack((ackSeq = ackSeq >= BigInt(records) ? 1n : ackSeq + 1n)),
    },
  ];
  return cases;
}

/** The changelog's records (its event records only, with `eventsOnly`), by seq, as binary values in a fresh lmdb database. */
async function copyIntoLmdb(engine: Engine, dir: string, records: number, eventsOnly = false): Promise<ReturnType<typeof openLmdb<Uint8Array, number>>> {
  const lmdb = openLmdb<Uint8Array, number>({ path: dir, keyEncoding: 'uint32', encoding: 'binary' });
  let seq = 0;
  for await (const { payload } of engine.journal.read({ from: 1n })) {
    if (eventsOnly && viewRecord(0n, payload).kind !== 'event') continue;
    const key = ++seq;
    void lmdb.put(key, payload);
  }
  await lmdb.flushed;
  if (seq !== records) throw new Error(`copied ${seq} records into lmdb, expected ${records}`);
  return lmdb;
}

/** Peak RSS of a child process reading `records` through a consumer (bench/consumer-rss.ts). */
function measureReadRss(dir: string, records: number, settings: BenchSettings): number {
  settings.log(`consumer_read_rss: writing ${records.toLocaleString('en-US')} records, then reading them in a child process`);
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'consumer-rss.js');
  const output = execFileSync(process.execPath, [script, dir, String(records)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const { peakRssMb, readPerSecond } = JSON.parse(output) as { peakRssMb: number; readPerSecond: number };
  settings.log(
    `  consumer_read_rss        peak ${peakRssMb.toFixed(0)} MB reading ${records.toLocaleString('en-US')} records (${Math.round(readPerSecond).toLocaleString('en-US')} records/s) (target < 200 MB)`,
  );
  return peakRssMb;
}

/** An engine whose journal `processes` simulated processes wrote: `records` creates under 100 directories, one operation (an op and an event record) per entry. */
async function writeOpsChangelog(dir: string, records: number, settings: BenchSettings): Promise<Engine> {
  settings.log(`preparing a changelog of ${records.toLocaleString('en-US')} creates by ${OPS_PROCESSES} processes, one operation an entry`);
  const engine = await Engine.open(dir, { store: 'lmdb', sync: 'never' });
  // A consumer that never acknowledges keeps the whole journal, for the readers registered from the oldest record later.
  await engine.consumers.register('ops-keeper', { from: 'oldest' });
  for (let d = 0; d < 100; d++) await engine.fs.mkdir(`/d${d}`);
  const perProcess = records / OPS_PROCESSES;
  await Promise.all(
    Array.from({ length: OPS_PROCESSES }, async (_, p) => {
      for (let i = 0; i < perProcess; i++) {
        const n = p * perProcess + i;
        await engine.fs.create(`/d${n % 100}/file${n}`, {}, { pid: 1000 + p, tid: 1000 + p, uid: 0, gid: 0 });
      }
    }),
  );
  return engine;
}

/** The cases on the application-written journal (see the header). */
function opsCases(engine: Engine, lmdb: ReturnType<typeof openLmdb<Uint8Array, number>>, records: number): BenchCase[] {
  const readAll = async (name: string, filter?: string): Promise<number> => {
    if (engine.consumers.list().some((info) => info.name === name)) await engine.consumers.deregister(name);
    const consumer = await engine.consumers.register(name, { from: 'oldest' });
    if (filter !== undefined) await consumer.attachFilter('path-prefix', filter);
    let count = 0;
    let touched = 0;
    for (let batch = await consumer.read(); batch.length > 0; batch = await consumer.read()) {
      count += batch.length;
      for (const record of batch) touched += (record.path?.length ?? 0) + (record.mask! > 0n ? 1 : 0);
    }
    if (touched === 0 && count > 0) throw new Error('no path read');
    return count;
  };
  // The mkdirs of the 100 directories are events too.
  const events = records + 100;
  return [
    {
      name: 'consumer_read_ops',
      recordsPerCall: events,
      run: async () => {
        const count = await readAll('ops-reader');
        if (count !== events) throw new Error(`read ${count} records, expected ${events}`);
      },
    },
    {
      name: 'lmdb_getrange_ops',
      recordsPerCall: events,
      run: async () => {
        let count = 0;
        let touched = 0;
        for (const { key, value } of lmdb.getRange({})) {
          const record = viewRecord(BigInt(key), value);
          touched += (record.path?.length ?? 0) + (record.mask! > 0n ? 1 : 0);
          count++;
        }
        if (count !== events || touched === 0) throw new Error(`read ${count} records, expected ${events}`);
      },
    },
    {
      name: 'changes_since_ops',
      recordsPerCall: events,
      run: async () => {
        // One entry per object: every file and directory was made once, and the root, where the directories were.
        const { changes, complete } = await engine.changesSince(0n);
        if (!complete || changes.length !== events + 1) throw new Error(`${changes.length} objects changed, expected ${events + 1}`);
      },
    },
    {
      name: 'consumer_filtered_ops',
      recordsPerCall: events,
      run: async () => {
        // /d7 and what is under it: its mkdir event and a hundredth of the creates.
        const count = await readAll('ops-filtered', '/d7');
        if (count !== records / 100 + 1) throw new Error(`kept ${count} records, expected ${records / 100 + 1}`);
      },
    },
  ];
}

/** A changelog of `records` CREATE event records, 1,000 an entry, under 100 directories, written without syncs. */
export async function writeChangelog(dir: string, records: number, settings: BenchSettings | null): Promise<void> {
  settings?.log(`preparing a changelog of ${records.toLocaleString('en-US')} event records`);
  const journal = await Journal.open(dir, { sync: 'never' });
  for (let start = 0; start < records; start += 1000) {
    const entry: Uint8Array[] = [];
    for (let i = start; i < start + 1000; i++) entry.push(createEvent(i));
    await journal.appendEntry(entry);
  }
  await journal.close();
}

/** The bench's event record `i`: the CREATE of `/d<i % 100>/file<i>`, encoded. */
export function createEvent(i: number): Uint8Array {
  return encodeRecord({
    kind: 'event',
    op: 'create',
    time: 1_700_000_000_000_000_000n + BigInt(i),
    mask: FAN_CREATE,
    fid: { ino: i + 2, gen: i + 2 },
    parentFid: { ino: 1, gen: 1 },
    name: `file${i}`,
    path: `/d${i % 100}/file${i}`,
    pid: 100,
    tid: 100,
    uid: 0,
  });
}
