/**
 * Consumers suite: how fast a changelog consumer reads, filters and
 * acknowledges (lmdb store).
 *
 * The journal is prepared with N event records (1,000,000; 100,000 with
 * --quick), written straight through the journal so preparation is quick,
 * with paths spread over 100 directories.
 *
 *   consumer_read      one consumer reads all N records, no filter
 *   consumer_filtered  one consumer scans all N with a path-prefix filter keeping 1 in 100
 *   consumers_8        8 consumers read all N concurrently (records/s summed)
 *   consumer_acks      durable acknowledgements, one after another
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeRecord } from '../engine/record/codec.js';
import { Engine } from '../fanlog.js';
import { FAN_CREATE } from '../engine/notify/masks.js';
import { Journal } from '../journal/journal.js';
import { type BenchCase, type BenchSettings, runCases } from './harness.js';

export interface ConsumersSuiteResult {
  suite: 'consumers';
  recordsPerSecond: Record<string, number>;
}

const BATCH = 10_000;

export async function consumersSuite(settings: BenchSettings): Promise<ConsumersSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-consumers-'));
  const records = settings.quick ? 100_000 : 1_000_000;
  try {
    await writeChangelog(path.join(root, 'engine', 'journal'), records, settings);
    const engine = await Engine.open(path.join(root, 'engine'), { store: 'lmdb' });

    const readAll = async (name: string, filter?: string): Promise<number> => {
      if (engine.consumers.list().some((info) => info.name === name)) await engine.consumers.deregister(name);
      const consumer = await engine.consumers.register(name);
      if (filter !== undefined) await consumer.attachFilter('path-prefix', filter);
      let count = 0;
      for (let batch = await consumer.read({ max: BATCH }); batch.length > 0; batch = await consumer.read({ max: BATCH })) count += batch.length;
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
    settings.log(`consumers suite (${settings.quick ? 'quick' : 'full'}): lmdb store`);
    const rates = await runCases(cases, settings);
    settings.log('  consumer_read                       target >= 2,000,000 records/s');
    settings.log('  consumer_filtered (records scanned) target >= 5,000,000 records/s');
    await engine.close();
    return { suite: 'consumers', recordsPerSecond: rates };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A changelog of `records` CREATE event records, 1,000 an entry, under 100 directories, written without syncs. */
async function writeChangelog(dir: string, records: number, settings: BenchSettings): Promise<void> {
  settings.log(`preparing a changelog of ${records.toLocaleString('en-US')} event records`);
  const journal = await Journal.open(dir, { sync: 'never' });
  for (let start = 0; start < records; start += 1000) {
    const entry: Uint8Array[] = [];
    for (let i = start; i < start + 1000; i++) {
      entry.push(
        encodeRecord({
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
        }),
      );
    }
    await journal.appendEntry(entry);
  }
  await journal.close();
}
