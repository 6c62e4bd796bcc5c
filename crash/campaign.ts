/**
 * Crash campaigns: `runCrashTests` runs many seeded crash runs of the whole
 * engine and checks every invariant of DESIGN.md after each. Anchors:
 * SQLite's crash VFS, RocksDB's write-trace checker and kill tests,
 * TigerBeetle's seeded simulator in which a seed replays any failure.
 *
 * A run: a seeded Workload (workload.ts) on an engine; a fault at a seeded
 * point; recovery; the checks of checks.ts against the Model (model.ts).
 * The faults:
 *
 *   power-cut       the power goes at a seeded I/O step, with a seeded
 *                   MemoryIo crash mode (drop, prefix, torn-garbage,
 *                   torn-zeros); unsynced directory entries are undone
 *   recovery-crash  a power cut as above, then another one while the engine
 *                   reopens, then recovery
 *   eio, enospc     the k-th write or fsync fails: the engine must fail
 *                   (EFAILED for everything after), never fsync a segment
 *                   again, and recover on reopen (after a crash) with
 *                   nothing it called durable lost
 *   kill            a child process runs the workload on a real disk with
 *                   the lmdb or level store and is SIGKILLed at a random
 *                   moment (the only fault whose timing is not seeded)
 *
 * Simulated runs use MemoryIo, the `files` store (its bytes go through the
 * Io, so they crash with the journal) and TraceIo, whose write trace gives
 * the model every record ever written. Run K of seed S always derives the
 * same run seed, workload and fault, so `{ seed: S, only: K }` replays it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Engine, type EngineOptions } from '../engine/engine.js';
import type { StoreKind } from '../store/meta-store.js';
import { checkInteger, checkOneOf, checkOptions } from '../engine/validate.js';
import { invalid } from '../errors.js';
import { CRASH_MODES, type CrashMode, MemoryIo } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';
import { checkRecovered } from './checks.js';
import { History } from './history.js';
import { Model } from './model.js';
import { TraceIo } from './trace-io.js';
import { type ControlChange, Workload } from './workload.js';

export const FAULT_KINDS = ['power-cut', 'recovery-crash', 'eio', 'enospc', 'kill'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** How often each simulated fault is picked: power cuts dominate, as in SQLite's crash tests. */
const FAULT_WEIGHTS: Record<FaultKind, number> = { 'power-cut': 14, 'recovery-crash': 3, eio: 2, enospc: 2, kill: 1 };

export interface CrashTestOptions {
  /** Runs to make; default 100. */
  runs?: number;
  /** Campaign seed; default 1. */
  seed?: number;
  /** Filesystem operations per run; default 60. */
  opsPerRun?: number;
  /** Store for kill runs: 'lmdb' (default) or 'level'. Simulated runs always use 'files', whose bytes go through the simulated disk. */
  store?: StoreKind;
  /** Faults to draw from; default every simulated one (kill runs only when listed). */
  faults?: readonly FaultKind[];
  /** Replays only this run index (with the same seed and options). */
  only?: number;
  /** Where kill runs make their directories; default the system temp directory. */
  tempDir?: string;
  /** Called after each run. */
  onProgress?: (done: number, total: number, violations: number) => void;
}

export interface CrashFailure {
  run: number;
  runSeed: number;
  fault: string;
  invariant: number;
  what: string;
}

export interface CrashTestSummary {
  runs: number;
  /** Faults injected, by kind ('eio'/'enospc' count only when the failure was reached). */
  faults: Record<string, number>;
  checks: number;
  violations: number;
  seed: number;
  failures: CrashFailure[];
  ms: number;
}

interface RunResult {
  fault: string;
  /** False when the run ended before its fault could happen. */
  injected: boolean;
  model: Model;
}

const DIR = '/fanlog';
/** Failures reported in full; the count goes on past it. */
const FAILURES_KEPT = 50;

export async function runCrashTests(options: CrashTestOptions = {}): Promise<CrashTestSummary> {
  const opts = checkOptions<CrashTestOptions>('options', options, ['runs', 'seed', 'opsPerRun', 'store', 'faults', 'only', 'tempDir', 'onProgress']);
  const runs = checkInteger('runs', opts.runs ?? 100, 1, 10_000_000);
  const seed = checkInteger('seed', opts.seed ?? 1, 0, 0xffff_ffff);
  const opsPerRun = checkInteger('opsPerRun', opts.opsPerRun ?? 60, 1, 100_000);
  const store = checkOneOf('store', opts.store ?? 'lmdb', ['lmdb', 'level', 'files'] as const);
  const faults = opts.faults ?? FAULT_KINDS.filter((kind) => kind !== 'kill');
  if (!Array.isArray(faults) || faults.length === 0) throw invalid('faults must be a non-empty list');
  for (const fault of faults) checkOneOf('fault', fault, FAULT_KINDS);
  if (faults.includes('kill') && store === 'files') throw invalid("kill runs need a native store: 'lmdb' or 'level'");
  const only = opts.only === undefined ? null : checkInteger('only', opts.only, 0, runs - 1);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw invalid('onProgress must be a function');

  const started = Date.now();
  const summary: CrashTestSummary = { runs: 0, faults: {}, checks: 0, violations: 0, seed, failures: [], ms: 0 };
  const indexes = only === null ? Array.from({ length: runs }, (_, i) => i) : [only];
  for (const run of indexes) {
    const runSeed = deriveRunSeed(seed, run);
    const fault = pickFault(new Prng(runSeed ^ 0xfa17), faults);
    const result = fault === 'kill' ? await killRun(runSeed, opsPerRun, store, opts.tempDir ?? tmpdir()) : await simulatedRun(runSeed, opsPerRun, fault);
    summary.runs++;
    if (result.injected) summary.faults[result.fault] = (summary.faults[result.fault] ?? 0) + 1;
    summary.checks += result.model.checks;
    for (const violation of result.model.violations) {
      summary.violations++;
      if (summary.failures.length < FAILURES_KEPT) summary.failures.push({ run, runSeed, fault: result.fault, ...violation });
    }
    opts.onProgress?.(summary.runs, indexes.length, summary.violations);
  }
  summary.ms = Date.now() - started;
  return summary;
}

/** Run K's own seed: a pure function of the campaign seed and K. */
export function deriveRunSeed(seed: number, run: number): number {
  return new Prng((seed ^ Math.imul(run + 1, 0x9e3779b1)) >>> 0).nextU32();
}

function pickFault(prng: Prng, faults: readonly FaultKind[]): FaultKind {
  const total = faults.reduce((sum, kind) => sum + FAULT_WEIGHTS[kind], 0);
  let roll = prng.next() * total;
  for (const kind of faults) {
    roll -= FAULT_WEIGHTS[kind];
    if (roll < 0) return kind;
  }
  return faults[faults.length - 1]!;
}

async function simulatedRun(runSeed: number, opsPerRun: number, fault: Exclude<FaultKind, 'kill'>): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const memory = new MemoryIo();
  const io = new TraceIo(memory);
  const model = new Model();
  const history = new History();
  model.history = history;
  let time = 1_000_000_000n;
  const engineOptions: EngineOptions = {
    io,
    store: 'files',
    clock: () => (time += 1000n),
    segmentBytesMax: 8192,
    checkpointEveryRecords: prng.pick([40, 150, 1_000_000]),
  };
  const mode: Exclude<CrashMode, 'any'> = prng.pick(CRASH_MODES);
  let label: string = fault;
  if (fault === 'power-cut' || fault === 'recovery-crash') {
    // A run makes about two and a half I/O steps per operation.
    memory.cutPowerAfter(prng.int(Math.ceil(opsPerRun * 2.5)));
    label = `${fault}:${mode}`;
  } else {
    memory.injectFault({ op: prng.pick(['write', 'sync'] as const), nth: prng.between(1, Math.ceil(opsPerRun * 1.2)), code: fault === 'eio' ? 'EIO' : 'ENOSPC' });
  }

  const workload = new Workload(DIR, prng, model, {
    ops: opsPerRun,
    engine: engineOptions,
    timeouts: false,
    stopped: () => memory.isPoweredOff,
    onOpen: () => io.reopened(),
  });
  io.engineFailed = () => workload.isOpen && workload.engine.failed;
  try {
    await workload.run((dir, options) => Engine.open(dir, options));
  } catch (error) {
    if (!memory.isPoweredOff && io.failure === null) model.violation(0, `the workload failed: ${String(error)}`);
  }
  let injected = memory.isPoweredOff;
  if (fault === 'eio' || fault === 'enospc') {
    injected = io.failure !== null;
    if (injected) await checkFailedEngine(workload, io, model);
  }

  const crash = (salt: number): void => {
    history.absorb(io.segments.values());
    memory.crash(runSeed ^ salt, mode);
    io.resync((file) => {
      try {
        return memory.fileBytes(file);
      } catch {
        return null;
      }
    });
  };
  crash(0x5eed);
  if (fault === 'recovery-crash') {
    memory.cutPowerAfter(prng.int(16));
    try {
      const interrupted = await Engine.open(DIR, engineOptions);
      await interrupted.close();
    } catch (error) {
      if (!memory.isPoweredOff) model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
    }
    crash(0xbeef);
  }

  let engine: Engine;
  try {
    engine = await Engine.open(DIR, engineOptions);
  } catch (error) {
    model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
    return { fault: label, injected, model };
  }
  try {
    await checkRecovered(engine, model, async () => (await memory.readdir(`${DIR}/journal`)).filter((name) => name.endsWith('.seg')).length);
  } catch (error) {
    model.violation(0, `the recovered engine failed: ${String(error)}`);
  }
  await engine.close().catch(() => undefined);
  return { fault: label, injected, model };
}

/** A power cut must never look like damage (invariant 6); any other failure to recover loses the prefix (1). */
function corruptionOrPrefix(error: unknown): number {
  return (error as { code?: string }).code === 'ECORRUPT' ? 6 : 1;
}

/** Invariant 7, live: after a failed write or fsync the engine refuses work and never fsyncs a segment again. */
async function checkFailedEngine(workload: Workload, io: TraceIo, model: Model): Promise<void> {
  // An open that failed with the I/O error is the clean outcome: there is no engine to check.
  if (!workload.isOpen) return;
  const { engine } = workload;
  // The failure may have hit a call the workload was not waiting on (a
  // background purge or eviction); the next call that needs the disk finds it.
  if (!engine.failed) await engine.fs.mkdir('/after-failure').catch(() => undefined);
  model.check(7, engine.failed, () => `${io.failure!.op} of ${io.failure!.path} failed with ${io.failure!.code}, yet the engine is not failed`);
  const code = await engine.fs.mkdir('/after-failure-2').then(
    () => 'success',
    (error: { code?: string }) => error.code,
  );
  model.check(7, code === 'EFAILED', () => `an operation on the failed engine gave ${code}, not EFAILED`);
  model.check(7, io.syncsAfterFailure.length === 0, () => `the failed engine went on: ${io.syncsAfterFailure.join(', ')}`);
}

/** Where the compiled worker lives (next to this file once built; in dist/ when this runs from source). */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? path.join(path.dirname(here), '..', 'dist', 'crash', 'kill-worker.js') : path.join(path.dirname(here), 'kill-worker.js');
}

async function killRun(runSeed: number, opsPerRun: number, store: StoreKind, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const dir = mkdtempSync(path.join(base, 'fanlog-crash-'));
  const checkpointEveryRecords = prng.pick([40, 150, 1_000_000]);
  const args = [workerPath(), dir, store, String(runSeed), String(opsPerRun * 20), String(checkpointEveryRecords)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  // 'close', not 'exit': every line the worker printed is in the model before the checks run.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') ready();
    else applyWorkerLine(model, line);
  });
  const first = await Promise.race([isReady.then(() => 'ready'), exited.then(() => 'exited')]);
  try {
    if (first === 'exited') {
      model.violation(0, `the worker exited before it was ready: ${stderr.trim()}`);
      return { fault: `kill:${store}`, injected: false, model };
    }
    // The kill moment is the random variable of this fault, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(20, 600)));
    const killed = child.kill('SIGKILL');
    const code = await exited;
    if (!killed && code !== 0) model.violation(0, `the worker failed: ${stderr.trim()}`);
    const engine = await Engine.open(dir, { store, segmentBytesMax: 8192, checkpointEveryRecords });
    try {
      await checkRecovered(engine, model, async () => readdirSync(path.join(dir, 'journal')).filter((name) => name.endsWith('.seg')).length);
    } finally {
      await engine.close();
    }
  } catch (error) {
    model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault: `kill:${store}`, injected: true, model };
}

/** The worker's report lines: see kill-worker.ts. */
function applyWorkerLine(model: Model, line: string): void {
  const [what, a, b] = line.split(' ');
  if (what === 'durable') model.durable(BigInt(a!));
  else if (what === 'acked') model.acked(a!, BigInt(b!));
  else if (what === 'registered') model.registered(a!);
  else if (what === 'decided') model.decided(BigInt(a!));
  else if (what === 'checked') model.checked();
  else if (what === 'violation') model.violation(Number(a), line.split(' ').slice(2).join(' '));
  else if (what === 'control-start') model.controlStarted(a!);
  else if (what === 'control') model.controlSettled(a!, controlChange(b!, line.split(' ').slice(3).join(' ')));
}

function controlChange(type: string, argument: string): ControlChange {
  if (type === 'ack') return { type, seq: BigInt(argument) };
  if (type === 'mark') return { type, path: argument };
  return { type: type as Exclude<ControlChange['type'], 'ack' | 'mark'> };
}
