/**
 * engine.metrics() (metrics.ts): seqs, journal bytes, rates and fdatasync
 * latency over the last minute, consumers' lag in records and seconds (by
 * the engine's clock), groups' queues, pending permission events and
 * timeouts; and the Prometheus text it formats to.
 */
import { afterEach, expect, it } from 'vitest';
import { Engine, FAN_CREATE, FAN_PRE_ACCESS, prometheusText } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { SlidingWindow } from '../../journal/window.js';
import { tempDir } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

it("reports seqs, bytes, entry rate, fdatasync latency and each consumer's lag in records and seconds", async () => {
  let now = 1_800_000_000_000_000_000n;
  const engine = await Engine.open(tempDir(), { store: 'lmdb', clock: () => now });
  engines.push(engine);
  const backup = await engine.consumers.register('backup');
  const watch = await engine.groups.create('watch');
  await watch.mark({ path: '/', scope: 'filesystem', mask: FAN_CREATE });
  await engine.fs.mkdir('/a');
  now += 10_000_000_000n;
  for (let i = 0; i < 5; i++) await engine.fs.create(`/a/f${i}`);
  const metrics = await engine.metrics();
  expect(metrics.seqs).toEqual({ head: engine.journal.headSeq, durable: engine.journal.durableSeq, checkpoint: 0n, oldestRetained: 1n });
  expect(metrics.journalBytes).toBe(engine.journal.bytes);
  expect(metrics.journalBytes).toBeGreaterThan(0);
  // Six entries (one per operation), written within the last minute.
  expect(metrics.entriesPerSecond).toBeCloseTo(6 / 60, 5);
  expect(metrics.fdatasyncMs!.count).toBeGreaterThanOrEqual(6);
  expect(metrics.fdatasyncMs!.p50).toBeGreaterThanOrEqual(0);
  expect(metrics.fdatasyncMs!.p99).toBeGreaterThanOrEqual(metrics.fdatasyncMs!.p50!);
  // The first record it has not acknowledged is the mkdir's, 10 s before the head.
  expect(metrics.consumers).toEqual([{ name: 'backup', cursor: 0n, lagRecords: engine.journal.headSeq, lagSeconds: 10, idleMs: 10_000, evicted: false }]);
  expect(metrics.groups).toEqual([{ name: 'watch', class: 'notif', queued: watch.info().queued, pendingPermissions: 0, timeouts: 0, evicted: false }]);
  expect(watch.info().queued).toBeGreaterThan(0);
  await backup.ack(engine.journal.durableSeq);
  expect((await engine.metrics()).consumers[0]).toMatchObject({ lagRecords: 0n, lagSeconds: 0, idleMs: 0 });
});

it("counts a group's pending permission events and its timeouts", async () => {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  engines.push(engine);
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/stub', { size: 8192, offline: true });
  const fd = await engine.fs.open('/d/stub', 'r');
  const hsm = await engine.groups.create('hsm', { class: 'pre-content', permissionTimeoutMs: 1, onTimeout: 'deny' });
  await hsm.mark({ path: '/d', scope: 'mount', mask: FAN_PRE_ACCESS });
  const reading = engine.fs.read(fd, 0, 100).catch((error: { code: string }) => error.code);
  expect((await engine.metrics()).groups[0]).toMatchObject({ name: 'hsm', pendingPermissions: expect.any(Number) });
  expect(await reading).toBe('EPERM');
  expect((await engine.metrics()).groups[0]).toMatchObject({ pendingPermissions: 0, timeouts: 1 });
});

it('formats metrics in the Prometheus text exposition format, leaving unknown values out', async () => {
  const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files' });
  engines.push(engine);
  await engine.consumers.register('b.q');
  await engine.fs.mkdir('/x');
  const text = prometheusText(await engine.metrics(), '/srv/fan"log');
  const lines = text.trimEnd().split('\n');
  let declared = '';
  for (const line of lines) {
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      declared = line.split(' ')[2]!;
      expect(line).toMatch(/^# TYPE fanlog_[a-z_]+ (gauge|counter)$/);
      continue;
    }
    expect(line).toMatch(/^fanlog_[a-z_0-9]+\{dir="\/srv\/fan\\"log"(,[a-z]+="[^"\\]*(\\.[^"\\]*)*")*\} -?\d+(\.\d+)?(e[+-]?\d+)?$/);
    expect(line.startsWith(`${declared}{`)).toBe(true);
  }
  expect(text).toContain('fanlog_consumer_lag_records{dir="/srv/fan\\"log",consumer="b.q"} 2');
  const unknown = prometheusText({ ...(await engine.metrics()), entriesPerSecond: null, fdatasyncMs: null }, '/d');
  expect(unknown).not.toContain('entries_per_second');
  expect(unknown).not.toContain('fdatasync');
});

it('keeps a sliding window of the last minute: counts, rates and quantiles, forgetting what is older', () => {
  let ms = 0;
  const window = new SlidingWindow(60, () => ms);
  for (let i = 1; i <= 100; i++) window.record(i);
  expect(window.count()).toBe(100);
  expect(window.quantile(0.5)).toBe(50);
  expect(window.quantile(0.99)).toBe(99);
  ms += 30_000;
  window.record(1000);
  expect(window.quantile(1)).toBe(1000);
  ms += 40_000;
  // The first 100 samples are more than a minute old now.
  expect(window.count()).toBe(1);
  expect(window.rate()).toBeCloseTo(1 / 60);
  ms += 60_000;
  expect(window.quantile(0.5)).toBeNull();
});
