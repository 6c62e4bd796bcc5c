/**
 * Consumers on a real disk with the lmdb store, SIGKILLed at random moments
 * while writing, reading and acknowledging: after each kill the cursor is at
 * least the last acknowledgement the child saw resolve, and reading from it
 * delivers exactly the journal's records above it. FANLOG_CONSUMER_KILL_RUNS
 * sets the kills; the seed is in the test name.
 */
import { expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { Engine } from '../../index.js';
import { Prng } from '../../testing.js';
import { startKillChild, tempDir } from '../helpers.js';

const KILLS = Number(process.env.FANLOG_CONSUMER_KILL_RUNS ?? 6);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);

it(`keeps the consumer's cursor and re-reads exactly the records above it across ${KILLS} SIGKILLs (seed ${SEED})`, async () => {
  const dir = tempDir();
  const prng = new Prng(SEED);
  let acked = 0n;
  for (let kill = 0; kill < KILLS; kill++) {
    const where = `seed ${SEED}, kill ${kill}`;
    const { child, exited } = await startKillChild('consumers', [dir, String(prng.nextU32())], ([word, seq]) => {
      if (word === 'acked' && BigInt(seq!) > acked) acked = BigInt(seq!);
    });
    // The kill moment is the random variable here, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(20, 300)));
    child.kill('SIGKILL');
    await exited;
    const engine = await Engine.open(dir, { store: 'lmdb' });
    const consumer = engine.consumers.get('backup');
    expect(consumer.cursor, where).toBeGreaterThanOrEqual(acked);
    expect(engine.journal.firstSeq, where).toBeLessThanOrEqual(consumer.cursor + 1n);
    const expected: bigint[] = [];
    for await (const { seq, payload } of engine.journal.read({ from: consumer.cursor + 1n })) if (decodeRecord(payload).kind !== 'op') expected.push(seq);
    const delivered: bigint[] = [];
    for (let batch = await consumer.read({ max: 500 }); batch.length > 0; batch = await consumer.read({ max: 500 })) delivered.push(...batch.map((r) => r.seq));
    expect(delivered, where).toEqual(expected);
    await engine.close();
  }
});
