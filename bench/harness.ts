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
  const suite = new Benchmark.Suite();
  for (const benchCase of cases.filter((c) => selected(settings, c.name))) {
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

export function formatRate(rate: number): string {
  return Math.round(rate).toLocaleString('en-US').padStart(12);
}

export function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || denominator === 0) return 'n/a';
  return `${(numerator / denominator).toFixed(2)}x`;
}
