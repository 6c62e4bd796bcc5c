/**
 * Consumers across power cuts (invariant 4), on MemoryIo with the `files`
 * store: a seeded workload of filesystem operations, consumer reads and acks
 * at random points, checkpoints (which purge below the lowest cursor) and
 * reopens, cut at every I/O step of a small workload and at random steps of
 * longer ones (FANLOG_CONSUMER_CRASH_RUNS). After recovery, for every
 * consumer: its cursor is at least its last resolved ack and not beyond the
 * journal; reading from it delivers exactly the journal's records above the
 * cursor (every non-op record, in order, none missing, none at or below it).
 * A failure prints the case; FANLOG_CRASH_SEED=<seed> replays it.
 */
import { describe, expect, it } from 'vitest';
import { modeByStep, runSeeded, seeds, sweepEveryStep, sweepSeeds } from '../crash-driver.js';
import { type CrashMode, MemoryIo, Prng } from '../../testing.js';
import { decodeRecord } from '../../interop/index.js';
import { Engine, type EngineOptions } from '../../index.js';

const RUNS = Number(process.env.FANLOG_CONSUMER_CRASH_RUNS ?? 60);
const NAMES = ['fast', 'slow'] as const;

interface Case {
  seed: number;
  ops: number;
  cutAfter: number | null;
  mode: CrashMode;
}
const describeCase = (c: Case): string => `seed=${c.seed} ops=${c.ops} cutAfter=${c.cutAfter} mode=${c.mode}`;
const OPTIONS = (io: MemoryIo): EngineOptions => ({ io, store: 'files', segmentBytesMax: 8192, checkpointEveryRecords: 60 });

async function workload(io: MemoryIo, c: Case, acked: Map<string, bigint>): Promise<void> {
  const prng = new Prng(c.seed);
  try {
    let engine = await Engine.open('/e', OPTIONS(io));
    for (const name of NAMES) await engine.consumers.register(name);
    if (c.cutAfter !== null) io.cutPowerAfter(c.cutAfter);
    for (let op = 0; op < c.ops; op++) {
      const roll = prng.next();
      if (roll < 0.5) {
        await engine.fs.create(`/f${op}`, { size: prng.int(1000) });
      } else if (roll < 0.8) {
        const consumer = engine.consumers.get(prng.pick(NAMES));
        const records = await consumer.read({ max: prng.between(1, 20) });
        if (records.length > 0 && prng.chance(consumer.name === 'fast' ? 0.9 : 0.3)) {
          const seq = prng.pick(records).seq;
          await consumer.ack(seq);
          if (seq > (acked.get(consumer.name) ?? 0n)) acked.set(consumer.name, seq);
        }
      } else if (roll < 0.93) {
        await engine.checkpoint();
      } else {
        await engine.close();
        engine = await Engine.open('/e', OPTIONS(io));
      }
    }
    await engine.close();
  } catch (error) {
    if (!io.isPoweredOff) throw error;
  }
}

async function runCase(c: Case): Promise<string[]> {
  const violations: string[] = [];
  const fail = (what: string): void => {
    violations.push(`${what} [${describeCase(c)}]`);
  };
  const io = new MemoryIo();
  const acked = new Map<string, bigint>();
  try {
    await workload(io, c, acked);
  } catch (error) {
    fail(`workload failed without a power cut: ${String(error)}`);
    return violations;
  }
  io.crash(c.seed ^ 0x5eed, c.mode);
  let engine: Engine;
  try {
    engine = await Engine.open('/e', OPTIONS(io));
  } catch (error) {
    fail(`recovery failed: ${String(error)}`);
    return violations;
  }
  const expected: bigint[] = [];
  for await (const { seq, payload } of engine.journal.read()) if (decodeRecord(payload).kind !== 'op') expected.push(seq);
  for (const info of engine.consumers.list()) {
    const consumer = engine.consumers.get(info.name);
    if (info.cursor < (acked.get(info.name) ?? 0n)) fail(`${info.name}'s cursor ${info.cursor} is below its resolved ack ${acked.get(info.name)}`);
    if (info.cursor > engine.journal.headSeq) fail(`${info.name}'s cursor ${info.cursor} is beyond the journal (${engine.journal.headSeq})`);
    if (info.cursor + 1n < engine.journal.firstSeq) fail(`${info.name} needs record ${info.cursor + 1n} but the journal starts at ${engine.journal.firstSeq}`);
    const delivered: bigint[] = [];
    for (let batch = await consumer.read({ max: 37 }); batch.length > 0; batch = await consumer.read({ max: 37 })) delivered.push(...batch.map((r) => r.seq));
    const want = expected.filter((seq) => seq > info.cursor);
    if (delivered.join() !== want.join())
      fail(
        `${info.name} got [${delivered.slice(0, 8)}...] (${delivered.length}) but the records above its cursor are [${want.slice(0, 8)}...] (${want.length})`,
      );
  }
  await engine.close();
  return violations;
}

const CONSUMERS = {
  run: runCase,
  steps: async (c: Case): Promise<number> => {
    const io = new MemoryIo();
    await workload(io, { ...c, cutAfter: null }, new Map());
    return io.steps;
  },
};

describe('consumers across crashes (invariant 4)', () => {
  it('keep their cursors and re-read exactly the records above them when the power is cut at every I/O step', async () => {
    const bases = sweepSeeds([1, 2]).map((seed): Case => ({ seed, ops: 30, cutAfter: null, mode: 'drop' }));
    const { violations, steps } = await sweepEveryStep(CONSUMERS, bases, { modes: modeByStep });
    expect(Math.min(...steps)).toBeGreaterThan(40);
    expect(violations).toEqual([]);
  });

  it(`keep them over ${RUNS} seeded random crashes of longer workloads`, async () => {
    const violations = await runSeeded(CONSUMERS, seeds(RUNS, 9000), (seed, prng): Case => ({
      seed,
      ops: prng.between(40, 150),
      cutAfter: prng.chance(0.9) ? prng.int(500) : null,
      mode: 'any',
    }));
    expect(violations).toEqual([]);
  });
});
