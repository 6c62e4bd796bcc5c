/**
 * The crash campaign's runs on a real disk, with real processes:
 *
 *   kill           a child process runs the workload with the lmdb or level
 *                  store and is SIGKILLed at a random moment; the parent
 *                  recovers and checks every invariant it can without a
 *                  write trace
 *   lock           while a child holds the engine, the parent tries to open
 *                  it from this thread, from a worker thread and from
 *                  another process (each must be EBUSY); then the holder is
 *                  SIGKILLed and three processes race to open it, each
 *                  making directories once it has it: afterwards every
 *                  directory any of them was told is durable is there, and
 *                  the journal recovered without damage
 *   store-damage   (lmdb, level) the workload runs here and ends with a
 *                  checkpoint and a clean close; a seeded damage is done to
 *                  a file of the store; a child opens the engine, which must
 *                  give back exactly what was closed or refuse with
 *                  ECORRUPT, never die by a signal; after ECORRUPT,
 *                  `fanlog repair --rebuild-store` must rebuild it (unless
 *                  the journal no longer starts at seq 1 and the checkpoint
 *                  was the damage), and the rebuilt engine has the same
 *                  filesystem and only consumers and groups as they were
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Engine } from '../fanlog.js';
import { NodeIo } from '../journal/node-io.js';
import { Prng } from '../journal/prng.js';
import { lastLogRecordStart } from '../store/level-files.js';
import { metaStoreDir, type StoreKind } from '../store/meta-store.js';
import { CHECKING_CHECKPOINT_EVERY, checkRecovered } from './checks.js';
import { applyDamage, describeDamage, engineSnapshot, planDamage } from './damage.js';
import { Model } from './model.js';
import { type ControlChange, Workload } from './workload.js';

export interface RunResult {
  fault: string;
  /** False when the run ended before its fault could happen. */
  injected: boolean;
  model: Model;
}

/** A compiled file of this package (next to this one once built; in dist/ when this runs from source). */
function compiled(relative: string): string {
  const here = fileURLToPath(import.meta.url);
  const base = here.endsWith('.ts') ? path.join(path.dirname(here), '..', 'dist', 'crash') : path.dirname(here);
  return path.join(base, relative);
}

/** A power cut must never look like damage (invariant 6); any other failure to recover loses the prefix (1). */
export function corruptionOrPrefix(error: unknown): number {
  return (error as { code?: string }).code === 'ECORRUPT' ? 6 : 1;
}

function segmentCount(dir: string): () => Promise<number> {
  return async () => readdirSync(path.join(dir, 'journal')).filter((name) => name.endsWith('.seg')).length;
}

/** Recovers the engine a worker left and checks it (`first`, anything of the fault's own, then checks.ts). */
async function reopenAndCheck(dir: string, store: StoreKind, model: Model, first: (engine: Engine) => Promise<void> = async () => undefined): Promise<void> {
  const engine = await Engine.open(dir, { store, segmentBytesMax: 8192, checkpointEveryRecords: CHECKING_CHECKPOINT_EVERY });
  try {
    await first(engine);
    await checkRecovered(engine, model, segmentCount(dir));
  } finally {
    await engine.close();
  }
}

/** Starts the kill worker on `dir`; resolves once it is ready (or has exited: then `exited` says how). */
async function startWorkload(dir: string, store: StoreKind, runSeed: number, operations: number, checkpointEveryRecords: number, model: Model, hold = false) {
  const args = [
    compiled('kill-child.js'),
    'campaign',
    dir,
    store,
    String(runSeed),
    String(operations),
    String(checkpointEveryRecords),
    ...(hold ? ['hold'] : []),
  ];
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
  const first = await Promise.race([isReady.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
  return { child, exited, first, stderr: () => stderr.trim() };
}

export async function killRun(runSeed: number, opsPerRun: number, store: StoreKind, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const dir = mkdtempSync(path.join(base, 'fanlog-crash-'));
  const checkpointEveryRecords = prng.pick([40, 150, 1_000_000]);
  const worker = await startWorkload(dir, store, runSeed, opsPerRun * 20, checkpointEveryRecords, model);
  try {
    if (worker.first === 'exited') {
      model.violation(0, `the worker exited before it was ready: ${worker.stderr()}`);
      return { fault: `kill:${store}`, injected: false, model };
    }
    // The kill moment is the random variable of this fault, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(20, 600)));
    const killed = worker.child.kill('SIGKILL');
    const code = await worker.exited;
    if (!killed && code !== 0) model.violation(0, `the worker failed: ${worker.stderr()}`);
    await reopenAndCheck(dir, store, model);
  } catch (error) {
    model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault: `kill:${store}`, injected: true, model };
}

/** Runs open-worker.ts in a child process; resolves with the lines it printed and how it ended. */
function openWorker(args: string[]): Promise<{ lines: string[]; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [compiled('open-worker.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ lines, code, signal })));
}

/** Runs open-worker.ts as a worker thread of this process; resolves with the line it posted. */
function openInThread(dir: string, store: StoreKind): Promise<string> {
  const thread = new Worker(compiled('open-worker.js'), { workerData: { mode: 'probe', dir, store } });
  return new Promise((resolve, reject) => {
    thread.once('message', (line: string) => resolve(line));
    thread.once('error', reject);
  });
}

export async function lockRun(runSeed: number, opsPerRun: number, store: StoreKind, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const label = `lock:${store}`;
  const dir = mkdtempSync(path.join(base, 'fanlog-lock-'));
  const checkpointEveryRecords = prng.pick([40, 150, 1_000_000]);
  // The holder never closes and reopens its engine: from 'ready' on, it holds it until it dies.
  const worker = await startWorkload(dir, store, runSeed, opsPerRun * 20, checkpointEveryRecords, model, true);
  try {
    if (worker.first === 'exited') {
      model.violation(0, `the worker exited before it was ready: ${worker.stderr()}`);
      return { fault: label, injected: false, model };
    }
    // Contention while the worker holds the engine: this thread, a worker thread, another process.
    const here = await Engine.open(dir, { store, segmentBytesMax: 8192 }).then(
      async (engine) => {
        await engine.close();
        return 'open';
      },
      (error: { code?: string }) => error.code ?? 'error',
    );
    model.check(1, here === 'EBUSY', () => `a second open in the holder's neighbour process gave ${here}, not EBUSY: two holders of one engine`);
    const thread = await openInThread(dir, store);
    model.check(1, thread === 'EBUSY', () => `an open from a worker thread gave ${thread}, not EBUSY: two holders of one engine`);
    const other = await openWorker(['probe', dir, store]);
    model.check(1, other.lines[0] === 'EBUSY', () => `an open from another process gave ${other.lines.join(' ')}, not EBUSY: two holders of one engine`);

    await new Promise((resolve) => setTimeout(resolve, prng.between(20, 400)));
    worker.child.kill('SIGKILL');
    await worker.exited;
    // Three processes race for the engine its holder left by dying.
    const racers = await Promise.all([0, 1, 2].map(() => openWorker(['race', dir, store, '20'])));
    const made: string[] = [];
    for (const racer of racers) {
      for (const line of racer.lines) {
        const [what, madePath, seq] = line.split(' ');
        if (what !== 'made') continue;
        made.push(madePath!);
        model.durable(BigInt(seq!));
      }
      model.check(1, racer.code === 0, () => `a racing process failed: ${racer.lines.join(' | ')}`);
    }
    await reopenAndCheck(dir, store, model, async (engine) => {
      const root = new Set(await engine.fs.readdir('/'));
      for (const madePath of made)
        model.check(1, root.has(madePath.slice(1)), () => `${madePath}, made durably by a process that held the engine, is gone: two holders overlapped`);
    });
  } catch (error) {
    model.violation(corruptionOrPrefix(error), `recovery failed: ${String(error)}`);
  } finally {
    if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await worker.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault: label, injected: true, model };
}

/** What the child's snapshot line says. */
function parseSnapshot(lines: string[]): { ok: true; snapshot: string } | { ok: false; code: string; message: string } | null {
  try {
    return JSON.parse(lines[0] ?? '') as { ok: true; snapshot: string } | { ok: false; code: string; message: string };
  } catch {
    return null;
  }
}

export async function realDamageRun(runSeed: number, opsPerRun: number, store: StoreKind, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const label = `store-damage:${store}`;
  const dir = mkdtempSync(path.join(base, 'fanlog-damage-'));
  try {
    const workload = new Workload(dir, prng, model, {
      ops: opsPerRun,
      engine: { store, segmentBytesMax: 8192, checkpointEveryRecords: prng.pick([40, 150, 1_000_000]) },
      timeouts: false,
      realDisk: true,
      stopped: () => false,
    });
    await workload.run((engineDir, options) => Engine.open(engineDir, options));
    if (!workload.isOpen || workload.engine.failed) return { fault: label, injected: false, model };
    await workload.engine.checkpoint();
    const expected = engineSnapshot(workload.engine);
    await workload.engine.close();

    const what = await damageStoreFile(dir, store, prng);

    const opened = await openWorker(['snapshot', dir, store]);
    const result = parseSnapshot(opened.lines);
    if (
      !model.check(
        6,
        opened.signal === null && result !== null,
        () => `${what}: opening died (${opened.signal ?? `status ${opened.code}`}): ${opened.lines.join(' ')}`,
      )
    )
      return { fault: label, injected: true, model };
    if (result!.ok) {
      model.check(6, result!.snapshot === expected, () => `${what}: the engine opened silently with another state: ${result!.snapshot} instead of ${expected}`);
      return { fault: label, injected: true, model };
    }
    if (!model.check(6, result!.code === 'ECORRUPT', () => `${what}: the open failed with ${result!.code} (${result!.message}), not ECORRUPT`))
      return { fault: label, injected: true, model };

    // Refused loudly: the store must be rebuilt from the journal where the journal can.
    await checkRebuild(model, what, dir, store, expected);
  } catch (error) {
    model.violation(0, `the store-damage run failed: ${String(error)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault: label, injected: true, model };
}

/** Does a seeded damage to one file of the closed engine's store; says what it did. */
async function damageStoreFile(dir: string, store: StoreKind, prng: Prng): Promise<string> {
  const storeDir = metaStoreDir(dir, store);
  const files = readdirSync(storeDir)
    .filter((name) => !['LOCK', 'lock.mdb', 'LOG', 'LOG.old'].includes(name))
    .sort();
  const name = prng.pick(files);
  const file = path.join(storeDir, name);
  // LevelDB's newest log is append-only: see planDamage.
  const newestLog = files.filter((entry) => entry.endsWith('.log')).pop();
  const plan = planDamage(prng, statSync(file).size, name === newestLog ? lastLogRecordStart(readFileSync(file)) : undefined);
  await applyDamage(new NodeIo(), file, plan);
  return describeDamage(path.relative(dir, file), plan);
}

/**
 * After the open refused the damaged store with ECORRUPT: `fanlog repair
 * --rebuild-store` must rebuild it unless the journal no longer starts at
 * seq 1, and the rebuilt engine must hold the filesystem that was closed,
 * and only consumers and groups it held.
 */
async function checkRebuild(model: Model, what: string, dir: string, store: StoreKind, expected: string): Promise<void> {
  const repair = spawnSync(process.execPath, [compiled('../cli/main.js'), 'repair', '--rebuild-store', '--dir', dir, '--json'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const journalFromOne = readdirSync(path.join(dir, 'journal')).some((name) => name === '00000000000000000001.seg');
  if (repair.status !== 0) {
    model.check(6, !journalFromOne && /ECORRUPT: cannot rebuild/.test(repair.stderr), () => `${what}: repair --rebuild-store failed: ${repair.stderr.trim()}`);
    return;
  }
  const rebuilt = parseSnapshot((await openWorker(['snapshot', dir, store])).lines);
  if (!model.check(6, rebuilt?.ok === true, () => `${what}: after repair the engine does not open: ${JSON.stringify(rebuilt)}`)) return;
  const want = JSON.parse(expected) as { fingerprint: string; consumers: string[][]; groups: unknown[][] };
  const got = JSON.parse((rebuilt as { snapshot: string }).snapshot) as typeof want;
  model.check(6, got.fingerprint === want.fingerprint, () => `${what}: the rebuilt filesystem differs from the one that was closed`);
  for (const consumer of got.consumers) {
    model.check(
      6,
      want.consumers.some((wanted) => wanted.join() === consumer.join()),
      () => `${what}: the rebuilt store has consumer ${consumer.join(' ')}, which the closed engine did not`,
    );
  }
  for (const group of got.groups) {
    model.check(
      6,
      want.groups.some((wanted) => JSON.stringify(wanted) === JSON.stringify(group)),
      () => `${what}: the rebuilt store has group ${JSON.stringify(group)}, which the closed engine did not`,
    );
  }
}

/** The worker's report lines: see kill-child.ts. */
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
