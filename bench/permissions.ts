/**
 * Permissions suite: durable permission round trips per second. A round
 * trip is a guarded `read`: its FAN_ACCESS_PERM request journaled (durable),
 * delivered to a content group, answered by an in-process listener, the
 * answer journaled (durable), and the read completed (its FAN_ACCESS event
 * journaled, durable): three durable entries per round trip, shared across
 * concurrent processes by group commit. lmdb store, sync 'always'.
 *
 *   permission_1    one process, one guarded read at a time
 *   permission_64   64 concurrent processes
 *   journal_single  the journal alone: one 200-byte record per append, each
 *                   awaited (permission_1's reference: a round trip is
 *                   three such durable entries in sequence, so 1/3 is the
 *                   most it can reach; the target is 0.3, side by side)
 *
 * Latency percentiles are taken over every round trip of permission_64.
 *
 *   answer_pending_4k, answer_pending_16k   answers/s when that many
 *                   requests wait at once (each a guarded open): the cost
 *                   of one answer must not grow with the number waiting
 *                   (it once did, quadratically: 33.7 s for 16,000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine } from '../fanlog.js';
import type { EventQueue } from '../engine/notify/event-queue.js';
import { FAN_ACCESS_PERM, FAN_ALLOW, FAN_OPEN_PERM } from '../engine/notify/masks.js';
import { type BenchCase, type BenchSettings, measureTargets, percentile, ratio, runCases, selected, type Targets } from './harness.js';
import { Journal } from '../journal/journal.js';
import { CountingIo, countOverlap } from './overlap.js';
import { randomBytes } from 'node:crypto';

const PROCESSES = 64;

export interface PermissionsSuiteResult {
  suite: 'permissions';
  roundTripsPerSecond: Record<string, number>;
  latencyMs: { p50: number; p99: number };
  answersPerSecond: Record<string, number>;
  targets: Targets;
}

/** Issue 12's permission target: [case, its reference, target ratio]. */
const TARGETS: [string, string, number][] = [['permission_1', 'journal_single', 0.3]];

/** Answers per second when `count` guarded opens wait at once: only the answering is timed. */
async function answerPending(root: string, count: number): Promise<number> {
  const engine = await Engine.open(path.join(root, `pending-${count}`), { store: 'lmdb' });
  try {
    await engine.fs.create('/f', { size: 100 });
    const group = await engine.groups.create('av', { class: 'content' });
    await group.mark({ path: '/f', mask: FAN_OPEN_PERM });
    const queue = group.openQueue();
    const opens = Array.from({ length: count }, (_, i) => engine.fs.open('/f', 'r', {}, { pid: 1000 + i }));
    const events = [];
    while (events.length < count) events.push(...(await queue.read({ max: 65536, waitMs: 1000 })));
    const started = performance.now();
    await Promise.all(events.map((event) => queue.respond(event.id, FAN_ALLOW)));
    await Promise.all(opens);
    return count / ((performance.now() - started) / 1000);
  } finally {
    await engine.close();
  }
}

/**
 * An in-process listener allowing every event of `queue`. It answers
 * without waiting for each answer to be durable, so that its answers share
 * fdatasyncs as the requests do. `stop()` resolves once every answer is.
 */
export function listen(queue: EventQueue): { stop: () => Promise<void> } {
  let listening = true;
  const answering = new Set<Promise<void>>();
  const loop = (async () => {
    while (listening) {
      for (const event of await queue.read({ max: 256, waitMs: 50 })) {
        const answer = queue.respond(event.id, FAN_ALLOW);
        answering.add(answer);
        void answer.finally(() => answering.delete(answer));
      }
    }
    await Promise.all(answering);
  })();
  return {
    stop: async () => {
      listening = false;
      await loop;
    },
  };
}

/**
 * The suite's setup on `engine`: /d with one open 1 MiB file per process,
 * and a content group 'av' marking /d for `mask` (FAN_ACCESS_PERM), whose
 * queue is returned for a listener.
 */
export async function guardedFiles(engine: Engine, mask: bigint): Promise<{ fds: number[]; queue: EventQueue }> {
  await engine.fs.mkdir('/d');
  const fds: number[] = [];
  for (let i = 0; i < PROCESSES; i++) {
    await engine.fs.create(`/d/f${i}`, { size: 1 << 20 });
    fds.push(await engine.fs.open(`/d/f${i}`, 'r'));
  }
  const group = await engine.groups.create('av', { class: 'content' });
  await group.mark({ path: '/d', scope: 'mount', mask });
  return { fds, queue: group.openQueue() };
}

export async function permissionsSuite(settings: BenchSettings): Promise<PermissionsSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-permissions-'));
  try {
    const io = new CountingIo();
    const engine = await Engine.open(path.join(root, 'engine'), { store: 'lmdb', io });
    io.watch(() => engine.journal.headSeq);
    const { fds, queue } = await guardedFiles(engine, FAN_ACCESS_PERM);
    const listener = listen(queue);

    const latencies: number[] = [];
    const roundTrip = async (fd: number, pid: number, record: boolean): Promise<void> => {
      const started = performance.now();
      await engine.fs.read(fd, 0, 4096, { pid });
      if (record) latencies.push(performance.now() - started);
    };
    const journal = await Journal.open(path.join(root, 'journal'));
    const payload = randomBytes(200);
    const cases: BenchCase[] = [
      { name: 'permission_1', recordsPerCall: 1, unit: 'round trips', run: () => roundTrip(fds[0]!, 1, false) },
      { name: 'journal_single', recordsPerCall: 1, run: () => journal.append(payload) },
      {
        name: 'permission_64',
        recordsPerCall: PROCESSES,
        unit: 'round trips',
        run: () => Promise.all(fds.map((fd, i) => roundTrip(fd, 100 + i, true))),
      },
    ];
    settings.log(`permissions suite (${settings.quick ? 'quick' : 'full'}): durable permission round trips (lmdb store)`);
    const rates = await runCases(cases, settings);
    latencies.sort((a, b) => a - b);
    const latencyMs = { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
    settings.log(`  permission_64 / permission_1        ${ratio(rates.permission_64, rates.permission_1)}`);
    settings.log(`  permission_64 latency               p50 ${latencyMs.p50.toFixed(2)} ms, p99 ${latencyMs.p99.toFixed(2)} ms`);
    settings.log('  permission_64                       target >= 20,000 round trips/s, p99 <= 10 ms');
    const targets = await measureTargets(cases, TARGETS, settings);
    await journal.close();
    if (selected(settings, 'overlap')) await countOverlap('permission_64', io, () => Promise.all(fds.map((fd, i) => roundTrip(fd, 100 + i, false))), settings);
    await listener.stop();
    await queue.close();
    await engine.close();
    const answersPerSecond: Record<string, number> = {};
    if (!selected(settings, 'answer_pending')) return { suite: 'permissions', roundTripsPerSecond: rates, latencyMs, answersPerSecond, targets };
    for (const count of settings.quick ? [1000, 4000] : [4000, 16000]) answersPerSecond[`answer_pending_${count / 1000}k`] = await answerPending(root, count);
    const [small, large] = Object.entries(answersPerSecond);
    settings.log(`  ${small![0].padEnd(36)}${Math.round(small![1]).toLocaleString('en-US')} answers/s`);
    settings.log(
      `  ${large![0].padEnd(36)}${Math.round(large![1]).toLocaleString('en-US')} answers/s (${ratio(large![1], small![1])} of ${small![0]}: the cost of an answer does not grow with the number waiting)`,
    );
    return { suite: 'permissions', roundTripsPerSecond: rates, latencyMs, answersPerSecond, targets };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
