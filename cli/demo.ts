/**
 * `fanlog demo` (run by `npm start`): the HSM scenario on the embedded
 * default store (lmdb), end to end.
 *
 *   1. An archive of offline stub files (a few KiB to 32 MiB).
 *   2. An HSM daemon: a restartable pre-content group that fills exactly the
 *      ranges asked for and allows, and says EAGAIN now and then.
 *   3. Simulated processes reading, writing, renaming and deleting.
 *   4. A backup consumer tailing the changelog in batches and acknowledging.
 *   5. Midway the daemon leaves some events unanswered and restarts its
 *      queue; later the engine runs in a child process that is SIGKILLed
 *      while operations wait, and is recovered here.
 *   6. A summary, and the check that nothing was lost or answered twice.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FanlogError } from '../errors.js';
import { fileURLToPath } from 'node:url';
import type { Consumer } from '../consumers/consumer.js';
import { decodeRecord } from '../engine/record/codec.js';
import { Engine } from '../fanlog.js';
import { Prng } from '../journal/prng.js';
import { ARCHIVE, HsmDaemon, hsmGroup, newCounters, populate, simulatedProcess } from './demo-workload.js';
import { progressBar } from './progress.js';

export interface DemoOptions {
  dir: string;
  files: number;
  seed: number;
  /** Also replicate into a Redis stream there, and check a remote reader against the local backup. */
  redis?: string;
}

const PROCESSES = 16;
/** The default store; small segments and frequent checkpoints, so purging shows in a short run. */
const DEMO_ENGINE = { store: 'lmdb', segmentBytesMax: 1 << 20, checkpointEveryRecords: 5000 } as const;
const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const n = (value: number | bigint): string => value.toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The backup consumer's side: reads in batches and acknowledges, counting what it saw. */
class Backup {
  readonly seen = new Map<string, number>();
  readonly seqs = new Set<bigint>();
  redelivered = 0;

  #consumer: Consumer;
  constructor(consumer: Consumer) {
    this.#consumer = consumer;
  }

  attach(consumer: Consumer): void {
    this.#consumer = consumer;
  }

  async drain(max = 2000): Promise<number> {
    let total = 0;
    for (let batch = await this.#consumer.read({ max }); batch.length > 0; batch = await this.#consumer.read({ max })) {
      for (const record of batch) {
        if (this.seqs.has(record.seq)) this.redelivered++;
        else this.seqs.add(record.seq);
        this.seen.set(record.kind, (this.seen.get(record.kind) ?? 0) + 1);
      }
      await this.#consumer.ack(batch[batch.length - 1]!.seq);
      total += batch.length;
    }
    return total;
  }
}

/** Marks a directory as the demo's own, so that a later demo may empty it. */
const DEMO_MARKER = '.fanlog-demo';
/** How long the child may take to have operations waiting before the demo gives up on it. */
const CHILD_READY_MS = 60_000;

/**
 * Makes `dir` an empty demo directory: created if missing, emptied if it
 * holds an earlier demo, refused (EEXIST) if it holds anything else, so
 * that a mistyped --dir never deletes someone's data.
 */
function prepareDemoDirectory(dir: string): void {
  if (existsSync(dir)) {
    const entries = readdirSync(dir);
    if (entries.length > 0 && !entries.includes(DEMO_MARKER)) {
      throw new FanlogError(
        'EEXIST',
        `${dir} is not empty and holds no earlier demo (no ${DEMO_MARKER}); the demo empties its directory, so choose another --dir`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, DEMO_MARKER), 'made by fanlog demo; the next demo in this directory empties it\n');
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const started = performance.now();
  const prng = new Prng(options.seed);
  prepareDemoDirectory(options.dir);
  sayIntro(options);

  // 1. The archive.
  say('1. Populating an archive of offline stub files');
  let engine = await Engine.open(options.dir, DEMO_ENGINE);
  const bar = progressBar('stubs', options.files);
  const { paths, stubBytes } = await populate(engine, options.files, prng, (done) => bar.update(done));
  bar.stop();
  await hsmGroup(engine);
  const backup = new Backup(await engine.consumers.register('backup', { from: 'oldest' }));
  say(`   ${n(paths.length)} stubs, ${mib(stubBytes)} offline: their content is "on tape" until the HSM daemon fills a range on demand`);
  const { stream, replicator } = await startReplica(engine, options.redis);

  // 2-5. The workload, with a daemon restart midway.
  const { counters, daemon, workSeconds } = await runWorkload(engine, options, paths, prng, backup);
  await replicator?.stop();
  await engine.close();

  // 5. A crash: the engine in a child process, SIGKILLed while operations wait.
  const { recovered, recovery, unsettled } = await crashAndRecover(options, counters, prng, backup);
  engine = recovered;

  // 6. The summary and the checks.
  const checks = await check(engine, backup);
  if (options.redis !== undefined) checks.push(...(await checkRemote(engine, options.redis, stream, backup)));
  printSummary(engine, { counters, backup, daemon, recovery, stubBytes, workSeconds, started, checks, unsettled, dir: options.dir });
  await engine.close();
  if (checks.length > 0 || unsettled > 0) process.exitCode = 1;
}

/**
 * Runs the simulated processes against the archive, the HSM daemon answering
 * them and the backup tailing, and restarts the daemon midway with events
 * read and not answered.
 */
async function runWorkload(
  engine: Engine,
  options: DemoOptions,
  paths: string[],
  prng: Prng,
  backup: Backup,
): Promise<{ counters: ReturnType<typeof newCounters>; daemon: HsmDaemon; workSeconds: number }> {
  say('2. Running 16 simulated processes, the HSM daemon and the backup consumer');
  const counters = newCounters();
  const daemon = new HsmDaemon(engine, counters, prng);
  const operationsEach = Math.max(10, Math.round(options.files / 10));
  let stopped = false;
  const workStarted = performance.now();
  const work = Promise.all(
    Array.from({ length: PROCESSES }, (_, i) => simulatedProcess(engine, 1000 + i, paths, operationsEach, counters, new Prng(options.seed + i), () => stopped)),
  );
  const tailing = (async () => {
    while (!stopped) {
      await backup.drain();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const workBar = progressBar('operations', operationsEach * PROCESSES);
  const ticker = setInterval(() => workBar.update(counters.attempts), 100);
  // Midway: the daemon reads some events without answering, then restarts its queue.
  let workDone = false;
  void work.finally(() => (workDone = true));
  while (counters.attempts < (operationsEach * PROCESSES) / 2 && !workDone) await new Promise((resolve) => setTimeout(resolve, 10));
  daemon.leaveUnanswered = 8;
  const restartDeadline = Date.now() + 5000;
  while (daemon.leaveUnanswered > 0 && Date.now() < restartDeadline) await new Promise((resolve) => setTimeout(resolve, 5));
  // Fewer may have come (the processes wait on those left unanswered): the
  // new handle answers everything.
  daemon.leaveUnanswered = 0;
  await daemon.restart();
  await work;
  clearInterval(ticker);
  workBar.update(operationsEach * PROCESSES);
  workBar.stop();
  const workSeconds = (performance.now() - workStarted) / 1000;
  stopped = true;
  await tailing;
  await daemon.stop();
  await backup.drain();
  say(`   ${n(counters.operations)} operations in ${workSeconds.toFixed(1)} s (${n(Math.round(counters.operations / workSeconds))} durable operations/s)`);
  say(`   the HSM daemon was restarted midway: it had read ${daemon.skipped} permission events and not answered them; its`);
  say('   restartable group put them back at the head of its queue, and the new daemon answered every one (no process was failed)');
  return { counters, daemon, workSeconds };
}

/** Runs the engine in a child, SIGKILLs it while operations wait, reopens it and lets the HSM finish what the dead caller left. */
async function crashAndRecover(
  options: DemoOptions,
  counters: ReturnType<typeof newCounters>,
  prng: Prng,
  backup: Backup,
): Promise<{ recovered: Engine; recovery: Engine['recovery']; unsettled: number }> {
  say('3. Running the engine in a child process and SIGKILLing it while operations wait for the HSM');
  const killedAfterMs = await runAndKillChild(options);
  say(`   child killed after ${killedAfterMs} ms`);
  const engine = await Engine.open(options.dir, DEMO_ENGINE);
  const recovery = engine.recovery;
  say(
    `   recovered in ${recovery.ms.toFixed(0)} ms: checkpoint at seq ${n(recovery.checkpointSeq)}, ${n(recovery.replayedRecords)} records replayed, ${recovery.resurrectedRequests} permission requests resurrected`,
  );
  say('   (resurrected: requests journaled but not answered when the engine died, queued again for the HSM from the journal)');
  const resurrected = (): number => engine.pendingOperations().filter((operation) => operation.resurrected).length;
  const orphans = resurrected();
  const revived = new HsmDaemon(engine, counters, prng);
  const settleDeadline = Date.now() + 20_000;
  while (resurrected() > 0 && Date.now() < settleDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const unsettled = resurrected();
  await revived.stop();
  backup.attach(engine.consumers.get('backup'));
  await backup.drain();
  say(`   ${orphans} operations whose callers died completed after the HSM answered; ${unsettled} left waiting`);
  return { recovered: engine, recovery, unsettled };
}

interface Outcome {
  counters: ReturnType<typeof newCounters>;
  backup: Backup;
  daemon: HsmDaemon;
  recovery: Engine['recovery'];
  stubBytes: number;
  workSeconds: number;
  started: number;
  checks: string[];
  unsettled: number;
  /** The engine directory, for the closing commands. */
  dir: string;
}

/** The demo's closing summary and its verdict. */
function printSummary(engine: Engine, outcome: Outcome): void {
  const { counters, backup, daemon, recovery, stubBytes, workSeconds, started, checks, unsettled } = outcome;
  const info = engine.consumers.list().find((consumer) => consumer.name === 'backup')!;
  say();
  say('Summary');
  say(`  operations            ${n(counters.operations)} (${n(counters.failedEagain)} failed with EAGAIN from the HSM, as a real daemon under load would)`);
  say(
    `  records journaled     ${n(engine.journal.headSeq)} (backup saw ${n(backup.seen.get('event') ?? 0)} events, ${n(backup.seen.get('request') ?? 0)} permission requests, ${n(backup.seen.get('decision') ?? 0)} decisions)`,
  );
  say(
    `  permission answers    ${n(counters.requestsAnswered)} by the daemon (${n(counters.denied)} EAGAIN), ${daemon.skipped} restarted, ${recovery.resurrectedRequests} resurrected after the kill`,
  );
  say(
    `  HSM fills             ${n(counters.fills)} ranges, ${mib(counters.filledBytes)} brought back on demand of ${mib(stubBytes)} in stubs: ${(100 - (100 * counters.filledBytes) / stubBytes).toFixed(1)}% of the archive never had to leave the tape`,
  );
  say(
    `  backup consumer       cursor ${n(info.cursor)}, lag ${n(info.lagRecords)} records; ${n(backup.redelivered)} re-delivered after the crash: records it had read but`,
  );
  say('                        not yet acknowledged when the engine died came again (at least once: a crash may repeat a record, never lose one)');
  say(
    engine.journal.firstSeq > 1n
      ? `  journal on disk       from seq ${n(engine.journal.firstSeq)}: older segments were purged behind the checkpoint and the backup cursor`
      : '  journal on disk       everything (no segment was entirely behind the checkpoint and the backup cursor yet)',
  );
  say(
    `  throughput            ${n(Math.round(counters.operations / workSeconds))} durable operations/s in the first phase (each stub read waits for its permission requests, their decisions and an HSM fill to be durable)`,
  );
  say(`  time                  ${((performance.now() - started) / 1000).toFixed(1)} s`);
  say(
    `  check                 ${checks.length === 0 && unsettled === 0 ? 'nothing lost, nothing answered twice' : `FAILED: ${[...checks, unsettled > 0 ? `${unsettled} operations never settled` : ''].join('; ')}`}`,
  );
  say();
  say('To look at what it wrote:');
  say(`  npx fanlog stat --dir ${outcome.dir}             the journal, checkpoint, consumers and groups`);
  say(`  npx fanlog tail --dir ${outcome.dir} | head      the changelog, one line per record`);
  say(`  npx fanlog verify --dir ${outcome.dir}           every segment, frame and stored value checked`);
}

/** Runs the child until it is busy with waiting operations, then SIGKILLs it; resolves with how long it ran. */
async function runAndKillChild(options: DemoOptions): Promise<number> {
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'demo-worker', '--dir', options.dir, '--seed', String(options.seed + 99)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('waiting')) resolve();
      });
      child.once('exit', () => reject(new FanlogError('EIO', 'the demo child exited before it was killed')));
      timer = setTimeout(
        () => reject(new FanlogError('EIO', `the demo child had no operation waiting after ${CHILD_READY_MS / 1000} s; it was stopped`)),
        CHILD_READY_MS,
      );
    });
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
    await exited;
  }
  return Math.round(performance.now() - started);
}

/** The child: the engine with processes and a daemon that leaves some requests waiting; killed by the parent. */
export async function runDemoWorker(options: { dir: string; seed: number }): Promise<void> {
  const engine = await Engine.open(options.dir, DEMO_ENGINE);
  const prng = new Prng(options.seed);
  const counters = newCounters();
  const daemon = new HsmDaemon(engine, counters, prng);
  daemon.leaveUnanswered = 6;
  const paths: string[] = [];
  for (const dir of await engine.fs.readdir(ARCHIVE)) for (const name of await engine.fs.readdir(`${ARCHIVE}/${dir}`)) paths.push(`${ARCHIVE}/${dir}/${name}`);
  const work = Array.from({ length: 8 }, (_, i) => simulatedProcess(engine, 2000 + i, paths, 1_000_000, counters, new Prng(options.seed + i), () => false));
  while (daemon.leaveUnanswered > 0 || counters.attempts < 200) await new Promise((resolve) => setTimeout(resolve, 5));
  process.stdout.write('waiting\n');
  await Promise.all(work);
}

/** From the journal and the backup consumer: nothing lost, nothing answered twice. */
function sayIntro(options: DemoOptions): void {
  say(`fanlog demo: an HSM and a backup tool on a changelog (dir ${options.dir}, ${n(options.files)} files, seed ${options.seed})`);
  say("The filesystem is fanlog's simulated one (engine.fs): files have sizes and offline ranges, not bytes, so a");
  say('"64 MiB stub" costs nothing on your disk. The journal, the store and every fsync are real, in the directory above.');
  say();
}

/** With --redis: the changelog is replicated too, into a stream of this demo's own. */
async function startReplica(engine: Engine, url: string | undefined): Promise<{ stream: string; replicator: Awaited<ReturnType<Engine['replicate']>> | null }> {
  const stream = `fanlog-demo-${engine.journal.journalId}`;
  if (url === undefined) return { stream, replicator: null };
  const replicator = await engine.replicate({ url, stream });
  say(`   replicating the changelog into the Redis stream '${stream}' at ${url}`);
  return { stream, replicator };
}

/**
 * With --redis: catches the replicator up (after the crash), then a remote
 * backup reader (RedisConsumer, a group of its own) reads the stream: it
 * must have seen exactly what the local backup consumer saw.
 */
async function checkRemote(engine: Engine, url: string, stream: string, backup: Backup): Promise<string[]> {
  const replicator = await engine.replicate({ url, stream });
  await replicator.caughtUp();
  await replicator.stop();
  const { RedisConsumer } = await import('../replication/redis-consumer.js');
  const reader = await RedisConsumer.open({ url, stream, group: 'remote-backup', consumer: 'demo' });
  const seen = new Set<bigint>();
  try {
    for (let batch = await reader.read({ max: 1000 }); batch.length > 0; batch = await reader.read({ max: 1000 })) {
      for (const record of batch) seen.add(record.seq);
      await reader.ack(batch);
    }
  } finally {
    reader.close();
  }
  const missing = [...backup.seqs].filter((seq) => !seen.has(seq)).length;
  const extra = [...seen].filter((seq) => !backup.seqs.has(seq)).length;
  say('4. Catching the Redis replica up after the crash, and reading it as a remote backup would');
  say(
    `   ${n(seen.size)} records read from the stream through a consumer group: ${missing === 0 && extra === 0 ? 'exactly what the local backup consumer saw' : `${missing} missing, ${extra} not seen locally`}`,
  );
  return missing === 0 && extra === 0 ? [] : [`the remote reader missed ${missing} records and saw ${extra} the local consumer did not`];
}

async function check(engine: Engine, backup: Backup): Promise<string[]> {
  const problems: string[] = [];
  const requests = new Set<bigint>();
  const decisions = new Map<bigint, number>();
  for await (const { seq, payload } of engine.journal.read()) {
    const record = decodeRecord(payload);
    if (record.kind === 'request') requests.add(seq);
    if (record.kind === 'decision') decisions.set(record.requestSeq, (decisions.get(record.requestSeq) ?? 0) + 1);
    if (record.kind !== 'op' && !backup.seqs.has(seq) && seq <= engine.consumers.get('backup').cursor)
      problems.push(`record ${seq} was never delivered to the backup`);
  }
  for (const [request, count] of decisions) if (count > 1) problems.push(`request ${request} answered ${count} times`);
  for (const request of requests) if (!decisions.has(request)) problems.push(`request ${request} was never answered`);
  if (engine.consumers.get('backup').cursor !== engine.journal.durableSeq) problems.push('the backup did not reach the head');
  return problems;
}
