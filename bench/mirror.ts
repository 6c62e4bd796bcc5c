/**
 * `npm run bench -- mirror`: a real directory mirrored into an engine
 * (mirror/), on a tree of F files in 100 directories (200,000; 20,000 with
 * --quick) under the OS temp dir.
 *
 *   find            `find DIR -printf` of inode, mode, owner, size and
 *                   both times: the floor, a C walk printing what a mirror
 *                   reads; entries/s
 *   readdir_lstat   the mirror's own walk (mirror/disk.ts: readdir, then
 *                   lstat with ns times, 64 at a time), no engine; entries/s
 *   mirror_crawl    a fresh engine's start scan (`watch: false`): the walk
 *                   and a create journaled, durable, per entry; entries/s
 *   The three alternate, page cache warm, three rounds (one with --quick);
 *   medians are reported.
 *   latency         one file written at a time into a watched directory,
 *                   to its create record handed to a consumer (so durable),
 *                   p50 and p99, with settleMs 50 (the default) and 5
 *   sustained       C creates (50,000; 5,000 with --quick) as fast as a
 *                   writer process makes them: creates/s from the first
 *                   write to the last create handed to a consumer, with
 *                   no rescan (the scan count stays 1), beside the rate
 *                   the writer made them at
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { Engine } from '../fanlog.js';
import { FAN_CREATE } from '../engine/notify/masks.js';
import { listDir } from '../mirror/disk.js';
import { formatRate, percentile, type BenchSettings } from './harness.js';

const DIRS = 100;

export async function mirrorSuite(settings: BenchSettings): Promise<Record<string, unknown>> {
  const files = settings.quick ? 20_000 : 200_000;
  const rounds = settings.quick ? 1 : 3;
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-mirror-'));
  try {
    const tree = path.join(root, 'tree');
    for (let d = 0; d < DIRS; d++) mkdirSync(path.join(tree, `d${d}`), { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(path.join(tree, `d${i % DIRS}`, `f${i}`), 'x');
    const entries = files + DIRS;
    find(tree); // the page cache, warm for all three
    const rates = { find: [] as number[], readdir_lstat: [] as number[], mirror_crawl: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      rates.find.push(entries / find(tree));
      rates.readdir_lstat.push(entries / (await walk(tree)));
      rates.mirror_crawl.push(entries / (await crawl(tree, path.join(root, `engine-${round}`))));
      settings.log(
        `  round ${round + 1}: find ${formatRate(rates.find[round]!)}, readdir_lstat ${formatRate(rates.readdir_lstat[round]!)}, mirror_crawl ${formatRate(rates.mirror_crawl[round]!)} entries/s`,
      );
      rmSync(path.join(root, `engine-${round}`), { recursive: true, force: true });
    }
    const median = (values: number[]): number =>
      percentile(
        [...values].sort((a, b) => a - b),
        0.5,
      );
    const crawlRates = { find: median(rates.find), readdir_lstat: median(rates.readdir_lstat), mirror_crawl: median(rates.mirror_crawl) };
    settings.log(
      `  mirror_crawl / readdir_lstat  ${(crawlRates.mirror_crawl / crawlRates.readdir_lstat).toFixed(2)}x;  mirror_crawl / find  ${(crawlRates.mirror_crawl / crawlRates.find).toFixed(2)}x`,
    );
    const samples = settings.quick ? 50 : 300;
    const latency50 = await latency(path.join(root, 'latency-50'), samples, 50);
    const latency5 = await latency(path.join(root, 'latency-5'), samples, 5);
    settings.log(
      `  latency, write on disk to its create handed to a consumer: settleMs 50 p50 ${latency50.p50.toFixed(1)} ms, p99 ${latency50.p99.toFixed(1)} ms; settleMs 5 p50 ${latency5.p50.toFixed(1)} ms, p99 ${latency5.p99.toFixed(1)} ms`,
    );
    const sustained = await sustain(path.join(root, 'sustained'), settings.quick ? 5_000 : 50_000);
    settings.log(
      `  sustained: ${formatRate(sustained.rate)} creates/s journaled, the writer making ${formatRate(sustained.writerRate)}/s beside the mirror; ${sustained.hintBatches} hint batches, no rescan (scans ${sustained.scans})`,
    );
    return { suite: 'mirror', entriesPerSecond: crawlRates, latencyMs: { settle50: latency50, settle5: latency5 }, sustained };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Seconds for `find` to print what a mirror reads of every entry. */
function find(tree: string): number {
  const started = performance.now();
  const run = spawnSync('find', [tree, '-printf', '%i %m %U %G %s %T@ %C@\\n'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) throw new Error(`find exited with ${run.status}`);
  return (performance.now() - started) / 1000;
}

/** Seconds for the mirror's walk alone. */
async function walk(tree: string): Promise<number> {
  const started = performance.now();
  const queue = [tree];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    for (const [name, entry] of (await listDir(dir)).entries) if (entry.type === 'dir') queue.push(`${dir}/${name}`);
  }
  return (performance.now() - started) / 1000;
}

/** Seconds for a fresh engine's start scan of the tree. */
async function crawl(tree: string, dir: string): Promise<number> {
  const engine = await Engine.open(dir);
  try {
    const started = performance.now();
    const mirror = await engine.mirror(tree, { watch: false });
    const seconds = (performance.now() - started) / 1000;
    await mirror.stop();
    return seconds;
  } finally {
    await engine.close();
  }
}

/** One file at a time: from its write to its create record handed to a consumer. */
async function latency(base: string, samples: number, settleMs: number): Promise<{ p50: number; p99: number }> {
  const tree = path.join(base, 'tree');
  mkdirSync(tree, { recursive: true });
  const engine = await Engine.open(path.join(base, 'engine'));
  const consumer = await engine.consumers.register('latency', { mask: FAN_CREATE });
  const mirror = await engine.mirror(tree, { settleMs });
  const taken: number[] = [];
  try {
    await consumer.ack((await consumer.read({ max: 1000 })).at(-1)?.seq ?? 0n).catch(() => undefined);
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      closeSync(openSync(path.join(tree, `f${i}`), 'w'));
      for (let found = false; !found;) {
        const batch = await consumer.read({ max: 100, waitMs: 5000 });
        found = batch.some((record) => record.kind === 'event' && record.name === `f${i}`);
        if (batch.length > 0) await consumer.ack(batch.at(-1)!.seq);
      }
      taken.push(performance.now() - started);
    }
  } finally {
    await mirror.stop();
    await engine.close();
  }
  taken.sort((a, b) => a - b);
  return { p50: percentile(taken, 0.5), p99: percentile(taken, 0.99) };
}

/** C creates by a writer process of their own: how fast the writer made them, and how fast the mirror journaled them. */
async function sustain(base: string, creates: number): Promise<{ rate: number; writerRate: number; scans: number; hintBatches: number }> {
  const tree = path.join(base, 'tree');
  for (let d = 0; d < 10; d++) mkdirSync(path.join(tree, `d${d}`), { recursive: true });
  const engine = await Engine.open(path.join(base, 'engine'));
  const consumer = await engine.consumers.register('sustained', { mask: FAN_CREATE, lagRecordsMax: 10_000_000 });
  const mirror = await engine.mirror(tree, { settleMs: 20 });
  try {
    for (let batch = await consumer.read({ max: 10_000 }); batch.length > 0; batch = await consumer.read({ max: 10_000 }))
      await consumer.ack(batch.at(-1)!.seq);
    const started = performance.now();
    const script = `const fs = require('node:fs'); for (let i = 0; i < ${creates}; i++) fs.closeSync(fs.openSync(${JSON.stringify(tree)} + '/d' + (i % 10) + '/f' + i, 'w'));`;
    const writer = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
    const wrote = new Promise<number>((resolve) => writer.once('exit', () => resolve(performance.now())));
    let seen = 0;
    while (seen < creates) {
      const batch = await consumer.read({ max: 10_000, waitMs: 10_000 });
      if (batch.length === 0) throw new Error(`the mirror stopped at ${seen} of ${creates} creates`);
      seen += batch.filter((record) => record.kind === 'event').length;
      await consumer.ack(batch.at(-1)!.seq);
    }
    const seconds = (performance.now() - started) / 1000;
    const stats = mirror.stats();
    return { rate: creates / seconds, writerRate: creates / (((await wrote) - started) / 1000), scans: stats.scans, hintBatches: stats.hintBatches };
  } finally {
    await mirror.stop();
    await engine.close();
  }
}
