/**
 * Lock-free inspection while the writer purges (issue 26, C1). A child
 * process (crash/inspect-writer.ts) holds an lmdb engine with 4 KiB
 * segments and a checkpoint every 24 records, and has a consumer
 * acknowledge as it churns files, so that segments are created and deleted
 * all the time. Beside it, until it has closed the engine, `stat` and
 * `consumers list` (inspect) and `tail` (readChangelog) run in a loop, in
 * this process and as the real binary. Each read must give a view or a
 * FanlogError (EPURGED: what it was reading is gone); never a raw error
 * such as the ENOENT of a segment deleted between listing and reading it.
 * The loop ends when the writer exits, not after a time.
 *
 * Also beside a store that grows: the lmdb file check a read-only open
 * makes must not take a commit that extends the file during the check for
 * a truncated file (ECORRUPT) when the store is sound.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { inspect, readChangelog } from '../../cli/inspect.js';
import { type NodeChild, startNodeChild, tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const WRITER = fileURLToPath(new URL('../../dist/crash/inspect-writer.js', import.meta.url));
const GROWER = fileURLToPath(new URL('./grow-store-child.mjs', import.meta.url));

const writers: NodeChild[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) {
    writer.child.kill('SIGKILL');
    await writer.exited;
  }
});

/** The real binary, asynchronously (the writer keeps running meanwhile). */
function fanlog(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

/** What a lock-free read ended with: 'ok', a FanlogError's code, or the raw error's text (a bug). */
async function outcome(read: () => Promise<unknown>): Promise<string> {
  try {
    await read();
    return 'ok';
  } catch (error) {
    if (error instanceof FanlogError) return error.code;
    return `raw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
}

it('stat, consumers list and tail beside a writer that purges give a view or EPURGED, never a raw error', async () => {
  const dir = path.join(tempDir(), 'engine');
  const writer = await startNodeChild(WRITER, [dir, '7', '1500', 'close']);
  writers.push(writer);
  let running = true;
  void writer.exited.then(() => (running = false));
  const outcomes: Record<string, string[]> = { stat: [], tail: [] };
  const cliRuns: { args: string; status: number | null; stderr: string }[] = [];
  const inProcess = (async () => {
    while (running) {
      outcomes.stat!.push(await outcome(() => inspect(dir)));
      outcomes.tail!.push(await outcome(() => readChangelog(dir, undefined, undefined, () => undefined)));
    }
  })();
  const binary = (async () => {
    const commands = [['stat'], ['consumers', 'list'], ['tail']];
    for (let i = 0; running; i++) {
      const args = commands[i % commands.length]!;
      const run = await fanlog(...args, '--dir', dir);
      cliRuns.push({ args: args.join(' '), status: run.status, stderr: run.stderr });
    }
  })();
  await Promise.all([inProcess, binary]);
  const raw = [...outcomes.stat!, ...outcomes.tail!].filter((result) => result.startsWith('raw: '));
  expect(raw).toEqual([]);
  for (const [reader, results] of Object.entries(outcomes)) {
    expect(
      results.filter((result) => result !== 'ok' && result !== 'EPURGED'),
      reader,
    ).toEqual([]);
    expect(results.filter((result) => result === 'ok').length, reader).toBeGreaterThan(0);
  }
  // The binary: exit 0, or 1 with `fanlog: EPURGED: ...` and no stack trace.
  for (const run of cliRuns) {
    expect(run.stderr, run.args).not.toMatch(/^\s+at /m);
    expect(run.status === 0 || (run.status === 1 && /^fanlog: EPURGED: /.test(run.stderr)), `${run.args}: ${run.status} ${run.stderr}`).toBe(true);
  }
  expect(cliRuns.length).toBeGreaterThan(2);
});

it('stat and tail beside an lmdb store whose file grows with every commit are never ECORRUPT', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/a');
  await engine.close();
  const grower = await startNodeChild(GROWER, [dir, '6000']);
  writers.push(grower);
  let running = true;
  void grower.exited.then(() => (running = false));
  const results: string[] = [];
  while (running) {
    results.push(await outcome(() => inspect(dir)));
    results.push(await outcome(() => readChangelog(dir, undefined, undefined, () => undefined)));
  }
  expect(results.filter((result) => result !== 'ok')).toEqual([]);
  expect(results.length).toBeGreaterThan(10);
});
