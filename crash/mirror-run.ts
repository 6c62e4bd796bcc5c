/**
 * The campaign's `mirror` runs: a real directory under a seeded churn
 * (mirror-churn.ts), mirrored by a process of its own (mirror-child.ts,
 * with the default options) that is SIGKILLed and started again.
 *
 *   lives    one to three; each but the last ends in a SIGKILL at a
 *            random moment (a third of them in the start scan), and the
 *            churn goes on while no mirror runs
 *   burst    half the runs, in the last life: once the mirror has
 *            settled (every directory watched), the mirroring process is
 *            SIGSTOPped, the churn makes more events than the inotify
 *            queue holds (fs.inotify.max_queued_events), and changes whose
 *            events find no room, then SIGCONT: the queue overflowed
 *   settle   the churn stops; the mirror is asked to settle (it applies
 *            what it heard), then to stop; the engine is opened here and
 *            checked (mirror-checks.ts: invariant 10) with every record a
 *            consumer registered before the first life read
 *
 * A run is about 2 s on 2 cores. The fault it reports is `mirror`, or
 * `mirror:burst` when the queue was made to overflow.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DeliveredRecord } from '../consumers/consumer.js';
import { Engine } from '../fanlog.js';
import { Prng } from '../journal/prng.js';
import { checkMirrored } from './mirror-checks.js';
import { Churn } from './mirror-churn.js';
import { Model } from './model.js';
import type { RunResult } from './real-disk.js';

/** The share of runs with a burst beyond the inotify queue. */
const BURST_SHARE = 0.5;

/** A compiled file of this package (next to this one once built; in dist/ when this runs from source). */
function compiled(relative: string): string {
  const here = fileURLToPath(import.meta.url);
  const base = here.endsWith('.ts') ? path.join(path.dirname(here), '..', 'dist', 'crash') : path.dirname(here);
  return path.join(base, relative);
}

/** A running mirror-child.ts. */
interface MirrorChild {
  child: ChildProcess;
  /** Resolves true once the child printed `line` once more than it was waited for, false if it exited first. */
  said(line: string): Promise<boolean>;
  /** Resolves with the exit code (null: killed by a signal) once its output is all read. */
  exited: Promise<number | null>;
  stderr(): string;
}

function startChild(engineDir: string, root: string): MirrorChild {
  const child = spawn(process.execPath, [compiled('mirror-child.js'), engineDir, root], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Each line printed and not yet waited for, by its text.
  const unread = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    unread.set(line, (unread.get(line) ?? 0) + 1);
    waiting.get(line)?.();
  });
  // 'close', not 'exit': every line it printed has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const take = (line: string): boolean => {
    const count = unread.get(line) ?? 0;
    if (count > 0) unread.set(line, count - 1);
    return count > 0;
  };
  const said = async (line: string): Promise<boolean> => {
    if (take(line)) return true;
    await Promise.race([new Promise<void>((resolve) => waiting.set(line, resolve)), exited]);
    waiting.delete(line);
    return take(line);
  };
  return { child, said, exited, stderr: () => stderr.trim() };
}

/** fs.inotify.max_queued_events: how many events a burst must pass. */
function queueMax(): number {
  const value = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
  return Number.isSafeInteger(value) && value > 0 ? value : 16_384;
}

export async function mirrorRun(runSeed: number, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const dir = mkdtempSync(path.join(base, 'fanlog-mirror-'));
  const root = path.join(dir, 'real');
  const engineDir = path.join(dir, 'engine');
  const burst = prng.chance(BURST_SHARE);
  const fault = burst ? 'mirror:burst' : 'mirror';
  const churn = new Churn(prng, root);
  let child: MirrorChild | null = null;
  try {
    churn.run(prng.between(10, 60));
    const engine = await Engine.open(engineDir);
    await engine.consumers.register('audit');
    await engine.close();
    const lives = 1 + prng.int(3);
    for (let life = 0; life < lives; life++) {
      child = startChild(engineDir, root);
      const last = life === lives - 1;
      if (!(await child.said('ready'))) return failed(model, fault, `the mirroring process died before it was ready: ${child.stderr()}`);
      if (!last && prng.chance(1 / 3)) {
        // Killed in its start scan: the moment is the random variable here, not a synchronisation.
        churn.run(prng.between(0, 20));
      } else {
        if (!(await child.said('mirroring'))) return failed(model, fault, `the mirroring process died in its start scan: ${child.stderr()}`);
        await churnWhileRunning(churn, prng, prng.between(20, 150));
      }
      if (!last) {
        child.child.kill('SIGKILL');
        await child.exited;
        churn.run(prng.between(0, 30));
        continue;
      }
      if (burst) {
        // Settled first, so that every directory is watched: the burst's events all go to the queue.
        child.child.stdin!.write('settle\n');
        if (!(await child.said('settled'))) return failed(model, fault, `the mirroring process died settling: ${child.stderr()}`);
        child.child.kill('SIGSTOP');
        churn.burst(queueMax());
        child.child.kill('SIGCONT');
        await churnWhileRunning(churn, prng, prng.between(0, 20));
      }
      child.child.stdin!.write('settle\n');
      if (!(await child.said('settled'))) return failed(model, fault, `the mirroring process died settling: ${child.stderr()}`);
      child.child.stdin!.write('stop\n');
      const code = await child.exited;
      if (code !== 0) return failed(model, fault, `the mirroring process ended with ${code}: ${child.stderr()}`);
    }
    await check(
      engineDir,
      root,
      churn,
      model,
      `run seed ${runSeed}${burst ? ', burst' : ''}, ${churn.reuses} inode reuses, ${churn.unmirrorable} unmirrorable (names not UTF-8, FIFOs)`,
    );
  } catch (error) {
    model.violation(0, `the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    child?.child.kill('SIGKILL');
    await child?.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault, injected: true, model };
}

/** Changes made while the mirror runs, with a turn of this event loop now and then (the pipes from the child are read). */
async function churnWhileRunning(churn: Churn, prng: Prng, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    churn.step();
    if (prng.chance(0.1)) await new Promise((resolve) => setImmediate(resolve));
  }
}

function failed(model: Model, fault: string, what: string): RunResult {
  model.violation(0, what);
  return { fault, injected: true, model };
}

/** Opens the engine the mirror left and checks it against the disk and the churn. */
async function check(engineDir: string, root: string, churn: Churn, model: Model, where: string): Promise<void> {
  const engine = await Engine.open(engineDir);
  try {
    const audit = engine.consumers.get('audit');
    const records: DeliveredRecord[] = [];
    for (let batch = await audit.read({ max: 100_000 }); batch.length > 0; batch = await audit.read({ max: 100_000 })) {
      records.push(...batch);
      await audit.ack(batch.at(-1)!.seq);
    }
    await checkMirrored(engine, root, records, churn, model, where);
  } finally {
    await engine.close();
  }
}
