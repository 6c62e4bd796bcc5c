/**
 * Fuzzed journals: random damage to valid segment files (bit flips,
 * truncations, splices, huge length fields, duplicated, deleted and
 * reordered files). `Journal.open` must either recover a valid prefix of
 * what was written (and then read it back whole) or reject with ECORRUPT
 * naming a file and a byte offset. It must never throw anything else and
 * never hang. Damage in a sealed segment the recovery point vouches for is
 * found when the records are read (ECORRUPT, file and offset), and then a
 * full scan, as `fanlog verify` makes, must find it too. FANLOG_FUZZ_CASES sets the number of cases (CI: 10,000); a
 * failure prints the seed, and FANLOG_FUZZ_SEED replays one.
 */
import { expect, it } from 'vitest';
import { FanlogError } from '../../index.js';
import { Journal } from '../../journal/index.js';
import { MemoryIo, Prng } from '../../testing.js';
import { damageSegments } from '../fuzz-damage.js';
import { recover } from '../../journal/recovery.js';

const CASES = Number(process.env.FANLOG_FUZZ_CASES ?? 1000);
const ONLY = process.env.FANLOG_FUZZ_SEED === undefined ? null : Number(process.env.FANLOG_FUZZ_SEED);
const DIR = '/j';

/** Builds a small journal of several segments; returns the payloads by seq. */
async function build(io: MemoryIo, prng: Prng): Promise<Map<bigint, Uint8Array>> {
  const journal = await Journal.open(DIR, { io, segmentBytesMax: 4096 });
  const payloads = new Map<bigint, Uint8Array>();
  for (let i = 0, count = prng.between(20, 120); i < count; i++) {
    const entry = Array.from({ length: prng.between(1, 4) }, () => prng.bytes(prng.int(300)));
    const last = await journal.appendEntry(entry);
    entry.forEach((payload, k) => payloads.set(last - BigInt(entry.length - 1 - k), payload));
  }
  if (prng.chance(0.3)) await journal.purge(BigInt(prng.int(Number(journal.headSeq))));
  await journal.close();
  return payloads;
}

it(
  `recovers a valid prefix or reports ECORRUPT with file and offset, over ${CASES} fuzzed journals`,
  async () => {
    const failures: string[] = [];
    for (const seed of ONLY === null ? Array.from({ length: CASES }, (_, i) => 40_000 + i) : [ONLY]) {
      const prng = new Prng(seed);
      const io = new MemoryIo();
      const payloads = await build(io, prng);
      const what = await damageSegments(io, DIR, prng);
      let opened: Journal | null = null;
      try {
        const journal = (opened = await Journal.open(DIR, { io, segmentBytesMax: 4096 }));
        let expected = journal.firstSeq;
        for await (const record of journal.read()) {
          const original = payloads.get(record.seq);
          if (record.seq !== expected || original === undefined || Buffer.compare(original, record.payload) !== 0) {
            failures.push(`seed ${seed} (${what}): record ${record.seq} is not what was written`);
            break;
          }
          expected++;
        }
        await journal.close();
      } catch (error) {
        if (!isCorruptAt(error)) failures.push(`seed ${seed} (${what}): ${String(error)}`);
        if (opened !== null) {
          // Damage below the recovery point: open trusted the segment, the read found it; a full scan (verify) must too.
          readFound++;
          await opened.close();
          const scan = await recover(io, DIR, { repair: false, trustRecoveryPoint: false }).then(
            () => null,
            (scanError: unknown) => scanError,
          );
          if (!isCorruptAt(scan)) failures.push(`seed ${seed} (${what}): the read found damage that a full scan did not: ${String(scan)}`);
        }
      }
      if (failures.length > 10) break;
    }
    expect(failures).toEqual([]);
    // The campaign walks the path: some damage lay below the recovery point and was found when read.
    if (ONLY === null && CASES >= 200) expect(readFound).toBeGreaterThan(0);
  },
  60_000 + CASES * 30,
);

let readFound = 0;

function isCorruptAt(error: unknown): boolean {
  return error instanceof FanlogError && error.code === 'ECORRUPT' && typeof error.file === 'string' && typeof error.offset === 'number';
}
