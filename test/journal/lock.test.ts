/**
 * The directory lock is exclusive across processes and across worker
 * threads of one process, with no takeover window: after a holder is
 * SIGKILLed, processes racing to open the directory get it one at a time,
 * and every record each of them appended is in the journal afterwards; two
 * worker threads of one process never both hold an engine.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { Journal } from '../../journal/index.js';
import { readAll, rejection, tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./lock-child.mjs', import.meta.url));
const WORKER = new URL('./lock-worker.mjs', import.meta.url);

/** Runs the child; resolves with the lines it printed once it has exited. */
function child(dir: string, mode: 'hold' | 'race', onLine: (line: string, kill: () => void) => void = () => undefined): Promise<string[]> {
  const process_ = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: process_.stdout }).on('line', (line) => {
    lines.push(line);
    onLine(line, () => process_.kill('SIGKILL'));
  });
  return new Promise((resolve) => process_.once('close', () => resolve(lines)));
}

describe('the directory lock', () => {
  it('lets racing processes in one at a time after its holder was SIGKILLed, losing no record', async () => {
    const dir = tempDir();
    let opened = 0;
    for (let round = 0; round < 6; round++) {
      // A holder dies without releasing anything.
      await child(dir, 'hold', (line, kill) => {
        if (line === 'open') kill();
      });
      const racers = await Promise.all(Array.from({ length: 6 }, () => child(dir, 'race')));
      for (const lines of racers) {
        expect(lines[0] === 'busy' || (lines[0] === 'open' && lines[1] === 'done'), lines.join(',')).toBe(true);
        if (lines[0] === 'open') opened++;
      }
    }
    const journal = await Journal.open(dir);
    expect(journal.recovery.repairs).toEqual([]);
    const records = await readAll(journal);
    expect(records.length).toBe(opened * 100);
    // Each process's 100 records are one run: no one interleaved with another.
    const writers = records.map((record) => new TextDecoder().decode(record.payload).split(' ')[0]);
    for (let i = 0; i < writers.length; i += 100) expect(new Set(writers.slice(i, i + 100)).size).toBe(1);
    await journal.close();
  });

  it('lets only one of two worker threads of one process hold an engine', async () => {
    const dir = tempDir();
    const workers = [new Worker(WORKER, { workerData: { dir } }), new Worker(WORKER, { workerData: { dir } })];
    const first = await Promise.all(workers.map((worker) => new Promise<string>((resolve) => worker.once('message', resolve))));
    expect(first.sort()).toEqual(['EBUSY', 'open']);
    // And this thread cannot open it either, while a worker holds it.
    expect((await rejection(() => Engine.open(dir))).code).toBe('EBUSY');
    await Promise.all(
      workers.map(async (worker) => {
        const closed = new Promise((resolve) => worker.once('message', resolve));
        worker.postMessage('close');
        await closed;
        await worker.terminate();
      }),
    );
    const engine = await Engine.open(dir);
    await engine.close();
  });
});
