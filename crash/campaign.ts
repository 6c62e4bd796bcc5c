/**
 * Crash campaigns: `runCrashTests` runs many seeded crash runs of the whole
 * engine and checks every invariant of docs/design.md after each. Anchors:
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
 *   segment-loss    a power cut as above, then the journal's newest segment
 *                   is deleted, as by hand: the open must refuse (ECORRUPT)
 *                   or recover with nothing (no cursor, no checkpoint, no
 *                   store write) pointing beyond the journal
 *   store-damage    the workload ends with a checkpoint and a clean close;
 *                   a file of the store is damaged (seeded: a flipped byte,
 *                   a zeroed range, a cut, a deletion), the files store in
 *                   simulated runs and lmdb and level on a real disk in
 *                   turn: the engine opens exactly as it was closed or
 *                   refuses with ECORRUPT, never a signal; then repair
 *                   rebuilds it (real-disk.ts)
 *   kill, lock      real disk and real processes (real-disk.ts), run only
 *                   when asked for: SIGKILLs at a random moment (the only
 *                   fault whose timing is not seeded), and lock contention
 *                   from this thread, a worker thread and other processes
 *
 * The edges, where fanlog meets systems it does not own, each run only
 * when asked for:
 *
 *   replication     a real redis-server under seeded faults beside a
 *                   replicator and remote readers (replication-run.ts):
 *                   invariant 9
 *   mirror          a real directory under a seeded churn, its mirroring
 *                   process SIGKILLed (mirror-run.ts): invariant 10
 *   inspect         lock-free readers (stat, consumers list, tail, export)
 *                   racing a writer process that purges, is closed, is
 *                   SIGKILLed or has its newest segment damaged
 *                   (inspect-run.ts): invariants 6, 1 and 4
 *   fanotify        (root) a real HSM under `fanlog supervise`, its
 *                   handler SIGKILLed while readers wait (fanotify-run.ts):
 *                   invariant 11; and 10, for the changelog half the runs
 *                   journal of changes made meanwhile
 *
 * Beyond the design's invariants (docs/design.md), violations of number 12 are control
 * calls that were not serialised per object: a raced group or consumer
 * whose stored state is not what its resolved calls leave.
 *
 * Simulated runs use MemoryIo, the `files` store (its bytes go through the
 * Io, so they crash with the journal) and TraceIo, whose write trace gives
 * the model every record ever written. Run K of seed S always derives the
 * same run seed, workload and fault, so `{ seed: S, only: K }` replays it.
 */
import { tmpdir } from 'node:os';
import { Engine, type EngineOptions } from '../fanlog.js';
import type { StoreKind } from '../store/meta-store.js';
import { checkInteger, checkOneOf, checkOptions } from '../validate.js';
import { invalid } from '../errors.js';
import { CRASH_MODES, type CrashMode, MemoryIo } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';
import { CHECKING_CHECKPOINT_EVERY, checkRecovered } from './checks.js';
import { History } from './history.js';
import { Model } from './model.js';
import { TraceIo } from './trace-io.js';
import { applyDamage, describeDamage, engineSnapshot, lastFrameStart, planDamage } from './damage.js';
import { corruptionOrPrefix, killRun, lockRun, realDamageRun, type RunResult } from './real-disk.js';
import { Workload } from './workload.js';
import { replicationRun } from './replication-run.js';
import { mirrorRun } from './mirror-run.js';
import { inspectRun } from './inspect-run.js';
import { fanotifyRun } from './fanotify-run.js';

export const FAULT_KINDS = [
  'power-cut',
  'recovery-crash',
  'eio',
  'enospc',
  'segment-loss',
  'store-damage',
  'kill',
  'lock',
  'replication',
  'mirror',
  'inspect',
  'fanotify',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Faults that need a real disk, child processes or a real server: only run when asked for. */
export const REAL_SYSTEM_FAULTS: readonly FaultKind[] = ['kill', 'lock', 'replication', 'mirror', 'inspect', 'fanotify'];
/** How often each fault is picked: power cuts dominate, as in SQLite's crash tests. */
const FAULT_WEIGHTS: Record<FaultKind, number> = {
  'power-cut': 14,
  'recovery-crash': 3,
  eio: 2,
  enospc: 2,
  'segment-loss': 2,
  'store-damage': 2,
  kill: 1,
  lock: 1,
  replication: 1,
  mirror: 1,
  inspect: 1,
  fanotify: 1,
};

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

const DIR = '/fanlog';
/** Failures reported in full; the count goes on past it. */
const FAILURES_KEPT = 50;

export async function runCrashTests(options: CrashTestOptions = {}): Promise<CrashTestSummary> {
  const opts = checkOptions<CrashTestOptions>('options', options, ['runs', 'seed', 'opsPerRun', 'store', 'faults', 'only', 'tempDir', 'onProgress']);
  const runs = checkInteger('runs', opts.runs ?? 100, 1, 10_000_000);
  const seed = checkInteger('seed', opts.seed ?? 1, 0, 0xffff_ffff);
  const opsPerRun = checkInteger('opsPerRun', opts.opsPerRun ?? 60, 1, 100_000);
  const store = checkOneOf('store', opts.store ?? 'lmdb', ['lmdb', 'level', 'files'] as const);
  const faults = opts.faults ?? FAULT_KINDS.filter((kind) => !REAL_SYSTEM_FAULTS.includes(kind));
  if (!Array.isArray(faults) || faults.length === 0) throw invalid('faults must be a non-empty list');
  for (const fault of faults) checkOneOf('fault', fault, FAULT_KINDS);
  if ((faults.includes('kill') || faults.includes('lock')) && store === 'files') throw invalid("kill and lock runs need a native store: 'lmdb' or 'level'");
  const only = opts.only === undefined ? null : checkInteger('only', opts.only, 0, runs - 1);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw invalid('onProgress must be a function');

  const started = Date.now();
  const summary: CrashTestSummary = { runs: 0, faults: {}, checks: 0, violations: 0, seed, failures: [], ms: 0 };
  const indexes = only === null ? Array.from({ length: runs }, (_, i) => i) : [only];
  for (const run of indexes) {
    const runSeed = deriveRunSeed(seed, run);
    const fault = pickFault(new Prng(runSeed ^ 0xfa17), faults);
    const result = await runOne(fault, runSeed, opsPerRun, store, opts.tempDir ?? tmpdir());
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

/**
 * The store a store-damage run damages, by the run's seed: every kind in
 * turn, the simulated `files` store half the time (a real-disk run, with
 * its child processes, costs about a hundred times as much).
 */
const DAMAGED_STORES: readonly StoreKind[] = ['files', 'lmdb', 'files', 'level'];

type SimulatedFault = Exclude<FaultKind, 'kill' | 'lock' | 'replication' | 'mirror' | 'inspect' | 'fanotify'>;

function runOne(fault: FaultKind, runSeed: number, opsPerRun: number, store: StoreKind, tempDir: string): Promise<RunResult> {
  switch (fault) {
    case 'kill':
      return killRun(runSeed, opsPerRun, store, tempDir);
    case 'lock':
      return lockRun(runSeed, opsPerRun, store, tempDir);
    case 'replication':
      return replicationRun(runSeed, tempDir);
    case 'mirror':
      return mirrorRun(runSeed, tempDir);
    case 'inspect':
      return inspectRun(runSeed, tempDir);
    case 'fanotify':
      return fanotifyRun(runSeed);
    case 'store-damage': {
      const damaged = DAMAGED_STORES[runSeed % DAMAGED_STORES.length]!;
      // Half the operations on a real disk: the store's content varies as much, its fsyncs take real time.
      return damaged === 'files' ? simulatedRun(runSeed, opsPerRun, fault) : realDamageRun(runSeed, Math.ceil(opsPerRun / 2), damaged, tempDir);
    }
    default:
      return simulatedRun(runSeed, opsPerRun, fault);
  }
}

async function simulatedRun(runSeed: number, opsPerRun: number, fault: SimulatedFault): Promise<RunResult> {
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
  const label = planFault(memory, prng, fault, opsPerRun, mode);

  const workload = new Workload(DIR, prng, model, {
    ops: opsPerRun,
    engine: engineOptions,
    timeouts: false,
    realDisk: false,
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
  if (fault === 'store-damage') return damageFilesStore(workload, memory, prng, model);

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

  // segment-loss: the newest segment is deleted after the crash, as by hand.
  const segmentLost = fault === 'segment-loss' && (await loseNewestSegment(memory));
  if (fault === 'segment-loss') injected = segmentLost;
  await recoverAndCheck(memory, engineOptions, model, segmentLost);
  return { fault: label, injected, model };
}

/** Arms the run's fault on the simulated disk; returns the run's label. */
function planFault(memory: MemoryIo, prng: Prng, fault: SimulatedFault, opsPerRun: number, mode: Exclude<CrashMode, 'any'>): string {
  if (fault === 'power-cut' || fault === 'recovery-crash' || fault === 'segment-loss') {
    // A run makes about two and a half I/O steps per operation. A segment is
    // lost only where a second one was made: that fault cuts in the second half.
    const steps = Math.ceil(opsPerRun * 2.5);
    memory.cutPowerAfter(fault === 'segment-loss' ? Math.floor(steps / 2) + prng.int(Math.ceil(steps / 2)) : prng.int(steps));
    return `${fault}:${mode}`;
  }
  if (fault === 'store-damage') return 'store-damage:files';
  memory.injectFault({ op: prng.pick(['write', 'sync'] as const), nth: prng.between(1, Math.ceil(opsPerRun * 1.2)), code: fault === 'eio' ? 'EIO' : 'ENOSPC' });
  return fault;
}

/** Deletes the newest journal segment, if there are two or more; whether it did. */
async function loseNewestSegment(memory: MemoryIo): Promise<boolean> {
  const segments = (await memory.readdir(`${DIR}/journal`).catch(() => [] as string[])).filter((name) => name.endsWith('.seg')).sort();
  if (segments.length < 2) return false;
  await memory.unlink(`${DIR}/journal/${segments[segments.length - 1]}`);
  await memory.syncDir(`${DIR}/journal`);
  return true;
}

/** Opens the engine after the crash and checks it; a lost segment someone saw durable must be refused (ECORRUPT). */
async function recoverAndCheck(memory: MemoryIo, engineOptions: EngineOptions, model: Model, segmentLost: boolean): Promise<void> {
  let engine: Engine;
  try {
    engine = await Engine.open(DIR, { ...engineOptions, checkpointEveryRecords: CHECKING_CHECKPOINT_EVERY });
  } catch (error) {
    if (segmentLost && (error as { code?: string }).code === 'ECORRUPT') model.checked();
    else model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
    return;
  }
  try {
    await checkRecovered(engine, model, async () => (await memory.readdir(`${DIR}/journal`)).filter((name) => name.endsWith('.seg')).length, { segmentLost });
  } catch (error) {
    model.violation(0, `the recovered engine failed: ${String(error)}`);
  }
  await engine.close().catch(() => undefined);
}

/**
 * store-damage on the files store: the workload ends with a checkpoint and
 * a clean close; then one of the store's segment files is damaged (seeded:
 * a flipped byte, a zeroed range, a cut, a deletion). Opening must give
 * back exactly the engine that was closed, or refuse with ECORRUPT.
 */
async function damageFilesStore(workload: Workload, memory: MemoryIo, prng: Prng, model: Model): Promise<RunResult> {
  const label = 'store-damage:files';
  if (!workload.isOpen || workload.engine.failed) return { fault: label, injected: false, model };
  await workload.engine.checkpoint();
  const expected = engineSnapshot(workload.engine);
  const options = workload.engineOptions;
  await workload.engine.close();
  const storeDir = `${DIR}/meta-files`;
  const files = (await memory.readdir(storeDir)).filter((name) => name.endsWith('.seg')).sort();
  const name = prng.pick(files);
  const file = `${storeDir}/${name}`;
  const bytes = memory.fileBytes(file);
  const plan = planDamage(prng, bytes.length, name === files[files.length - 1] ? lastFrameStart(bytes) : undefined);
  await applyDamage(memory, file, plan);
  await checkDamagedOpen(() => Engine.open(DIR, options), expected, describeDamage(file, plan), model);
  return { fault: label, injected: true, model };
}

/** After damage: the engine opens exactly as it was, or refuses with ECORRUPT (invariant 6). */
async function checkDamagedOpen(open: () => Promise<Engine>, expected: string, what: string, model: Model): Promise<void> {
  let engine: Engine;
  try {
    engine = await open();
  } catch (error) {
    model.check(6, (error as { code?: string }).code === 'ECORRUPT', () => `${what}: the open failed with ${String(error)}, not ECORRUPT`);
    return;
  }
  const found = engineSnapshot(engine);
  await engine.close().catch(() => undefined);
  model.check(6, found === expected, () => `${what}: the engine opened silently with another state: ${found} instead of ${expected}`);
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
