/**
 * The one driver of the simulated crash tests: each layer (journal, engine,
 * permissions, consumers) gives a profile, and the driver runs it the same
 * way. A profile says how to run one case (the seeded workload with the
 * power cut after `cutAfter` I/O steps, a crash in `mode`, recovery, and
 * its checks, returning the violations, each naming its case) and how many
 * steps its workload makes uncut. The driver sweeps the cut over every step
 * of small workloads, or runs one case per seed of long ones.
 * FANLOG_CRASH_SEED=<seed> replays that seed alone, in either.
 */
import { CRASH_MODES, type CrashMode } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';

export interface CrashCase {
  seed: number;
  cutAfter: number | null;
  mode: CrashMode;
}

export interface CrashProfile<C extends CrashCase> {
  /** One case, from the workload to the checks: the violations found. */
  run(c: C): Promise<string[]>;
  /** The mutating I/O steps the case's workload makes when nothing cuts it. */
  steps(c: C): Promise<number>;
}

const ONLY_SEED = process.env.FANLOG_CRASH_SEED === undefined ? null : Number(process.env.FANLOG_CRASH_SEED);

/** The seeds to run: FANLOG_CRASH_SEED alone, or `count` of them from `first`. */
export function seeds(count: number, first: number): number[] {
  return ONLY_SEED === null ? Array.from({ length: count }, (_, i) => first + i) : [ONLY_SEED];
}

/** The seeds of the every-step sweeps: FANLOG_CRASH_SEED alone, or these. */
export function sweepSeeds(defaults: number[]): number[] {
  return ONLY_SEED === null ? defaults : [ONLY_SEED];
}

/** One crash mode per step, in turn: every mode is met along a sweep. */
export const modeByStep = (cutAfter: number): readonly CrashMode[] => [CRASH_MODES[cutAfter % CRASH_MODES.length]!];
/** Every crash mode at every step. */
export const everyMode = (): readonly CrashMode[] => CRASH_MODES;

/**
 * Cuts the power at every step (from `from`) of each base case's workload,
 * in the modes `modes` gives for that step; stops after `limit` violations.
 * `steps` is each base's step count, so a test can check the workload did
 * real work.
 */
export async function sweepEveryStep<C extends CrashCase>(
  profile: CrashProfile<C>,
  bases: C[],
  options: { modes: (cutAfter: number) => readonly CrashMode[]; from?: number; limit?: number },
): Promise<{ cases: number; violations: string[]; steps: number[] }> {
  const { modes, from = 0, limit = 10 } = options;
  const violations: string[] = [];
  const steps: number[] = [];
  let cases = 0;
  for (const base of bases) {
    const count = await profile.steps(base);
    steps.push(count);
    for (let cutAfter = from; cutAfter <= count && violations.length <= limit; cutAfter++) {
      for (const mode of modes(cutAfter)) {
        violations.push(...(await profile.run({ ...base, cutAfter, mode })));
        cases++;
      }
    }
  }
  return { cases, violations, steps };
}

/** One case per seed, made from the seed's own Prng; stops after `limit` violations. */
export async function runSeeded<C extends CrashCase>(
  profile: CrashProfile<C>,
  seedList: number[],
  make: (seed: number, prng: Prng) => C,
  limit = 10,
): Promise<string[]> {
  const violations: string[] = [];
  for (const seed of seedList) {
    violations.push(...(await profile.run(make(seed, new Prng(seed)))));
    if (violations.length > limit) break;
  }
  return violations;
}
