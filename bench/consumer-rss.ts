/**
 * `node dist/bench/consumer-rss.js DIR RECORDS`: writes RECORDS event
 * records into a fresh engine directory DIR, then reads them all through a
 * consumer in batches of 1,000 (`path` and `mask` read from each), and
 * prints `{"peakRssMb":…,"readPerSecond":…}`: the process's peak RSS while
 * reading, sampled after every batch. Run in a child process by the
 * consumers suite, so that nothing else the suite holds counts.
 */
import path from 'node:path';
import { Engine } from '../fanlog.js';
import { writeChangelog } from './consumers.js';

const [dir, recordsText] = process.argv.slice(2);
const records = Number(recordsText);
if (dir === undefined || !Number.isSafeInteger(records) || records <= 0 || records % 1000 !== 0) {
  process.stderr.write('usage: node dist/bench/consumer-rss.js DIR RECORDS   (RECORDS a multiple of 1,000)\n');
  process.exit(2);
}
await writeChangelog(path.join(dir, 'journal'), records, null);
const engine = await Engine.open(dir, { store: 'lmdb' });
const consumer = await engine.consumers.register('rss');
let peak = process.memoryUsage.rss();
let count = 0;
let touched = 0;
const started = performance.now();
for (let batch = await consumer.read(); batch.length > 0; batch = await consumer.read()) {
  count += batch.length;
  for (const record of batch) touched += record.path!.length + (record.mask! > 0n ? 1 : 0);
  peak = Math.max(peak, process.memoryUsage.rss());
}
const seconds = (performance.now() - started) / 1000;
await engine.close();
if (count !== records || touched === 0) throw new Error(`read ${count} records, expected ${records}`);
process.stdout.write(`${JSON.stringify({ peakRssMb: peak / 2 ** 20, readPerSecond: count / seconds })}\n`);
