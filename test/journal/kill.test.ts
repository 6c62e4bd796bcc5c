/**
 * Real processes on a real disk: a child appends with sync 'always' and
 * reports each resolved seq; the parent SIGKILLs it at random moments,
 * reopens (taking over the lock the dead child left), and checks that the
 * records are a gap-free run with the right bytes, that no entry is torn,
 * and that every reported seq survived. FANLOG_KILL_RUNS sets the number of
 * kills; the seed is printed on failure.
 */
import { describe, expect, it } from 'vitest';
import { Journal } from '../../journal/index.js';
import { Prng } from '../../testing.js';
import { type NodeChild, startKillChild, tempDir, untext } from '../helpers.js';

const KILLS = Number(process.env.FANLOG_KILL_RUNS ?? 25);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);

/** Starts the child; `acked()` is the highest seq it reported resolved. */
async function startChild(dir: string, seed: number): Promise<NodeChild & { acked: () => bigint }> {
  let acked = 0n;
  const started = await startKillChild('journal', [dir, String(seed)], ([word, value]) => {
    if (word === 'ack' && BigInt(value!) > acked) acked = BigInt(value!);
  });
  return { ...started, acked: () => acked };
}

describe('journal under SIGKILL', () => {
  it('rejects an open with EBUSY while a live process holds the journal, and takes over once it is dead', async () => {
    const dir = tempDir();
    const { child, exited } = await startChild(dir, 1);
    const error = await Journal.open(dir).then(
      () => null,
      (rejected: unknown) => rejected as { code?: string },
    );
    expect(error?.code).toBe('EBUSY');
    child.kill('SIGKILL');
    await exited;
    const journal = await Journal.open(dir);
    expect(journal.headSeq).toBeGreaterThanOrEqual(0n);
    await journal.close();
  });

  it(`keeps every acknowledged append and tears nothing across ${KILLS} kills (seed ${SEED})`, async () => {
    const dir = tempDir();
    const prng = new Prng(SEED);
    let recoveredHead = 0n;
    for (let kill = 0; kill < KILLS; kill++) {
      const where = `seed ${SEED}, kill ${kill}`;
      const { child, acked, exited } = await startChild(dir, prng.nextU32());
      // The kill moment is the random variable here, not a synchronisation.
      await new Promise((resolve) => setTimeout(resolve, prng.between(1, 40)));
      child.kill('SIGKILL');
      await exited;

      const journal = await Journal.open(dir);
      expect(journal.headSeq, where).toBeGreaterThanOrEqual(acked());
      expect(journal.headSeq, where).toBeGreaterThanOrEqual(recoveredHead);
      let expected = journal.firstSeq;
      let lastEntryEnd = 0n;
      for await (const record of journal.read()) {
        expect(record.seq, where).toBe(expected);
        const match = /^seq=(\d+) entry=(\d+)-(\d+) #*$/.exec(untext(record.payload));
        expect(match, where).not.toBeNull();
        expect(BigInt(match![1]!), where).toBe(record.seq);
        expect(record.payload.length, where).toBe(Math.max(20 + Number(record.seq % 200n), match![0].replace(/#*$/, '').length));
        lastEntryEnd = BigInt(match![3]!);
        expected++;
      }
      expect(expected - 1n, where).toBe(journal.headSeq);
      if (journal.headSeq >= journal.firstSeq) expect(lastEntryEnd, `${where}: last entry torn`).toBe(journal.headSeq);
      recoveredHead = journal.headSeq;
      await journal.close();
    }
    expect(recoveredHead).toBeGreaterThan(0n);
  });
});
