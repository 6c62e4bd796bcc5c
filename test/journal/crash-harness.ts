/**
 * One journal crash case: a seeded workload of appends, entries, concurrent
 * bursts, purges and clean reopens on MemoryIo, a power cut at a chosen I/O
 * step, a crash that resolves unsynced state by a chosen mode, optionally a
 * second power cut during recovery, and then every journal property checked
 * against a model kept by the workload itself:
 *
 * - recovery succeeds, and records form a gap-free run firstSeq..headSeq
 *   whose bytes equal what was appended under those seqs (prefix, no garbage);
 * - every append that resolved under 'always' is present (unless purged);
 * - every entry is wholly present or wholly absent (atomicity);
 * - nothing a resolved purge removed reappears, and nothing unpurged is gone;
 * - a second reopen finds nothing to repair, and appending continues at head + 1.
 *
 * Returns the violations found, each naming the case so it can be replayed.
 */
import { CRASH_MODES, type CrashMode, MemoryIo, Prng } from '../../testing.js';
import { Journal, type SyncPolicy } from '../../journal/index.js';

export interface CrashCase {
  seed: number;
  ops: number;
  /** Power is cut after this many mutating I/O steps; null: the workload completes, then the crash. */
  cutAfter: number | null;
  mode: CrashMode;
  sync: Extract<SyncPolicy, 'always' | 'never'>;
  /** Also cut power this many steps into the first recovery, then crash and recover again. */
  cutRecoveryAfter: number | null;
}

export const describeCase = (c: CrashCase): string =>
  `seed=${c.seed} ops=${c.ops} cutAfter=${c.cutAfter} mode=${c.mode} sync=${c.sync} cutRecoveryAfter=${c.cutRecoveryAfter}`;

const DIR = '/journal';
const OPTIONS = { segmentBytesMax: 4096 };

interface Model {
  payloads: Map<bigint, Uint8Array>;
  entries: { first: bigint; last: bigint }[];
  resolvedThrough: bigint;
  /** firstSeq as it stood after the last purge that resolved. */
  firstSeqAfterPurge: bigint;
  /** The highest throughSeq any purge was asked for. */
  purgeAskedThrough: bigint;
}

function appendTracked(journal: Journal, model: Model, payloads: Uint8Array[]): Promise<unknown> {
  const promise = payloads.length === 1 ? journal.append(payloads[0]!) : journal.appendEntry(payloads);
  // Sequence numbers are assigned synchronously, in call order.
  const last = journal.headSeq;
  const first = last - BigInt(payloads.length) + 1n;
  payloads.forEach((payload, i) => model.payloads.set(first + BigInt(i), payload));
  model.entries.push({ first, last });
  return promise.then((seq) => {
    if (seq !== last) throw new Error(`append resolved with ${seq}, expected ${last}`);
    if (seq > model.resolvedThrough) model.resolvedThrough = seq;
  });
}

/** Runs the workload until it completes or an operation fails (the power went off). */
async function workload(io: MemoryIo, c: CrashCase, model: Model): Promise<void> {
  const prng = new Prng(c.seed);
  // Sizes keep every entry (up to 6 records) within a 4 KiB segment.
  const payload = (): Uint8Array => prng.bytes(prng.pick([0, 1, 17, 60, 200, 600]));
  try {
    let journal = await Journal.open(DIR, { ...OPTIONS, io, sync: c.sync });
    for (let op = 0; op < c.ops; op++) {
      const roll = prng.next();
      // The burst's appends all go to the journal open when it began.
      const open = journal;
      if (roll < 0.4) {
        await appendTracked(open, model, [payload()]);
      } else if (roll < 0.6) {
        await appendTracked(open, model, Array.from({ length: prng.between(2, 6) }, payload));
      } else if (roll < 0.82) {
        const burst = Array.from({ length: prng.between(2, 10) }, () => appendTracked(open, model, Array.from({ length: prng.between(1, 3) }, payload)));
        await Promise.all(burst);
      } else if (roll < 0.95) {
        const through = BigInt(prng.int(Number(open.headSeq) + 1));
        if (through > model.purgeAskedThrough) model.purgeAskedThrough = through;
        await open.purge(through);
        model.firstSeqAfterPurge = open.firstSeq;
      } else {
        await journal.close();
        journal = await Journal.open(DIR, { ...OPTIONS, io, sync: c.sync });
      }
    }
    await journal.close();
  } catch (error) {
    if (!io.isPoweredOff) throw error;
  }
}

export async function runCrashCase(c: CrashCase): Promise<string[]> {
  const violations: string[] = [];
  const fail = (what: string): void => {
    violations.push(`${what} [${describeCase(c)}]`);
  };
  const io = new MemoryIo();
  const model: Model = {
    payloads: new Map(),
    entries: [],
    resolvedThrough: 0n,
    firstSeqAfterPurge: 1n,
    purgeAskedThrough: 0n,
  };
  if (c.cutAfter !== null) io.cutPowerAfter(c.cutAfter);
  await workload(io, c, model);
  io.crash(c.seed ^ 0x5eed, c.mode);

  if (c.cutRecoveryAfter !== null) {
    io.cutPowerAfter(c.cutRecoveryAfter);
    try {
      const interrupted = await Journal.open(DIR, { ...OPTIONS, io });
      await interrupted.close();
    } catch (error) {
      if (!io.isPoweredOff) fail(`recovery failed without a power cut: ${String(error)}`);
    }
    io.crash(c.seed ^ 0xbeef, c.mode);
  }

  let journal: Journal;
  try {
    journal = await Journal.open(DIR, { ...OPTIONS, io });
  } catch (error) {
    fail(`recovery failed: ${String(error)}`);
    return violations;
  }
  const { firstSeq, headSeq } = journal;
  let expected = firstSeq;
  for await (const record of journal.read()) {
    if (record.seq !== expected) fail(`read seq ${record.seq}, expected ${expected}`);
    const appended = model.payloads.get(record.seq);
    if (appended === undefined || Buffer.compare(appended, record.payload) !== 0) {
      fail(`record ${record.seq} does not hold the bytes appended under that seq`);
    }
    expected = record.seq + 1n;
  }
  if (expected !== headSeq + 1n) fail(`read ended at ${expected - 1n}, head is ${headSeq}`);
  if (c.sync === 'always' && headSeq < model.resolvedThrough) {
    fail(`append ${model.resolvedThrough} resolved but head is ${headSeq}`);
  }
  for (const entry of model.entries) {
    if (entry.first <= headSeq && headSeq < entry.last) fail(`entry ${entry.first}..${entry.last} is torn at ${headSeq}`);
  }
  if (firstSeq < model.firstSeqAfterPurge) fail(`purged records reappeared: firstSeq ${firstSeq} < ${model.firstSeqAfterPurge}`);
  if (firstSeq > model.purgeAskedThrough + 1n && firstSeq <= headSeq) {
    fail(`records before ${firstSeq} are gone but purge only asked through ${model.purgeAskedThrough}`);
  }
  await journal.close();

  const again = await Journal.open(DIR, { ...OPTIONS, io });
  if (again.recovery.repairs.length > 0) fail(`second reopen repaired again: ${JSON.stringify(again.recovery.repairs)}`);
  if (again.headSeq !== headSeq || again.firstSeq !== firstSeq) fail('second reopen found a different journal');
  const next = await again.append(new Uint8Array([1, 2, 3]));
  if (next !== headSeq + 1n) fail(`append after recovery got ${next}, expected ${headSeq + 1n}`);
  await again.close();
  return violations;
}

/** Counts the mutating I/O steps a case's workload makes when nothing fails. */
export async function countSteps(c: CrashCase): Promise<number> {
  const io = new MemoryIo();
  await workload(
    io,
    { ...c, cutAfter: null },
    {
      payloads: new Map(),
      entries: [],
      resolvedThrough: 0n,
      firstSeqAfterPurge: 1n,
      purgeAskedThrough: 0n,
    },
  );
  return io.steps;
}

export { CRASH_MODES };
