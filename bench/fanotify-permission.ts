/**
 * The fanotify suite's permission round trips (bench/fanotify.ts): readers,
 * each a process opening and reading a marked file on the ext4 image again
 * and again, timing each, raise one permission event per open (FAN_OPEN_PERM
 * by default, FAN_PRE_ACCESS with FANLOG_BENCH_FANOTIFY_EVENT=pre-access),
 * and a handler answers FAN_ALLOW. The cases, every one run for a round's
 * time in turn, round after round, so that each ratio is taken between
 * cases that saw the same machine (bench/harness.ts runSideBySide says why):
 *
 *   perm_c        the C handler (bench/fanotify-handler.c): a pre-content
 *                 group, the same mask, FAN_ALLOW written at once
 *   perm_never    engine.fanotify with an engine group and a listener that
 *                 reads queue.read() and answers queue.respond(id,
 *                 FAN_ALLOW), the engine opened with sync 'never'
 *   perm_always   the same, sync 'always': the request and the decision
 *                 each durable (an fdatasync, shared by group commit)
 *                 before the reader goes on
 *   perm_blocking the same, sync 'always', with blocking commits (`io: new
 *                 NodeIo({ blocking: true })`: each write and fdatasync on
 *                 the loop's thread, so that the events the kernel queues
 *                 meanwhile are journaled together after it)
 *   disk_pairs    the reference for perm_always: a bare journal on the same
 *                 disk, one appender per reader, each appending two
 *                 200-byte records in sequence (a request, then its
 *                 decision) and awaiting each: what the disk's group commit
 *                 allows a round trip of two durable entries
 *
 * Latencies are the readers' own: open(2) to close(2), the wait in the
 * kernel included. The engines' directories are on the image's scratch
 * dir, another filesystem (a journal on the watched one is refused).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../fanlog.js';
import { Journal } from '../journal/journal.js';
import { FAN_OPEN_PERM, FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import type { LoopImage } from '../crash/fs-image.js';
import { formatRate, type BenchSettings, selected } from './harness.js';
import type { Peers, ReadersRun } from './fanotify-peers.js';
import { listen } from './permissions.js';

const WARM_MS = 250;

export interface FanotifyPlan {
  rounds: number;
  roundMs: number;
  readers: number;
  /** The permission event each read raises: 'open' (FAN_OPEN_PERM) or 'pre-access' (FAN_PRE_ACCESS). */
  event: 'open' | 'pre-access';
}

export interface PermissionFigures {
  roundTripsPerSecond: Record<string, number>;
  latencyMs: Record<string, { p50: number; p99: number }>;
  /** The engine process's CPU (user and system) per round trip, µs, median over rounds. */
  cpuUsPerTrip: Record<string, number>;
  /** Median over rounds of the per-round ratio. */
  ratios: Record<string, number>;
}

/** The engines the suite measures, by sync policy, each with a permission group 'hsm' of the class the event needs. */
export type Engines = Record<'never' | 'always' | 'blocking', Engine>;

/** The mask and engine group class of `event`. */
export function permissionOf(event: FanotifyPlan['event']): { mask: bigint; groupClass: 'content' | 'pre-content' } {
  return event === 'open' ? { mask: FAN_OPEN_PERM, groupClass: 'content' } : { mask: FAN_PRE_ACCESS, groupClass: 'pre-content' };
}

interface Round {
  perSecond: number;
  latenciesNs: Uint32Array[];
  /** This process's CPU time (user and system) per round trip, in µs: the engine's cost, less noisy than its rate on a shared machine. */
  cpuUsPerTrip?: number;
}

/** One round of a case, `ms` long. */
type CaseRun = (ms: number) => Promise<Round>;

/** Median of `values` (the mean of the middle two of an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** p50 and p99 in ms over every latency of `runs`. */
function percentiles(runs: readonly Uint32Array[]): { p50: number; p99: number } {
  const all = new Uint32Array(runs.reduce((sum, run) => sum + run.length, 0));
  let at = 0;
  for (const run of runs) {
    all.set(run, at);
    at += run.length;
  }
  all.sort();
  const pick = (fraction: number): number => (all.length === 0 ? NaN : all[Math.min(all.length - 1, Math.floor(all.length * fraction))]! / 1e6);
  return { p50: pick(0.5), p99: pick(0.99) };
}

/** One round of readers under the engine's source: the source is started for the round and stopped after, whatever happens. */
function engineCase(engine: Engine, mount: string, file: string, plan: FanotifyPlan, peers: Peers, log: (line: string) => void): CaseRun {
  const { mask } = permissionOf(plan.event);
  return async (ms) => {
    const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask } });
    const cpu = process.cpuUsage();
    let run: ReadersRun;
    try {
      run = await peers.readers(file, ms, plan.readers);
    } finally {
      // Stopping answers whatever is still unanswered (its stop policy), so no reader stays blocked.
      await source.stop();
    }
    const used = process.cpuUsage(cpu);
    const asked = source.stats().permission!.requests;
    if (asked !== run.operations) log(`  (the engine was asked ${asked} times for ${run.operations} reads: a bench bug if they differ)`);
    return { ...run, cpuUsPerTrip: (used.user + used.system) / Math.max(1, run.operations) };
  };
}

/** One round of readers beside the C handler, which is ended (its group closed) whatever happens. */
function cCase(mount: string, file: string, plan: FanotifyPlan, peers: Peers, log: (line: string) => void): CaseRun {
  const { mask } = permissionOf(plan.event);
  return async (ms) => {
    const handler = await peers.daemon('handler', mount, mask);
    let run: ReadersRun;
    let said: string;
    try {
      run = await peers.readers(file, ms, plan.readers);
    } finally {
      said = await handler.finish();
    }
    const match = /^answered (\d+) cpu_us (\d+)$/.exec(said);
    if (match === null || Number(match[1]) !== run.operations) log(`  (the C handler says "${said}" for ${run.operations} reads: a bench bug if they differ)`);
    return { ...run, cpuUsPerTrip: match === null ? undefined : Number(match[2]) / Math.max(1, run.operations) };
  };
}

/** The disk's group commit for a round trip of two durable entries, one appender per reader (see the header). */
async function diskCase(scratch: string, plan: FanotifyPlan): Promise<{ run: CaseRun; close: () => Promise<void> }> {
  const journal = await Journal.open(path.join(scratch, 'journal-reference'), { sync: 'always' });
  const payload = randomBytes(200);
  const pair = async (): Promise<void> => {
    await journal.append(payload);
    await journal.append(payload);
  };
  const run: CaseRun = async (ms) => {
    let pairs = 0;
    const started = performance.now();
    while (performance.now() - started < ms) {
      await Promise.all(Array.from({ length: plan.readers }, pair));
      pairs += plan.readers;
    }
    return { perSecond: pairs / ((performance.now() - started) / 1000), latenciesNs: [] };
  };
  return { run, close: () => journal.close() };
}

/** What the rounds measured, by case: each round's rate and CPU per round trip, and every latency. */
interface Measured {
  perRound: Record<string, number[]>;
  cpu: Record<string, number[]>;
  latencies: Record<string, Uint32Array[]>;
}

/** Runs `chosen` in turn, round after round, after a round unmeasured. */
async function measure(chosen: readonly [string, CaseRun][], plan: FanotifyPlan): Promise<Measured> {
  const empty = <T>(): Record<string, T[]> => Object.fromEntries(chosen.map(([name]) => [name, []]));
  const measured: Measured = { perRound: empty(), cpu: empty(), latencies: empty() };
  // A round unmeasured first: the first source loads koffi, and the first round trips run before V8 has optimised them.
  for (const [, run] of chosen) await run(Math.min(WARM_MS, plan.roundMs));
  for (let round = 0; round < plan.rounds; round++) {
    for (const [name, run] of chosen) {
      const { perSecond, latenciesNs, cpuUsPerTrip } = await run(plan.roundMs);
      measured.perRound[name]!.push(perSecond);
      measured.latencies[name]!.push(...latenciesNs);
      if (cpuUsPerTrip !== undefined) measured.cpu[name]!.push(cpuUsPerTrip);
    }
  }
  return measured;
}

/** Runs the permission cases side by side (see the header); logs the table and the goals. */
export async function permissionRounds(
  image: LoopImage,
  engines: Engines,
  peers: Peers,
  plan: FanotifyPlan,
  settings: BenchSettings,
): Promise<PermissionFigures> {
  const { mount, scratch } = image;
  const file = path.join(mount, 'marked.dat');
  writeFileSync(file, randomBytes(4096));
  const listeners = [engines.never, engines.always, engines.blocking].map((engine) => listen(engine.groups.get('hsm').openQueue()));
  let disk: Awaited<ReturnType<typeof diskCase>> | null = null;
  let measured: Measured;
  try {
    disk = await diskCase(scratch, plan);
    const cases: [string, CaseRun][] = [
      ['perm_never', engineCase(engines.never, mount, file, plan, peers, settings.log)],
      ['perm_always', engineCase(engines.always, mount, file, plan, peers, settings.log)],
      ['perm_blocking', engineCase(engines.blocking, mount, file, plan, peers, settings.log)],
      ['disk_pairs', disk.run],
    ];
    if (peers.binary !== null) cases.unshift(['perm_c', cCase(mount, file, plan, peers, settings.log)]);
    measured = await measure(
      cases.filter(([name]) => selected(settings, name)),
      plan,
    );
  } finally {
    for (const listener of listeners) await listener.stop();
    await disk?.close();
  }
  const figures = summarize(measured, settings);
  if (peers.binary === null) settings.log(`  perm_c             skipped: ${peers.skipped}`);
  logGoal(settings, figures.ratios['perm_never/perm_c'], 'perm_never / perm_c', 0.5);
  logGoal(settings, figures.ratios['perm_always/disk_pairs'], 'perm_always / disk_pairs', 1);
  logGoal(settings, figures.ratios['perm_blocking/disk_pairs'], 'perm_blocking / disk_pairs', 1);
  const always = figures.ratios['perm_always/perm_c'];
  if (always !== undefined) settings.log(`  ${'perm_always / perm_c'.padEnd(36)}${always.toFixed(2)}x`);
  return figures;
}

/** Medians over the rounds, percentiles over every latency, ratios within each round; logs a line a case. */
function summarize({ perRound, cpu, latencies }: Measured, settings: BenchSettings): PermissionFigures {
  const figures: PermissionFigures = { roundTripsPerSecond: {}, latencyMs: {}, cpuUsPerTrip: {}, ratios: {} };
  for (const [name, rates] of Object.entries(perRound)) {
    const rate = median(rates);
    figures.roundTripsPerSecond[name] = rate;
    const spread = ((Math.max(...rates) - Math.min(...rates)) / rate) * 50;
    let line = `  ${name.padEnd(18)} ${formatRate(rate)} round trips/s  (median of ${rates.length} rounds, ±${spread.toFixed(0)}%)`;
    if (latencies[name]!.length > 0) {
      const timed = percentiles(latencies[name]!);
      figures.latencyMs[name] = timed;
      line += `  p50 ${timed.p50.toFixed(3)} ms, p99 ${timed.p99.toFixed(3)} ms`;
    }
    if (cpu[name]!.length > 0) {
      figures.cpuUsPerTrip[name] = median(cpu[name]!);
      line += `, ${figures.cpuUsPerTrip[name].toFixed(1)} µs CPU each`;
    }
    settings.log(line);
  }
  for (const [a, b] of [
    ['perm_never', 'perm_c'],
    ['perm_always', 'perm_c'],
    ['perm_always', 'disk_pairs'],
    ['perm_blocking', 'disk_pairs'],
  ] as const) {
    const as = perRound[a];
    const bs = perRound[b];
    if (as !== undefined && bs !== undefined) figures.ratios[`${a}/${b}`] = median(as.map((value, i) => value / bs[i]!));
  }
  return figures;
}

/** Prints a measured ratio against the goal; measured, never asserted. */
function logGoal(settings: BenchSettings, value: number | undefined, label: string, goal: number): void {
  if (value === undefined) return;
  settings.log(`  ${label.padEnd(36)}${value.toFixed(2)}x  (goal >= ${goal}x: ${value >= goal ? 'met' : 'NOT met'})`);
}
