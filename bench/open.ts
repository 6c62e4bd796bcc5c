/**
 * open_10m: how long `Engine.open` takes on an engine that retains N
 * records (10,000,000; 1,000,000 with --quick) because a consumer lags at
 * the oldest, once after a clean close and once after a SIGKILL with the
 * last segment torn. Opening must not read what it retains: the journal's
 * recovery point vouches for sealed segments, the checkpoint for the state.
 *
 * open_inodes: how long `Engine.open` takes when the checkpoint holds N
 * files (200,000; 20,000 with --quick) and the journal nothing after it:
 * the cost of loading the state, whatever the journal retains.
 *
 * The changelog is written straight through the journal (as the consumers
 * suite does), opened once (a full replay), closed; then timed. For the
 * kill, a child process (bench/open-child.ts) opens the engine and runs
 * durable operations until it is killed with SIGKILL by its pid; then bytes
 * of a torn write are appended to the last segment.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../fanlog.js';
import { writeChangelog } from './consumers.js';
import type { BenchSettings } from './harness.js';

export interface OpenTimes {
  records: number;
  cleanMs: number;
  killedMs: number;
  /** Records replayed by the open after the kill (those after the last checkpoint). */
  killedReplayed: number;
}

export async function measureOpen(dir: string, records: number, settings: BenchSettings): Promise<OpenTimes> {
  settings.log(`open_10m: writing ${records.toLocaleString('en-US')} records retained by a lagging consumer`);
  await writeChangelog(path.join(dir, 'journal'), records, null);
  const first = await Engine.open(dir, { store: 'lmdb' });
  await first.consumers.register('lagging');
  await first.close();

  let started = performance.now();
  const clean = await Engine.open(dir, { store: 'lmdb' });
  const cleanMs = performance.now() - started;
  const { trustedSegments, segments } = clean.journal.recovery;
  await clean.close();
  settings.log(
    `  open_10m (clean close)   ${cleanMs.toFixed(0)} ms, ${trustedSegments} of ${segments} segments taken from the recovery point (target < 1,000 ms)`,
  );

  await runUntilKilled(dir);
  const journalDir = path.join(dir, 'journal');
  const last = readdirSync(journalDir)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .at(-1)!;
  appendFileSync(path.join(journalDir, last), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 9, 9]));
  started = performance.now();
  const killed = await Engine.open(dir, { store: 'lmdb' });
  const killedMs = performance.now() - started;
  const killedReplayed = killed.recovery.replayedRecords;
  const truncated = killed.journal.recovery.truncatedBytes;
  await killed.close();
  settings.log(
    `  open_10m (SIGKILL, torn) ${killedMs.toFixed(0)} ms, ${killedReplayed.toLocaleString('en-US')} records replayed, ${truncated} torn bytes cut (target < 1,000 ms)`,
  );
  return { records, cleanMs, killedMs, killedReplayed };
}

/** Runs bench/open-child.js on `dir` until it has done some operations, then kills it with SIGKILL. */
function runUntilKilled(dir: string): Promise<void> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'open-child.js');
  const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('ready\n')) process.kill(child.pid!, 'SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`open-child exited with ${code ?? signal} before it was killed`))));
  });
}

/** open_inodes: opens of an engine whose checkpoint holds `files` files (and directories of 1,000), three times. */
export async function measureOpenInodes(dir: string, files: number, settings: BenchSettings): Promise<number[]> {
  settings.log(`open_inodes: creating ${files.toLocaleString('en-US')} files, then a checkpoint`);
  const writer = await Engine.open(dir, { store: 'lmdb', sync: 'never' });
  for (let d = 0; d * 1000 < files; d++) {
    await writer.fs.mkdir(`/d${d}`);
    await Promise.all(Array.from({ length: Math.min(999, files - d * 1000) }, (_, i) => writer.fs.create(`/d${d}/f${i}`)));
  }
  await writer.close();
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    const engine = await Engine.open(dir, { store: 'lmdb' });
    times.push(performance.now() - started);
    const inodes = engine.state.inodes.size;
    await engine.close({ checkpoint: false });
    if (round === 2) {
      const shown = times.map((ms) => `${ms.toFixed(0)} ms`).join(' / ');
      settings.log(
        `  open_inodes              ${shown} with ${inodes.toLocaleString('en-US')} inodes in the checkpoint (${((1000 * Math.min(...times)) / inodes).toFixed(1)} µs per inode at best)`,
      );
    }
  }
  return times;
}
