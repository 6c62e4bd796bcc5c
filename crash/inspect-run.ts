/**
 * The campaign's `inspect` runs: lock-free inspection (what `fanlog stat`,
 * `consumers list`, `tail` and `export` run) beside a real writer, and
 * after it, on a real disk (invariant 6: nothing is skipped silently, by
 * any reader; 1 and 4 where the view shows the journal and the cursors).
 *
 * A run: an engine directory under `base`; a writer child process
 * (crash/inspect-writer.ts: 4 KiB segments, a checkpoint every 24 records,
 * a consumer acknowledging, so that segments are made and purged all the
 * time) runs a seeded churn while this process races the readers against
 * it: `inspect` (stat, consumers list) and `readChangelog` (tail, export),
 * and now and then the real binary. Then one of, by the run's seed:
 *
 *   race      the writer takes a checkpoint and closes the engine;
 *   kill      the writer is SIGKILLed once it has made a seeded number of
 *             operations durable (a condition, not a time);
 *   damage    the writer closes as in `race`, and the newest segment is
 *             damaged: a flipped byte, a zeroed range or a cut in its
 *             entries, a damaged header, the segment deleted (all below
 *             the seq the store saw durable), or garbage appended after
 *             its last entry (above it).
 *
 * What is checked (crash/inspect-checks.ts): every view is consistent
 * (head >= first - 1; the head reaches what the writer had made durable
 * before the view began; every cursor within the journal and at least the
 * consumer's last resolved acknowledgement; the durable seq, when given,
 * is the head); every read is in seq order without a gap from where it
 * started and reaches the durable seq; every failure is a FanlogError, and
 * the only one a run without damage may give is EPURGED. After the writer
 * ends, the view is what the engine opened read-only recovers (head and
 * cursor). After damage below the durable seq, every reader is ECORRUPT
 * naming the damaged file and an offset at or before the damage, the view
 * flags it, and the records a read gave before it are whole; garbage
 * above it is an unfinished entry, never ECORRUPT, and the read is whole.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inspect } from '../cli/inspect.js';
import { Engine } from '../fanlog.js';
import { Prng } from '../journal/prng.js';
import { checkAfterDamage, checkCliRun, checkInspection, checkRead, planDamage, type ReadResult, readAll } from './inspect-checks.js';
import { Model } from './model.js';
import type { RunResult } from './real-disk.js';

/** A compiled file of this package (next to this one once built; in dist/ when this runs from source). */
function compiled(relative: string): string {
  const here = fileURLToPath(import.meta.url);
  const base = here.endsWith('.ts') ? path.join(path.dirname(here), '..', 'dist', 'crash') : path.dirname(here);
  return path.join(base, relative);
}

const SCENARIOS = ['race', 'kill', 'damage', 'damage'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Writer {
  child: ChildProcess;
  /** Resolves once the writer has exited and every line it printed is in the model. */
  exited: Promise<void>;
  done: boolean;
  /** Operations the writer reported durable so far. */
  durableLines: number;
  /** The head the writer closed at (its store saw it durable); null unless it closed. */
  closedSeq: bigint | null;
  stderr: () => string;
  /** Resolves once `durableLines` reaches `count` (or the writer exited). */
  reached(count: number): Promise<void>;
}

function startWriter(dir: string, seed: number, ops: number, end: 'close' | 'hold', model: Model): Promise<Writer | null> {
  const child = spawn(process.execPath, [compiled('inspect-writer.js'), dir, String(seed), String(ops), end], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let waiter: { count: number; resolve: () => void } | null = null;
  let ready: (writer: Writer | null) => void = () => undefined;
  const writer: Writer = {
    child,
    exited: new Promise((resolve) => child.once('close', () => resolve())),
    done: false,
    durableLines: 0,
    closedSeq: null,
    stderr: () => stderr.trim(),
    reached: (count) => (writer.done || writer.durableLines >= count ? Promise.resolve() : new Promise((resolve) => (waiter = { count, resolve }))),
  };
  void writer.exited.then(() => {
    writer.done = true;
    waiter?.resolve();
    ready(null);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [what, a, b] = line.split(' ');
    if (what === 'ready') ready(writer);
    else if (what === 'durable') {
      model.durable(BigInt(a!));
      writer.durableLines++;
      if (waiter !== null && writer.durableLines >= waiter.count) waiter.resolve();
    } else if (what === 'acked') model.acked(a!, BigInt(b!));
    else if (what === 'closed') writer.closedSeq = BigInt(a!);
  });
  return new Promise((resolve) => (ready = resolve));
}

/** Runs the binary; resolves with how it ended. */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [compiled('../cli/main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

export async function inspectRun(runSeed: number, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const scenario: Scenario = prng.pick(SCENARIOS);
  const ops = prng.between(60, 200);
  const killAfter = prng.between(10, ops);
  const damagePrng = new Prng(runSeed ^ 0xda3a6e);
  const cliDuringRace = prng.chance(0.5)
    ? prng.pick([
        ['stat', '--json'],
        ['tail', '--json'],
        ['consumers', 'list', '--json'],
      ])
    : null;
  const root = mkdtempSync(path.join(base, 'fanlog-inspect-'));
  const dir = path.join(root, 'engine');
  let label = `inspect:${scenario}`;
  let injected = true;
  const writer = await startWriter(dir, runSeed, ops, scenario === 'kill' ? 'hold' : 'close', model);
  try {
    if (writer === null) {
      model.violation(0, 'the writer exited before it was ready');
      return { fault: label, injected: false, model };
    }
    const racing = race(dir, new Prng(runSeed ^ 0x7ead), writer, model, cliDuringRace);
    if (scenario === 'kill') {
      await writer.reached(killAfter);
      writer.child.kill('SIGKILL');
    }
    await writer.exited;
    await racing;
    if (scenario !== 'kill' && writer.closedSeq === null) model.violation(0, `the writer failed: ${writer.stderr()}`);
    await checkAfterWriter(dir, model, scenario === 'kill');
    if (scenario === 'damage') {
      const plan = planDamage(damagePrng, dir);
      if (plan === null) injected = false;
      else {
        label = `inspect:damage-${plan.kind}`;
        await checkAfterDamage(dir, plan, writer.closedSeq ?? model.durableSeq, model, damagePrng.chance(0.35) ? runCli : null);
      }
    }
  } catch (error) {
    model.violation(0, `the inspect run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    if (writer !== null && !writer.done) writer.child.kill('SIGKILL');
    await writer?.exited;
    rmSync(root, { recursive: true, force: true });
  }
  return { fault: label, injected, model };
}

/** The readers, in turn, until the writer has exited: in-process, and the binary once when `cli` is given. */
async function race(dir: string, prng: Prng, writer: Writer, model: Model, cli: string[] | null): Promise<void> {
  let cliRun: Promise<void> | null = null;
  while (!writer.done) {
    const before = { durable: model.durableSeq, acks: new Map(model.acks) };
    if (prng.chance(0.5)) {
      checkInspection(model, await outcome(() => inspect(dir)), before, { live: true });
    } else {
      // Mostly from the oldest retained record; sometimes from just after the consumer's acknowledgement.
      const from = prng.chance(0.3) ? (model.acks.get('backup') ?? 0n) + 1n : undefined;
      checkRead(model, await readAll(dir, from), before, { live: true });
    }
    if (cli !== null && cliRun === null && writer.durableLines > 10) {
      const args = [...cli, '--dir', dir];
      cliRun = runCli(args).then((run) => checkCliRun(model, args, run, before));
    }
  }
  await cliRun;
}

/** A view, or the error it failed with. */
async function outcome<T>(work: () => Promise<T>): Promise<T | { error: unknown }> {
  try {
    return await work();
  } catch (error) {
    return { error };
  }
}

/**
 * Once the writer has ended (closed, or killed): the view and a whole read
 * must be consistent and reach what it made durable, and show what the
 * engine, opened read-only, recovers: the same head and cursor.
 */
async function checkAfterWriter(dir: string, model: Model, killed: boolean): Promise<void> {
  const before = { durable: model.durableSeq, acks: new Map(model.acks) };
  const view = await outcome(() => inspect(dir));
  checkInspection(model, view, before, { live: false });
  const read: ReadResult = await readAll(dir, undefined);
  checkRead(model, read, before, { live: false });
  if (!killed) model.check(6, read.unfinished === null, () => `after a clean close the read ends in an unfinished entry: ${JSON.stringify(read.unfinished)}`);
  if ('error' in view) return;
  const engine = await Engine.open(dir, { readOnly: true });
  try {
    const head = engine.journal.headSeq;
    model.check(6, view.journal.headSeq === head, () => `the lock-free view's head is ${view.journal.headSeq}, the engine recovers ${head}`);
    model.check(6, read.error !== null || read.lastSeq === head, () => `the lock-free read ends at ${read.lastSeq}, the engine recovers ${head}`);
    const cursor = engine.consumers.list().find((info) => info.name === 'backup')?.cursor;
    const seen = view.stored?.consumers.find((consumer) => consumer.name === 'backup')?.cursor;
    model.check(4, cursor === seen, () => `the lock-free view's cursor of backup is ${seen}, the engine's ${cursor}`);
  } finally {
    await engine.close();
  }
}
