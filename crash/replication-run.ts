/**
 * The campaign's `replication` runs (`fanlog crash-test --faults
 * replication`): design invariant 9 against a real redis-server.
 *
 * A run, all seeded by its run seed but the processes' timing: a
 * redis-server of its own (127.0.0.1, a free port, a directory under the
 * run's, appendfsync always, stopped by its pid); an engine on the real
 * disk (lmdb); a replicator (`commandTimeoutMs` short, so that a frozen
 * Redis costs little); one or two remote readers (replication-readers.ts);
 * steps of random filesystem calls (workload-calls.ts); and a plan of
 * faults, each over a window of steps, windows that touch the server never
 * overlapping (replication-plan.ts):
 *
 *   kill      redis-server SIGKILLed, restarted from its AOF
 *   freeze    SIGSTOP, SIGCONT; now and then the replicator is stopped
 *             while Redis is frozen (stop() must end within its bound) and
 *             a new one started after
 *   restore   a copy of the data (the AOF as it is, or a SAVE's RDB) taken,
 *             later the server restarted from it: an older snapshot
 *   foreign   an entry fanlog did not write: XADD *, XSETID higher, or an
 *             XADD deleted again and the id set back
 *   second    a second replicator: of this engine (must be EBUSY, by
 *             stream and by name; it is asked for in the middle of a
 *             burst of records, and one that starts anyway runs beside
 *             the first to the end), or of another journal (must stop
 *             with EJOURNALID, writing nothing)
 *   trim      XTRIM MINID at a seeded entry, now and then just above a
 *             batch a reader holds unacknowledged, then that reader is
 *             restarted, or killed for good (its entries claimed)
 *
 * After the steps: Redis answers again, the replicator catches up or has
 * stopped with its error, the readers drain the group. Then the checks
 * (replication-checks.ts).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { type RedisCopy, type RedisServer, startRedis } from './redis-server.js';
import { Engine } from '../fanlog.js';
import { MemoryIo } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';
import type { Replicator } from '../replication/replicator.js';
import type { FanlogError } from '../errors.js';
import { Model } from './model.js';
import type { RunResult } from './real-disk.js';
import { RemoteReader } from './replication-readers.js';
import { checkReplication, type RunFacts } from './replication-checks.js';
import { type Fault, planFaults } from './replication-plan.js';
import { Names, randomCall } from './workload-calls.js';

const STREAM = 's';
const COMMAND_TIMEOUT_MS = 150;
/** How long the end may take: the replicator to catch up (or stop), the readers to drain. */
const SETTLE_MS = 20_000;

/** What happens to the run as it goes, for the checks. */
class RunState {
  replicator!: Replicator;
  /** Every replicator started, the main one last. */
  readonly replicators: Replicator[] = [];
  /** Second replicators of the engine that started though they must not (EBUSY); stopped once the main one has settled. */
  readonly extras: Replicator[] = [];
  readonly foreignIds: string[] = [];
  /** What the run put into the stream that fanlog did not write: nothing, or something before the replicator's first entry (a stream of no journal), or after. */
  foreign: 'none' | 'before' | 'after' = 'none';
  /** For each trim: entries with IDs below this seq (as `<seq>-0`) were removed by the run. */
  readonly trimmedBelow: bigint[] = [];
  copy: RedisCopy | null = null;
  down = false;
  frozen = false;
}

export async function replicationRun(runSeed: number, base: string): Promise<RunResult> {
  const prng = new Prng(runSeed);
  const model = new Model();
  const dir = mkdtempSync(path.join(base, 'fanlog-replication-'));
  const steps = prng.between(10, 24);
  const faults = planFaults(prng, steps);
  const label = `replication:${faults.some((fault) => fault.kind === 'restore') ? 'restore' : faults.some((fault) => fault.kind === 'foreign') ? 'foreign' : 'faults'}`;
  mkdirSync(path.join(dir, 'redis'));
  const server = await startRedis([], { dir: path.join(dir, 'redis') });
  // The run's own client waits for Redis to be back after a kill (its commands are never sent inside a window).
  const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 50 });
  redis.on('error', () => undefined);
  const engine = await Engine.open(path.join(dir, 'engine'), { store: 'lmdb' });
  const state = new RunState();
  const readers = [
    new RemoteReader(server.url, STREAM, 'r1', new Prng(runSeed ^ 0x1)),
    ...(prng.chance(0.5) ? [new RemoteReader(server.url, STREAM, 'r2', new Prng(runSeed ^ 0x2))] : []),
  ];
  try {
    await redis.connect();
    await startReplicator(engine, server, state);
    const names = new Names(prng);
    for (const made of names.dirs) await engine.fs.mkdir(made);
    const fds: number[] = [];
    for (let step = 0; step <= steps; step++) {
      const calls = async (count: number): Promise<void> => {
        for (let call = count; call > 0; call--) await randomCall(engine.fs, names, fds, prng, { pid: 7, uid: 0, gid: 0 })().catch(() => undefined);
      };
      if (step < steps) await calls(prng.between(1, 4));
      for (const fault of faults) await applyFault(fault, step, { prng, model, server, redis, engine, state, readers, calls });
      // The seeded pause lets the replicator and the readers run between steps.
      await sleep(prng.between(0, 20));
    }
    const facts = await settle(engine, server, redis, state, readers, model);
    if (facts !== null) await checkReplication(engine, model, facts);
  } catch (error) {
    model.violation(0, `the replication run failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    for (const reader of readers) await reader.stop();
    for (const replicator of [...state.extras, ...state.replicators]) await replicator.stop();
    await engine.close().catch(() => undefined);
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { fault: label, injected: faults.length > 0, model };
}

async function startReplicator(engine: Engine, server: RedisServer, state: RunState): Promise<void> {
  state.replicator = await engine.replicate({
    url: server.url,
    stream: STREAM,
    batchRecords: 1 + (state.replicators.length % 3) * 20,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  });
  state.replicators.push(state.replicator);
}

interface FaultContext {
  prng: Prng;
  model: Model;
  server: RedisServer;
  redis: Redis;
  engine: Engine;
  state: RunState;
  readers: RemoteReader[];
  /** Makes that many filesystem calls. */
  calls: (count: number) => Promise<void>;
}

/** Does what `fault` does at `step`, if anything. */
async function applyFault(fault: Fault, step: number, context: FaultContext): Promise<void> {
  const { prng, model, server, redis, engine, state } = context;
  switch (fault.kind) {
    case 'kill':
      if (step === fault.at) {
        await server.kill();
        state.down = true;
      } else if (step === fault.until) {
        await server.restart();
        state.down = false;
      }
      return;
    case 'freeze':
      if (step === fault.at) {
        server.pause();
        state.frozen = true;
        // Long enough for commands to time out.
        await sleep(prng.between(COMMAND_TIMEOUT_MS, 3 * COMMAND_TIMEOUT_MS));
        if (fault.stop) await stopWhileFrozen(state, model);
      } else if (step === fault.until) {
        server.resume();
        state.frozen = false;
        if (fault.stop) await startReplicator(engine, server, state);
      }
      return;
    case 'restore':
      if (step === fault.copyAt) state.copy = await server.copy({ rdb: fault.rdb });
      else if (step === fault.at) await server.restartFrom(state.copy!);
      return;
    case 'foreign':
      if (step === fault.at) await addForeign(redis, fault.how, state);
      return;
    case 'second':
      if (step === fault.at) await secondReplicator(fault.other, context);
      return;
    case 'trim':
      if (step === fault.at) await trim(fault, context);
      return;
  }
}

/** stop() while Redis answers nothing must end within commandTimeoutMs and a local ack (R4). */
async function stopWhileFrozen(state: RunState, model: Model): Promise<void> {
  const started = Date.now();
  await state.replicator.stop();
  const took = Date.now() - started;
  model.check(9, took < COMMAND_TIMEOUT_MS + 1500, () => `stop() took ${took} ms while Redis was frozen (command timeout ${COMMAND_TIMEOUT_MS} ms)`);
}

async function addForeign(redis: Redis, how: 'xadd' | 'xsetid' | 'hidden', state: RunState): Promise<void> {
  state.foreign = (await redis.hget(`${STREAM}:fanlog`, 'journalId')) === null ? 'before' : 'after';
  const info = (await redis.xinfo('STREAM', STREAM).catch(() => null)) as unknown[] | null;
  const last = info === null ? undefined : String(info[info.indexOf('last-generated-id') + 1]);
  if (how === 'xadd' || last === undefined) {
    state.foreignIds.push((await redis.xadd(STREAM, '*', 'foreign', '1'))!);
  } else if (how === 'xsetid') {
    // Higher than any seq a run reaches.
    await redis.call('XSETID', STREAM, '999999999-0');
  } else {
    // Added and deleted again, the id set back, in one script (the replicator appends meanwhile): only entries-added tells.
    state.foreignIds.push((await redis.eval(HIDDEN_FOREIGN, 1, STREAM)) as string);
  }
}

const HIDDEN_FOREIGN = `
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last
for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
local id = redis.call('XADD', KEYS[1], '*', 'foreign', '1')
redis.call('XDEL', KEYS[1], id)
redis.call('XSETID', KEYS[1], last)
return id
`;

/** A second replicator: of this engine, EBUSY by stream and by name; of another journal, it stops with EJOURNALID. */
async function secondReplicator(other: boolean, { server, engine, model, state, redis, calls }: FaultContext): Promise<void> {
  const running = state.replicator.stats().state;
  if (!other) {
    if (running !== 'running' && running !== 'retrying') return;
    // Asked for during a burst of records: one that starts anyway (it must not) takes its share of them.
    const burst = calls(60);
    for (const options of [
      { url: server.url, stream: STREAM },
      { url: server.url, stream: STREAM, consumer: 'another' },
      { url: server.url, stream: 'elsewhere', consumer: state.replicator.consumer },
    ]) {
      const code = await engine.replicate({ ...options, batchRecords: 7, commandTimeoutMs: COMMAND_TIMEOUT_MS }).then(
        (second) => {
          // One that starts anyway runs beside the first to the end of the run: what two writers do to the stream is checked too.
          state.extras.push(second);
          return 'started';
        },
        (error: FanlogError) => error.code,
      );
      model.check(9, code === 'EBUSY', () => `a second replicator of the engine (${JSON.stringify(options)}) gave ${code}, not EBUSY`);
    }
    await burst;
    return;
  }
  // Only once this journal's replicator has claimed the stream (else the other one may take it first, rightly).
  if ((await redis.hget(`${STREAM}:fanlog`, 'journalId')) === null) return;
  const otherEngine = await Engine.open('/other', { io: new MemoryIo(), store: 'files' });
  try {
    await otherEngine.fs.mkdir('/x');
    const second = await otherEngine.replicate({ url: server.url, stream: STREAM, consumer: state.replicator.consumer, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    const outcome = await within(
      5000,
      second.caughtUp().then(
        () => 'caught up',
        (error: FanlogError) => error.code,
      ),
    );
    await second.stop();
    model.check(
      9,
      outcome === 'EJOURNALID',
      () => `a replicator of another journal on the stream ended ${outcome === 'late' ? 'still running after 5 s' : outcome}, not EJOURNALID`,
    );
  } finally {
    await otherEngine.close();
  }
}

/** XTRIM MINID: at a seeded entry, or just above a batch a reader holds (then the reader restarts, or dies). */
async function trim(fault: Extract<Fault, { kind: 'trim' }>, { redis, state, readers }: FaultContext): Promise<void> {
  const reader = readers[fault.reader % readers.length]!;
  let below: bigint | null = null;
  if (fault.holding && reader.alive) {
    const held = await reader.holdNext(300);
    if (held.length > 0) below = BigInt(held[held.length - 1]!.split('-')[0]!) + 1n;
  }
  if (below === null) {
    // Among fanlog's entries: a trim at a foreign entry's ID (milliseconds since 1970) would excuse every record below it.
    const ids = (await redis.xrange(STREAM, '-', '+')).map(([id]) => id).filter((id) => id.endsWith('-0') && !state.foreignIds.includes(id));
    if (ids.length === 0) return;
    below = BigInt(ids[Math.floor(fault.where * ids.length)]!.split('-')[0]!);
  }
  await redis.xtrim(STREAM, 'MINID', `${below}-0`);
  state.trimmedBelow.push(below);
  // A reader that dies for good leaves its pending entries to be claimed; one is always left to claim them.
  if (fault.holding) reader.restart(fault.dies && readers.length > 1 && readers.filter((r) => r.alive).length > 1);
}

/** Redis answers; the replicator catches up or has stopped; the readers drain the group. Null when it never settles (a violation). */
async function settle(engine: Engine, server: RedisServer, redis: Redis, state: RunState, readers: RemoteReader[], model: Model): Promise<RunFacts | null> {
  if (state.frozen) server.resume();
  if (state.down) await server.restart();
  const replicator = state.replicator;
  const outcome = await within(
    SETTLE_MS,
    replicator.caughtUp().then(
      () => null,
      (error: FanlogError) => error,
    ),
  );
  if (
    !model.check(
      9,
      outcome !== 'late',
      () =>
        `the replicator neither caught up nor stopped within ${SETTLE_MS} ms of Redis answering again (${JSON.stringify(replicator.stats(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))})`,
    )
  )
    return null;
  const drained = await drain(redis, SETTLE_MS);
  model.check(9, drained, () => `the readers did not drain the group within ${SETTLE_MS} ms`);
  for (const reader of readers) await reader.stop();
  for (const extra of state.extras) await extra.stop();
  await replicator.stop();
  const entries = (await redis.xrangeBuffer(STREAM, '-', '+')) as [Buffer, Buffer[]][];
  return {
    failure: outcome as FanlogError | null,
    cursor: engine.consumers.get(replicator.consumer).cursor,
    stream: entries.map(([id, fields]) => ({ id: id.toString(), fields })),
    foreignIds: state.foreignIds,
    foreign: state.foreign,
    trimmedBelow: state.trimmedBelow,
    restored: state.copy !== null,
    readers,
  };
}

/** Whether the group has given out every entry and has none pending, within `ms`. */
async function drain(redis: Redis, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const last = (await redis.xrevrange(STREAM, '+', '-', 'COUNT', 1))[0]?.[0];
    const groups = (await redis.xinfo('GROUPS', STREAM).catch(() => [])) as unknown[][];
    const group = groups
      .map((fields) => new Map(Array.from({ length: fields.length / 2 }, (_, i) => [String(fields[2 * i]), fields[2 * i + 1]])))
      .find((info) => info.get('name') === 'g');
    if (last === undefined && group !== undefined) return true;
    if (group !== undefined && Number(group.get('pending')) === 0 && !idLess(String(group.get('last-delivered-id')), last!)) return true;
    await sleep(20);
  }
  return false;
}

function idLess(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm || (am === bm && as < bs);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `work`'s result, or 'late' once `ms` have passed (the timer cleared either way, so that it holds no process open). */
async function within<T>(ms: number, work: Promise<T>): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
