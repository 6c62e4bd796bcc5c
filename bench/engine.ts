/**
 * Engine suite: durable filesystem operations per second for a
 * metadata-heavy mix, and recovery time.
 *
 * The mix, per simulated process in its own directory, cycles through
 * create, open, write, close, rename, setxattr, unlink: seven operations,
 * about 2.3 events each, every one durable (sync 'always', lmdb store)
 * before it resolves.
 *
 *   engine_ops_1        one process, one operation awaited at a time
 *   engine_ops_64       64 concurrent processes (group commit)
 *   journal_records_64  the journal alone: 64 concurrent appenders of
 *                       3-record entries of 60-byte records, in records/s
 *   journal_single      the journal alone, as fanlog_single: one 200-byte
 *                       record per append, each awaited (the reference of
 *                       engine_ops_1: one durable entry per operation)
 *   journal_group64     the journal alone, as fanlog_group64: 64 concurrent
 *                       single-record appends (the reference of engine_ops_64)
 *
 * The targets compare each engine case with its reference side by side
 * (harness.ts `measureTargets`), since the disk's latency drifts.
 *
 * Recovery is timed directly (it is one long event, not a rate): a journal
 * of N operations (1,000,000; 100,000 with --quick) is reopened once with no
 * checkpoint (full replay: replay_1m) and once after a checkpoint; and
 * open_10m (bench/open.ts): opening an engine that retains 10 M records;
 * open_inodes: opening one whose checkpoint holds 200,000 files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine } from '../fanlog.js';
import { Journal } from '../journal/journal.js';
import { CountingIo, countOverlap } from './overlap.js';
import { measureOpen, measureOpenInodes, type OpenTimes } from './open.js';
import { type BenchCase, type BenchSettings, measureTargets, ratio, runCases, selected, type Targets } from './harness.js';

const PROCESSES = 64;

export interface EngineSuiteResult {
  suite: 'engine';
  /** Operations/s for engine_*, records/s for journal_*. */
  recordsPerSecond: Record<string, number>;
  recoveryMs: { fullReplay: number; fromCheckpoint: number; operations: number; replayedRecords: number };
  /** open_10m: NaN-free only when measured. */
  open: OpenTimes | null;
  /** open_inodes: three opens of an engine whose checkpoint holds 200,000 files (null when not measured). */
  openInodesMs: number[] | null;
  targets: Targets;
}

/** Issue 12's engine targets: [case, its reference, target ratio]. */
const TARGETS: [string, string, number][] = [
  ['engine_ops_64', 'journal_group64', 0.8],
  ['engine_ops_1', 'journal_single', 0.8],
];

/** One simulated process cycling through the mix; `step()` runs its next operation. */
export class MixProcess {
  #step_ = 0;
  #fd = -1;
  readonly #dir: string;
  #cycle = 0;

  readonly #engine: Engine;
  readonly #pid: number;
  constructor(engine: Engine, pid: number) {
    this.#pid = pid;
    this.#engine = engine;
    this.#dir = `/p${pid}`;
  }

  async setup(): Promise<void> {
    await this.#engine.fs.mkdir(this.#dir);
  }

  async step(): Promise<void> {
    const fs = this.#engine.fs;
    const ctx = { pid: this.#pid };
    const file = `${this.#dir}/f${this.#cycle}`;
    const moved = `${this.#dir}/g${this.#cycle}`;
    switch (this.#step_++ % 7) {
      case 0:
        return fs.create(file, { size: 0 }, ctx);
      case 1:
        this.#fd = await fs.open(file, 'w', {}, ctx);
        return;
      case 2:
        await fs.write(this.#fd, 0, 4096, ctx);
        return;
      case 3:
        return fs.close(this.#fd, ctx);
      case 4:
        return fs.rename(file, moved, ctx);
      case 5:
        return fs.setxattr(moved, 'user.backup', new Uint8Array(8), ctx);
      default:
        this.#cycle++;
        return fs.unlink(moved, ctx);
    }
  }
}

export async function engineSuite(settings: BenchSettings): Promise<EngineSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-engine-'));
  try {
    const io = new CountingIo();
    const engine = await Engine.open(path.join(root, 'engine'), { store: 'lmdb', io });
    io.watch(() => engine.journal.headSeq);
    const single = new MixProcess(engine, 1);
    await single.setup();
    const many = Array.from({ length: PROCESSES }, (_, i) => new MixProcess(engine, 100 + i));
    for (const process of many) await process.setup();
    const journal = await Journal.open(path.join(root, 'journal'));
    const record = randomBytes(60);
    const payload = randomBytes(200);

    const cases: BenchCase[] = [
      { name: 'engine_ops_1', recordsPerCall: 1, unit: 'operations', run: () => single.step() },
      { name: 'engine_ops_64', recordsPerCall: PROCESSES, unit: 'operations', run: () => Promise.all(many.map((p) => p.step())) },
      {
        name: 'journal_records_64',
        recordsPerCall: PROCESSES * 3,
        run: () => Promise.all(Array.from({ length: PROCESSES }, () => journal.appendEntry([record, record, record]))),
      },
      { name: 'journal_single', recordsPerCall: 1, run: () => journal.append(payload) },
      { name: 'journal_group64', recordsPerCall: PROCESSES, run: () => Promise.all(Array.from({ length: PROCESSES }, () => journal.append(payload))) },
    ];
    settings.log(`engine suite (${settings.quick ? 'quick' : 'full'}): durable operations/s (sync 'always', lmdb store)`);
    const rates = await runCases(cases, settings);
    settings.log(`  engine_ops_64 / engine_ops_1          ${ratio(rates.engine_ops_64, rates.engine_ops_1)}`);
    settings.log(`  engine_ops_64                         target >= 100,000 operations/s`);
    const targets = await measureTargets(cases, TARGETS, settings);
    if (selected(settings, 'overlap')) await countOverlap('engine_ops_64', io, () => Promise.all(many.map((p) => p.step())), settings);
    await engine.close();
    await journal.close();

    const operations = settings.quick ? 100_000 : 1_000_000;
    const recovery = selected(settings, 'recovery')
      ? await measureRecovery(path.join(root, 'recovery'), operations, settings)
      : { fullReplay: NaN, fromCheckpoint: NaN, replayedRecords: 0 };
    const open = selected(settings, 'open_10m') ? await measureOpen(path.join(root, 'open'), settings.quick ? 1_000_000 : 10_000_000, settings) : null;
    const openInodesMs = selected(settings, 'open_inodes')
      ? await measureOpenInodes(path.join(root, 'inodes'), settings.quick ? 20_000 : 200_000, settings)
      : null;
    return { suite: 'engine', recordsPerSecond: rates, recoveryMs: { ...recovery, operations }, open, openInodesMs, targets };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measureRecovery(
  dir: string,
  operations: number,
  settings: BenchSettings,
): Promise<{ fullReplay: number; fromCheckpoint: number; replayedRecords: number }> {
  settings.log(`recovery: writing ${operations.toLocaleString('en-US')} operations with no checkpoint`);
  const writer = await Engine.open(dir, { store: 'lmdb', sync: 'never', checkpointEveryRecords: 2 ** 40 });
  const processes = Array.from({ length: PROCESSES }, (_, i) => new MixProcess(writer, 100 + i));
  for (const process of processes) await process.setup();
  for (let done = 0; done < operations; done += PROCESSES) await Promise.all(processes.map((p) => p.step()));
  // Leave without the close-time checkpoint, as a crash would.
  await writer.close({ checkpoint: false });

  let started = performance.now();
  const replayed = await Engine.open(dir, { store: 'lmdb', checkpointEveryRecords: 2 ** 40 });
  const fullReplay = performance.now() - started;
  const replayedRecords = replayed.recovery.replayedRecords;
  const perSecond = Math.round(replayedRecords / (fullReplay / 1000)).toLocaleString('en-US');
  settings.log(
    `  replay_1m: full replay of ${replayedRecords.toLocaleString('en-US')} records: ${fullReplay.toFixed(0)} ms, ${perSecond} records/s (target >= 1,000,000 records/s)`,
  );
  await replayed.checkpoint();
  await replayed.close({ checkpoint: false });

  started = performance.now();
  const fromCheckpoint = await Engine.open(dir, { store: 'lmdb' });
  const checkpointMs = performance.now() - started;
  settings.log(`  from a recent checkpoint (${fromCheckpoint.recovery.replayedRecords} records replayed): ${checkpointMs.toFixed(0)} ms (target < 1,000 ms)`);
  await fromCheckpoint.close();
  return { fullReplay, fromCheckpoint: checkpointMs, replayedRecords };
}
