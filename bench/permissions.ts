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
 *
 * Latency percentiles are taken over every round trip of permission_64.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine } from '../engine/engine.js';
import { FAN_ACCESS_PERM, FAN_ALLOW } from '../engine/masks.js';
import { type BenchCase, type BenchSettings, ratio, runCases } from './harness.js';

const PROCESSES = 64;

export interface PermissionsSuiteResult {
  suite: 'permissions';
  roundTripsPerSecond: Record<string, number>;
  latencyMs: { p50: number; p99: number };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

export async function permissionsSuite(settings: BenchSettings): Promise<PermissionsSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-permissions-'));
  try {
    const engine = await Engine.open(path.join(root, 'engine'), { store: 'lmdb' });
    await engine.fs.mkdir('/d');
    const fds: number[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      await engine.fs.create(`/d/f${i}`, { size: 1 << 20 });
      fds.push(await engine.fs.open(`/d/f${i}`, 'r'));
    }
    const group = await engine.groups.create('av', { class: 'content' });
    await group.mark({ path: '/d', scope: 'mount', mask: FAN_ACCESS_PERM });
    const queue = group.openQueue();
    let listening = true;
    // The listener answers without waiting for each answer to be durable, so
    // its answers share fdatasyncs as the requests do.
    const answering = new Set<Promise<void>>();
    const listener = (async () => {
      while (listening) {
        for (const event of await queue.read({ max: 256, waitMs: 50 })) {
          const answer = queue.respond(event.id, FAN_ALLOW);
          answering.add(answer);
          void answer.finally(() => answering.delete(answer));
        }
      }
      await Promise.all(answering);
    })();

    const latencies: number[] = [];
    const roundTrip = async (fd: number, pid: number, record: boolean): Promise<void> => {
      const started = performance.now();
      await engine.fs.read(fd, 0, 4096, { pid });
      if (record) latencies.push(performance.now() - started);
    };
    const cases: BenchCase[] = [
      { name: 'permission_1', recordsPerCall: 1, unit: 'round trips', run: () => roundTrip(fds[0]!, 1, false) },
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
    settings.log('  permission_64                       target >= 20,000 round trips/s');
    listening = false;
    await listener;
    await queue.close();
    await engine.close();
    return { suite: 'permissions', roundTripsPerSecond: rates, latencyMs };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
