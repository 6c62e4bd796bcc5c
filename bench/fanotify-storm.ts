/**
 * The fanotify suite's notification events (bench/fanotify.ts): a storm, a
 * process creating (open O_CREAT, close) and removing files in a directory
 * of the ext4 image as fast as it can, while a changelog group of the
 * default mask (WATCH_DEFAULT_MASK) on the image's filesystem reports every
 * event. Cases, in turn, round after round:
 *
 *   storm_c       the C counter (bench/fanotify-handler.c count): a
 *                 FAN_CLASS_NOTIF group with FAN_REPORT_DFID_NAME_TARGET,
 *                 as the engine's, reading and counting: the kernel's own
 *                 event rate, and events per storm cycle
 *   storm_never   engine.fanotify({ path, mask }) journaling every event,
 *   storm_always  sync 'never' and 'always': event records journaled per
 *                 second, from the storm's start until stop() has
 *                 journaled what the kernel still held
 * Then, once each, for three rounds' time:
 *   storm_20k_never, storm_20k_always   the storm paced to 20,000 events a
 *                 second (by the events per cycle storm_c counted), the
 *                 issue's goal being no FAN_Q_OVERFLOW at that rate
 * FAN_Q_OVERFLOW counts are the engine's stats().overflows (each journaled
 * as a loss note) and the C counter's.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LoopImage } from '../crash/fs-image.js';
import { WATCH_DEFAULT_MASK } from '../kernel/watch.js';
import type { Engine } from '../fanlog.js';
import { formatRate, type BenchSettings, selected } from './harness.js';
import type { Peers } from './fanotify-peers.js';
import { type Engines, type FanotifyPlan, median } from './fanotify-permission.js';

export interface StormFigures {
  /** storm_c: the kernel's events/s; the engine's cases: event records journaled/s. */
  eventsPerSecond: Record<string, number>;
  /** The storm's own create-and-remove cycles/s beside each. */
  cyclesPerSecond: Record<string, number>;
  overflows: Record<string, number>;
  /** The engine process's CPU per event journaled, µs (median over rounds). */
  cpuUsPerEvent: Record<string, number>;
  /** Median over rounds of each engine case's rate against storm_c's in the same round. */
  ratios: Record<string, number>;
  /** Events the kernel reported per storm cycle, by case. */
  eventsPerCycle: Record<string, number>;
}

interface StormRound {
  events: number;
  /** Events journaled (or counted) per second. */
  perSecond: number;
  cyclesPerSecond: number;
  overflows: number;
  cycles: number;
  /** How long the storm ran. */
  stormSeconds: number;
  /** The engine process's CPU (user and system) per event journaled, µs; the engine's cases only. */
  cpuUsPerEvent?: number;
}

const GOAL_EVENTS_PER_SECOND = 20_000;

/** The storm beside the C counter, which is ended whatever happens. */
async function cRound(peers: Peers, mount: string, dir: string, ms: number): Promise<StormRound> {
  const counter = await peers.daemon('count', mount, WATCH_DEFAULT_MASK);
  let storm: { cycles: number; seconds: number } | undefined;
  let counted: string;
  try {
    storm = await peers.storm(dir, ms, 0);
  } finally {
    counted = await counter.finish();
  }
  const match = /^events (\d+) overflows (\d+)$/.exec(counted);
  if (match === null) throw new Error(`the C counter printed ${JSON.stringify(counted)}`);
  const events = Number(match[1]);
  return {
    events,
    perSecond: events / storm.seconds,
    cyclesPerSecond: storm.cycles / storm.seconds,
    overflows: Number(match[2]),
    cycles: storm.cycles,
    stormSeconds: storm.seconds,
  };
}

/** The storm under the engine's changelog source, stopped (what the kernel holds journaled) whatever happens. */
async function engineRound(engine: Engine, peers: Peers, mount: string, dir: string, ms: number, rate: number): Promise<StormRound> {
  const source = await engine.fanotify({ path: mount, mask: WATCH_DEFAULT_MASK });
  const started = performance.now();
  const cpu = process.cpuUsage();
  let storm: { cycles: number; seconds: number } | undefined;
  try {
    storm = await peers.storm(dir, ms, rate);
  } finally {
    await source.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const { events, journaled, overflows } = source.stats();
  return {
    events,
    perSecond: journaled / seconds,
    cyclesPerSecond: storm.cycles / storm.seconds,
    overflows,
    cycles: storm.cycles,
    stormSeconds: storm.seconds,
    cpuUsPerEvent: (used.user + used.system) / Math.max(1, journaled),
  };
}

/** Runs the storm cases (see the header); logs the table and the goal. */
export async function stormRounds(image: LoopImage, engines: Engines, peers: Peers, plan: FanotifyPlan, settings: BenchSettings): Promise<StormFigures> {
  const dir = path.join(image.mount, 'storm');
  mkdirSync(dir, { recursive: true });
  const cases: [string, (ms: number) => Promise<StormRound>][] = [
    ['storm_never', (ms) => engineRound(engines.never, peers, image.mount, dir, ms, 0)],
    ['storm_always', (ms) => engineRound(engines.always, peers, image.mount, dir, ms, 0)],
  ];
  if (peers.binary !== null) cases.unshift(['storm_c', (ms) => cRound(peers, image.mount, dir, ms)]);
  const chosen = cases.filter(([name]) => selected(settings, name));
  const rounds: Record<string, StormRound[]> = Object.fromEntries(chosen.map(([name]) => [name, []]));
  for (let round = 0; round < plan.rounds; round++) {
    for (const [name, run] of chosen) rounds[name]!.push(await run(plan.roundMs));
  }
  const figures: StormFigures = { eventsPerSecond: {}, cyclesPerSecond: {}, overflows: {}, cpuUsPerEvent: {}, ratios: {}, eventsPerCycle: {} };
  for (const [name, measured] of Object.entries(rounds)) {
    const summary = summarize(measured);
    figures.eventsPerSecond[name] = summary.perSecond;
    figures.cyclesPerSecond[name] = summary.cyclesPerSecond;
    figures.overflows[name] = summary.overflows;
    figures.eventsPerCycle[name] = summary.perCycle;
    const what = name === 'storm_c' ? 'events/s (the kernel)' : 'events journaled/s';
    const cost = Number.isNaN(summary.cpuUsPerEvent) ? '' : `, ${summary.cpuUsPerEvent.toFixed(1)} µs CPU an event`;
    if (!Number.isNaN(summary.cpuUsPerEvent)) figures.cpuUsPerEvent[name] = summary.cpuUsPerEvent;
    settings.log(
      `  ${name.padEnd(18)} ${formatRate(summary.perSecond)} ${what}  (median of ${measured.length} rounds; storm ${formatRate(summary.cyclesPerSecond).trim()} cycles/s, ${summary.perCycle.toFixed(2)} events a cycle, ${summary.overflows} overflows${cost})`,
    );
  }
  if (peers.binary === null) settings.log(`  storm_c            skipped: ${peers.skipped}`);
  await pacedRounds(image.mount, dir, engines, peers, plan, settings, figures);
  for (const name of ['storm_never', 'storm_always']) {
    const engineRounds = rounds[name];
    const kernelRounds = rounds.storm_c;
    if (engineRounds === undefined || kernelRounds === undefined) continue;
    // Per round, then the median: the two saw the same machine in the same round.
    const value = median(engineRounds.map((round, i) => round.perSecond / kernelRounds[i]!.perSecond));
    figures.ratios[`${name}/storm_c`] = value;
    settings.log(`  ${`${name} / storm_c`.padEnd(36)}${value.toFixed(2)}x  (events journaled against events the kernel reported the C counter)`);
  }
  return figures;
}

/** The storm paced to 20,000 events/s under each engine, for three rounds' time: the issue's goal is no overflow at that rate. */
async function pacedRounds(
  mount: string,
  dir: string,
  engines: Engines,
  peers: Peers,
  plan: FanotifyPlan,
  settings: BenchSettings,
  figures: StormFigures,
): Promise<void> {
  // The kernel merges a queued event into the next of the same file and name, so a slower reader is reported fewer events a
  // cycle (about 2 for the engine, near 3 for the C counter): the pace is set by what the engine itself was reported.
  const perCycle = figures.eventsPerCycle.storm_always ?? figures.eventsPerCycle.storm_never ?? figures.eventsPerCycle.storm_c ?? 4;
  const paced: [string, Engine][] = [
    ['storm_20k_never', engines.never],
    ['storm_20k_always', engines.always],
  ];
  const ms = plan.roundMs * 3;
  for (const [name, engine] of paced.filter(([pacedName]) => selected(settings, pacedName))) {
    const round = await engineRound(engine, peers, mount, dir, ms, GOAL_EVENTS_PER_SECOND / perCycle);
    figures.eventsPerSecond[name] = round.perSecond;
    figures.cyclesPerSecond[name] = round.cyclesPerSecond;
    figures.overflows[name] = round.overflows;
    figures.eventsPerCycle[name] = round.events / Math.max(1, round.cycles);
    if (round.cpuUsPerEvent !== undefined) figures.cpuUsPerEvent[name] = round.cpuUsPerEvent;
    const reported = Math.round(round.events / round.stormSeconds).toLocaleString('en-US');
    const met = round.overflows === 0 ? 'met' : 'NOT met';
    settings.log(
      `  ${name.padEnd(18)} ${formatRate(round.perSecond)} events journaled/s  (the kernel reported ${reported} events/s for ${ms / 1000} s, ${round.overflows} overflows; goal no overflow at 20,000: ${met})`,
    );
  }
}

/** Medians over rounds, and every overflow summed. */
function summarize(measured: readonly StormRound[]): {
  perSecond: number;
  cyclesPerSecond: number;
  perCycle: number;
  overflows: number;
  cpuUsPerEvent: number;
} {
  const costs = measured.flatMap((round) => (round.cpuUsPerEvent === undefined ? [] : [round.cpuUsPerEvent]));
  return {
    cpuUsPerEvent: median(costs),
    perSecond: median(measured.map((round) => round.perSecond)),
    cyclesPerSecond: median(measured.map((round) => round.cyclesPerSecond)),
    perCycle: median(measured.map((round) => round.events / Math.max(1, round.cycles))),
    overflows: measured.reduce((sum, round) => sum + round.overflows, 0),
  };
}
