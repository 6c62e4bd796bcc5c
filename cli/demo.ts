/**
 * `fanlog demo` (run by `npm start`): the journal's story in one run, until
 * the engine exists to tell a larger one.
 *
 * 1. Appends records to a journal on disk with sync 'always', from many
 *    concurrent appenders, so group commit shows; reads them back; purges.
 * 2. Simulates a power cut in the middle of appends on MemoryIo, tears the
 *    unsynced writes, recovers, and checks that every acknowledged record
 *    survived and nothing torn was kept.
 * 3. Tears the tail of the real journal as a crash in mid-write would,
 *    reopens, and shows what recovery cut and reported.
 */
import { appendFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { Journal } from '../journal/journal.js';
import type { RecoveryReport } from '../journal/recovery.js';
import { MemoryIo } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';

export interface DemoOptions {
  dir: string;
  records: number;
  seed: number;
}

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const number = (value: number | bigint): string => value.toLocaleString('en-US');

function describeRecovery(report: RecoveryReport): void {
  say(`  recovery: ${number(report.records)} records in ${report.segments} segment(s), ${report.ms.toFixed(1)} ms, ${number(report.truncatedBytes)} bytes cut`);
  for (const repair of report.repairs) say(`    repaired ${path.basename(repair.file)} at byte ${repair.offset}: ${repair.what} (${repair.bytes} bytes)`);
}

async function onDisk(options: DemoOptions): Promise<void> {
  const dir = path.join(options.dir, 'journal');
  rmSync(dir, { recursive: true, force: true });
  say(`1. ${number(options.records)} records of 200 bytes to ${dir} (sync 'always', 64 concurrent appenders)`);
  const journal = await Journal.open(dir, { segmentBytesMax: 4 * 2 ** 20 });
  const payload = new Uint8Array(200).fill(0x66);
  const bar = process.stdout.isTTY ? new SingleBar({ format: '  appending [{bar}] {value}/{total}' }, Presets.shades_classic) : null;
  bar?.start(options.records, 0);
  const started = performance.now();
  const appenders = 64;
  let next = 0;
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (next < options.records) {
        next++;
        await journal.append(payload);
        if (next % 1000 === 0) bar?.update(next);
      }
    }),
  );
  bar?.stop();
  const seconds = (performance.now() - started) / 1000;
  say(`  appended ${number(journal.headSeq)} records in ${seconds.toFixed(2)} s: ${number(Math.round(options.records / seconds))} durable records/s`);
  let read = 0;
  const readStarted = performance.now();
  for await (const record of journal.read()) read += record.payload.length === 200 ? 1 : 0;
  say(`  read back ${number(read)} records in ${((performance.now() - readStarted) / 1000).toFixed(2)} s`);
  const segments = readdirSync(dir).filter((name) => name.endsWith('.seg')).length;
  const purged = await journal.purge(journal.headSeq / 2n);
  say(`  purge through ${number(journal.headSeq / 2n)}: ${purged} of ${segments} segments deleted, firstSeq is now ${number(journal.firstSeq)}`);
  await journal.close();
}

async function simulatedPowerCut(options: DemoOptions): Promise<void> {
  say();
  say(`2. A power cut in the middle of appends, on the simulated disk (seed ${options.seed})`);
  const io = new MemoryIo();
  const prng = new Prng(options.seed);
  const journal = await Journal.open('/demo', { io, segmentBytesMax: 64 * 1024 });
  for (let i = 0; i < 200; i++) await journal.append(prng.bytes(prng.between(10, 500)));
  io.cutPowerAfter(prng.between(5, 60));
  let acknowledged = journal.headSeq;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) {
    const entry = Array.from({ length: prng.between(1, 5) }, () => prng.bytes(prng.between(10, 500)));
    inFlight.push(
      journal.appendEntry(entry).then(
        (seq) => {
          if (seq > acknowledged) acknowledged = seq;
        },
        () => undefined,
      ),
    );
  }
  await Promise.all(inFlight);
  say(`  power cut after ${io.steps} I/O steps; appends acknowledged through seq ${number(acknowledged)}, assigned through ${number(journal.headSeq)}`);
  io.crash(options.seed, 'torn-garbage');
  const recovered = await Journal.open('/demo', { io });
  describeRecovery(recovered.recovery);
  const survived = recovered.headSeq >= acknowledged;
  say(`  every acknowledged record survived: ${survived ? 'yes' : 'NO'}; head is ${number(recovered.headSeq)}`);
  await recovered.close();
  if (!survived) throw new Error('an acknowledged record was lost');
}

async function tornTailOnDisk(options: DemoOptions): Promise<void> {
  say();
  const dir = path.join(options.dir, 'journal');
  const last = readdirSync(dir).filter((name) => name.endsWith('.seg')).sort().at(-1)!;
  say(`3. A write torn by a crash: 300 bytes of garbage after the last entry of ${last}`);
  appendFileSync(path.join(dir, last), new Prng(options.seed).bytes(300));
  const journal = await Journal.open(dir);
  describeRecovery(journal.recovery);
  await journal.close();
  const again = await Journal.open(dir);
  say(`  reopened again: ${again.recovery.repairs.length === 0 ? 'nothing left to repair' : 'repaired again (a bug)'}`);
  await again.close();
}

export async function runJournalDemo(options: DemoOptions): Promise<void> {
  say('fanlog journal demo');
  say();
  await onDisk(options);
  await simulatedPowerCut(options);
  await tornTailOnDisk(options);
}
