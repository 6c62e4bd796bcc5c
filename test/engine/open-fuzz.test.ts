/**
 * Fuzzed engine directories: an engine on MemoryIo with the `files` store
 * (journal segments and the store's own segments, which hold the
 * checkpoint, groups and consumer cursors) is built by a seeded workload,
 * then one of its files is damaged (fuzz-damage.ts). `Engine.open` must
 * either open with a journal that is a valid prefix of what was written,
 * a filesystem equal to that prefix's replay, and keep working, or reject
 * with ECORRUPT naming a file and a byte offset, or a store and a key (a
 * store whose every segment is gone is found empty beside a journal with
 * records), or EJOURNALID when the journal lost every segment. Damage in a
 * sealed segment that the journal's recovery point vouches for, in records
 * open does not need, is found when the records are read (ECORRUPT with
 * file and offset), and by a full scan. It must never throw anything else. FANLOG_FUZZ_CASES sets the cases (CI: 10,000);
 * FANLOG_FUZZ_SEED replays one.
 */
import { expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { Engine, type EngineOptions, FanlogError } from '../../index.js';
import { MemoryIo, Prng } from '../../testing.js';
import { FsState } from '../../engine/model/fs-state.js';
import { recover } from '../../journal/recovery.js';
import { damageSegments } from '../fuzz-damage.js';

const CASES = Number(process.env.FANLOG_FUZZ_CASES ?? 1000);
const ONLY = process.env.FANLOG_FUZZ_SEED === undefined ? null : Number(process.env.FANLOG_FUZZ_SEED);
const DIR = '/e';
const options = (io: MemoryIo): EngineOptions => ({ io, store: 'files', segmentBytesMax: 4096, checkpointEveryRecords: 1_000_000 });

/** A small engine: files, a consumer that acks, a group, checkpoints that purge; returns every record written. */
async function build(io: MemoryIo, prng: Prng): Promise<Map<bigint, Uint8Array>> {
  const engine = await Engine.open(DIR, options(io));
  const consumer = await engine.consumers.register('backup');
  await engine.groups.create('watch', { class: 'notif' });
  const payloads = new Map<bigint, Uint8Array>();
  const keep = async (): Promise<void> => {
    for await (const { seq, payload } of engine.journal.read({ from: engine.journal.firstSeq })) payloads.set(seq, payload.slice());
  };
  for (let i = 0, count = prng.between(10, 80); i < count; i++) {
    await engine.fs.create(`/f${prng.int(30)}`, { size: prng.int(100_000) }).catch(() => undefined);
    if (prng.chance(0.1)) {
      await keep();
      await consumer.ack(engine.journal.durableSeq);
      await engine.checkpoint();
    }
  }
  await keep();
  await engine.close();
  return payloads;
}

it(
  `opens a valid prefix or reports ECORRUPT with file and offset, over ${CASES} fuzzed engine directories`,
  async () => {
    const failures: string[] = [];
    for (const seed of ONLY === null ? Array.from({ length: CASES }, (_, i) => 90_000 + i) : [ONLY]) {
      const prng = new Prng(seed);
      const io = new MemoryIo();
      const payloads = await build(io, prng);
      const what = await damageSegments(io, prng.chance(0.5) ? `${DIR}/journal` : `${DIR}/meta-files`, prng);
      let engine: Engine;
      try {
        engine = await Engine.open(DIR, options(io));
      } catch (error) {
        // A journal whose every segment is gone is recreated empty; the
        // checkpoint then names another journal: EJOURNALID, just as loud.
        const ok =
          error instanceof FanlogError &&
          ((error.code === 'ECORRUPT' && typeof error.file === 'string' && (typeof error.offset === 'number' || typeof error.key === 'string')) ||
            error.code === 'EJOURNALID');
        if (!ok) failures.push(`seed ${seed} (${what}): ${String(error)}`);
        continue;
      }
      let expected = engine.journal.firstSeq;
      try {
        for await (const record of engine.journal.read()) {
          const original = payloads.get(record.seq);
          if (record.seq !== expected || original === undefined || Buffer.compare(original, record.payload) !== 0) {
            failures.push(`seed ${seed} (${what}): record ${record.seq} is not what was written`);
            break;
          }
          expected++;
        }
      } catch (error) {
        // Damage in a sealed segment the recovery point vouches for, in records
        // open did not need: found when read, and by a full scan (fanlog verify).
        readFound++;
        if (!isCorruptAt(error)) failures.push(`seed ${seed} (${what}): reading failed with ${String(error)}`);
        const scan = await recover(io, `${DIR}/journal`, { repair: false, trustRecoveryPoint: false }).then(
          () => null,
          (scanError: unknown) => scanError,
        );
        if (!isCorruptAt(scan)) failures.push(`seed ${seed} (${what}): the read found damage that a full scan did not: ${String(scan)}`);
      }
      const replayed = new FsState(0n);
      for (let seq = 1n; seq <= engine.journal.headSeq; seq++) {
        const record = decodeRecord(payloads.get(seq)!);
        if (record.kind === 'op') replayed.apply(record);
      }
      if (replayed.fingerprint() !== engine.state.fingerprint())
        failures.push(`seed ${seed} (${what}): the filesystem is not the replay of records 1..${engine.journal.headSeq}`);
      await engine.fs.mkdir('/after').catch((error) => failures.push(`seed ${seed} (${what}): the opened engine fails: ${String(error)}`));
      await engine.close();
      if (failures.length > 10) break;
    }
    expect(failures).toEqual([]);
    // At CI scale the campaign walks that path too (the seeds are fixed; one of the 10,000 does).
    if (ONLY === null && CASES >= 10_000) expect(readFound).toBeGreaterThan(0);
  },
  60_000 + CASES * 60,
);

let readFound = 0;

function isCorruptAt(error: unknown): boolean {
  return error instanceof FanlogError && error.code === 'ECORRUPT' && typeof error.file === 'string' && typeof error.offset === 'number';
}
