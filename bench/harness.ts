/**
 * Shared bench plumbing on `benchmark`: deferred (async) cases, records/s,
 * ratios, and a --quick mode for CI so the suites run but do not rot.
 */
import Benchmark from 'benchmark';

export interface BenchCase {
  name: string;
  /** Records (or operations) one call of `run` processes, to turn calls/s into a rate. */
  recordsPerCall: number;
  /** What is counted; default 'records'. */
  unit?: string;
  /** Fewest samples, for cases whose one call takes seconds; default 8 (2 with --quick). */
  minSamples?: number;
  run: () => Promise<unknown>;
}

export interface BenchSettings {
  quick: boolean;
  /** Only these cases run (their suite's setup still does); null: every case. For profiling one case. */
  only: ReadonlySet<string> | null;
  /** Progress lines go to stderr, so --json output on stdout stays clean. */
  log: (line: string) => void;
}

/** Whether a case, or a suite's extra measurement, runs under `--only`. */
export function selected(settings: BenchSettings, name: string): boolean {
  return settings.only === null || settings.only.has(name);
}

/** Runs the cases one after another in one suite; resolves with records/s per case. */
export function runCases(cases: BenchCase[], settings: BenchSettings): Promise<Record<string, number>> {
  const chosen = cases.filter((c) => selected(settings, c.name));
  // An empty Benchmark suite never completes: nothing chosen, nothing to wait for.
  if (chosen.length === 0) return Promise.resolve({});
  const suite = new Benchmark.Suite();
  for (const benchCase of chosen) {
    suite.add(benchCase.name, {
      defer: true,
      minSamples: settings.quick ? 2 : (benchCase.minSamples ?? 8),
      maxTime: settings.quick ? 0.3 : 4,
      initCount: 1,
      fn: (deferred: Benchmark.Deferred) => {
        benchCase.run().then(
          () => deferred.resolve(),
          (error: unknown) => {
            settings.log(`${benchCase.name} failed: ${String(error)}`);
            process.exit(1);
          },
        );
      },
    });
  }
  return new Promise((resolve, reject) => {
    const rates: Record<string, number> = {};
    suite.on('cycle', (event: Benchmark.Event) => {
      const bench = event.target as unknown as Benchmark & { name: string };
      const benchCase = cases.find((c) => c.name === bench.name)!;
      rates[bench.name] = bench.hz * benchCase.recordsPerCall;
      settings.log(
        `  ${bench.name.padEnd(18)} ${formatRate(rates[bench.name]!)} ${benchCase.unit ?? 'records'}/s  (±${bench.stats.rme.toFixed(1)}%, ${bench.stats.sample.length} samples)`,
      );
    });
    suite.on('error', (event: Benchmark.Event) => reject((event.target as unknown as Benchmark).error));
    suite.on('complete', () => resolve(rates));
    suite.run({ async: true });
  });
}

/** The value at `fraction` (0.5: the median) of `sorted`, ascending; 0 when empty. */
export function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

export function formatRate(rate: number): string {
  return Math.round(rate).toLocaleString('en-US').padStart(12);
}

export function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || denominator === 0) return 'n/a';
  return `${(numerator / denominator).toFixed(2)}x`;
}

/** What `runSideBySide` measured: each case's median rate over the rounds, and the median ratio of two cases. */
export interface SideBySide {
  rates: Record<string, number>;
  /** The median over rounds of `a`'s rate divided by `b`'s in the same round. */
  ratio(a: string, b: string): number;
}

/**
 * Runs cases side by side, for the targets that compare two of them: in
 * each of several rounds every case runs for a fixed time in turn, and a
 * ratio is taken within each round, then the median. This VM's fdatasync
 * latency drifts by tens of percent within a minute, so two cases measured
 * a minute apart (as one after the other in `runCases`) can differ by that
 * much for no reason of their own; measured in the same round, both see
 * the same disk.
 */
/** Runs `benchCase` again and again for `roundMs`: its records per second over that round. */
export async function timedRound(benchCase: Pick<BenchCase, 'run' | 'recordsPerCall'>, roundMs: number): Promise<number> {
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < roundMs) {
    await benchCase.run();
    calls++;
    elapsed = performance.now() - started;
  }
  return (calls * benchCase.recordsPerCall) / (elapsed / 1000);
}

export async function runSideBySide(cases: BenchCase[], settings: BenchSettings): Promise<SideBySide> {
  const chosen = cases.filter((c) => selected(settings, c.name));
  const rounds = settings.quick ? 2 : 7;
  const roundMs = settings.quick ? 200 : 1000;
  const perRound: Record<string, number[]> = Object.fromEntries(chosen.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const benchCase of chosen) {
      for (let i = 0; i < 3; i++) await benchCase.run(); // warm
      perRound[benchCase.name]!.push(await timedRound(benchCase, roundMs));
    }
  }
  const median = (values: number[]): number =>
    values.length === 0
      ? NaN
      : percentile(
          [...values].sort((x, y) => x - y),
          0.5,
        );
  const rates: Record<string, number> = {};
  for (const benchCase of chosen) {
    const values = perRound[benchCase.name]!;
    rates[benchCase.name] = median(values);
    const spread = values.length === 0 ? 0 : ((Math.max(...values) - Math.min(...values)) / rates[benchCase.name]!) * 50;
    settings.log(
      `  ${benchCase.name.padEnd(18)} ${formatRate(rates[benchCase.name]!)} ${benchCase.unit ?? 'records'}/s  (median of ${values.length} rounds side by side, ±${spread.toFixed(0)}%)`,
    );
  }
  return {
    rates,
    ratio: (a, b) => {
      const as = perRound[a];
      const bs = perRound[b];
      if (as === undefined || bs === undefined || as.length === 0) return NaN;
      return median(as.map((value, i) => value / bs[i]!));
    },
  };
}

/** Targets by `a/b`: the ratio measured side by side, and the ratio wanted. */
export type Targets = Record<string, { ratio: number; target: number }>;

/**
 * Runs the cases that targets `[a, b, ratio]` name side by side
 * (runSideBySide) and prints each ratio against its target.
 */
export async function measureTargets(cases: BenchCase[], wanted: readonly [string, string, number][], settings: BenchSettings): Promise<Targets> {
  const names = new Set(wanted.flatMap(([a, b]) => [a, b]));
  settings.log('side by side, for the targets:');
  const measured = await runSideBySide(
    cases.filter((c) => names.has(c.name)),
    settings,
  );
  const targets: Targets = {};
  for (const [a, b, target] of wanted) {
    const value = measured.ratio(a, b);
    targets[`${a}/${b}`] = { ratio: value, target };
    const met = Number.isNaN(value) ? 'not measured' : value >= target ? 'met' : 'NOT met';
    settings.log(`  ${`${a} / ${b}`.padEnd(36)} ${Number.isNaN(value) ? 'n/a' : `${value.toFixed(2)}x`}  (target >= ${target}x: ${met})`);
  }
  return targets;
}
