/**
 * Journal suite: fanlog's durable append and read against what a user would
 * otherwise pick, doing the same durable work in the same run, with
 * 200-byte payloads.
 *
 *   fanlog_batch    Journal.appendEntry of 1,000 records, sync 'always', awaited one after another
 *   raw_batch       node:fs: one write of the same 200,000 bytes plus fdatasync (the physical limit)
 *   lmdb_batch      lmdb: transactionSync putting 1,000 records (synced commit)
 *   level_batch     level (classic-level, LevelDB): batch of 1,000 puts with sync: true
 *   fanlog_single   one appender, one record per append, each awaited
 *   fanlog_group64  64 concurrent appenders, one record each, all awaited (group commit)
 *   fanlog_read     Journal.read of 1,000,000 records (100,000 with --quick)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { open as openLmdb } from 'lmdb';
import { Journal } from '../journal/journal.js';
import { type BenchCase, type BenchSettings, measureTargets, ratio, runCases, type Targets } from './harness.js';

const PAYLOAD_BYTES = 200;
const BATCH_RECORDS = 1000;
const GROUP_APPENDERS = 64;

export interface JournalSuiteResult {
  suite: 'journal';
  recordsPerSecond: Record<string, number>;
  /** The write path's targets, measured side by side (runSideBySide): each ratio and its target. */
  targets: Targets;
}

/** Issue 12's journal targets: [case, the physical limit it is held to, target ratio]. */
const TARGETS: [string, string, number][] = [
  ['fanlog_batch', 'raw_batch', 0.85],
  ['fanlog_group64', 'raw_64', 0.8],
];

export async function journalSuite(settings: BenchSettings): Promise<JournalSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-'));
  const payloads = Array.from({ length: BATCH_RECORDS }, () => randomBytes(PAYLOAD_BYTES));
  const batchBytes = Buffer.concat(payloads);
  const readRecords = settings.quick ? 100_000 : 1_000_000;
  try {
    const journal = await Journal.open(path.join(root, 'fanlog'), { sync: 'always' });
    const others = await baselineCases(root, payloads, batchBytes);

    settings.log(`preparing a journal of ${readRecords.toLocaleString('en-US')} records to read`);
    const readJournal = await Journal.open(path.join(root, 'fanlog-read'), { sync: 'never' });
    for (let i = 0; i < readRecords / BATCH_RECORDS; i++) await readJournal.appendEntry(payloads);
    await readJournal.close();
    const reader = await Journal.open(path.join(root, 'fanlog-read'));

    const cases: BenchCase[] = [
      { name: 'fanlog_batch', recordsPerCall: BATCH_RECORDS, run: () => journal.appendEntry(payloads) },
      ...others.cases,
      { name: 'fanlog_single', recordsPerCall: 1, run: () => journal.append(payloads[0]!) },
      {
        name: 'fanlog_group64',
        recordsPerCall: GROUP_APPENDERS,
        run: () => Promise.all(Array.from({ length: GROUP_APPENDERS }, (_, i) => journal.append(payloads[i]!))),
      },
      {
        name: 'fanlog_read',
        recordsPerCall: readRecords,
        run: async () => {
          let count = 0;
          for await (const record of reader.read()) count += record.payload.length === PAYLOAD_BYTES ? 1 : 0;
          if (count !== readRecords) throw new Error(`read ${count} records, expected ${readRecords}`);
        },
      },
    ];
    settings.log(`journal suite (${settings.quick ? 'quick' : 'full'}): ${PAYLOAD_BYTES}-byte payloads, durable writes`);
    const rates = await runCases(cases, settings);
    logRatios(rates, settings);
    const targets = await measureTargets(cases, TARGETS, settings);
    await journal.close();
    await reader.close();
    await others.close();
    return { suite: 'journal', recordsPerSecond: rates, targets };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** What a user would otherwise use, writing the same batches durably: raw `fs` with fdatasync (the physical limit), LMDB, LevelDB. */
async function baselineCases(root: string, payloads: Uint8Array[], batchBytes: Buffer): Promise<{ cases: BenchCase[]; close: () => Promise<void> }> {
  const raw = await fsp.open(path.join(root, 'raw.log'), 'a');
  let rawPosition = 0;
  /** Raw `fs`: `bytes` appended with one write and one fdatasync per call. */
  const rawCase = (name: string, bytes: Uint8Array, recordsPerCall: number): BenchCase => ({
    name,
    recordsPerCall,
    run: async () => {
      await raw.write(bytes, 0, bytes.length, rawPosition);
      rawPosition += bytes.length;
      await raw.datasync();
    },
  });
  const lmdb = openLmdb({ path: path.join(root, 'lmdb'), keyEncoding: 'uint32', encoding: 'binary' });
  let lmdbKey = 0;
  const level = new Level<number, Uint8Array>(path.join(root, 'level'), { keyEncoding: 'binary', valueEncoding: 'view' });
  await level.open();
  let levelKey = 0;
  const levelKeyBytes = (key: number): Buffer => {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(BigInt(key));
    return bytes;
  };
  const cases: BenchCase[] = [
    rawCase('raw_batch', batchBytes, BATCH_RECORDS),
    // The physical limit of group commit: the 64 records fanlog_group64 gathers, in one write and one fdatasync.
    rawCase('raw_64', batchBytes.subarray(0, GROUP_APPENDERS * PAYLOAD_BYTES), GROUP_APPENDERS),
    {
      name: 'lmdb_batch',
      recordsPerCall: BATCH_RECORDS,
      run: async () => {
        lmdb.transactionSync(() => {
          // Inside transactionSync a put is part of the one synchronous commit; its promise adds nothing.
          for (const payload of payloads) void lmdb.put(++lmdbKey, payload);
        });
      },
    },
    {
      name: 'level_batch',
      recordsPerCall: BATCH_RECORDS,
      run: () =>
        level.batch(
          payloads.map((payload) => ({ type: 'put' as const, key: levelKeyBytes(++levelKey) as never, value: payload })),
          { sync: true },
        ),
    },
  ];
  const close = async (): Promise<void> => {
    await raw.close();
    await lmdb.close();
    await level.close();
  };
  return { cases, close };
}

function logRatios(rates: Record<string, number>, settings: BenchSettings): void {
  settings.log('ratios:');
  settings.log(`  fanlog_batch / lmdb_batch       ${ratio(rates.fanlog_batch, rates.lmdb_batch)}  (target >= 3x)`);
  settings.log(`  fanlog_batch / level_batch      ${ratio(rates.fanlog_batch, rates.level_batch)}  (target >= 5x)`);
  settings.log(`  fanlog_batch / raw_batch        ${ratio(rates.fanlog_batch, rates.raw_batch)}  (target >= 0.85x)`);
  settings.log(`  fanlog_group64 / fanlog_single  ${ratio(rates.fanlog_group64, rates.fanlog_single)}  (target >= 10x)`);
  settings.log(`  fanlog_group64 / raw_64         ${ratio(rates.fanlog_group64, rates.raw_64)}  (target >= 0.8x)`);
  settings.log(`  fanlog_read                     ${Math.round(rates.fanlog_read ?? 0).toLocaleString('en-US')} records/s (target >= 3,000,000)`);
}
