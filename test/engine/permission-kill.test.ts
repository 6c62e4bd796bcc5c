/**
 * Invariant 5 on a real disk with the lmdb store: a child process runs
 * guarded operations and a listener that allows, denies, stalls and
 * restarts, and is SIGKILLed at random moments. After each kill the parent
 * reopens the engine and checks, from the journal and the queues, that no
 * request was lost, duplicated or answered twice, that the undecided ones
 * head their queues in seq order, and that once allowed every waiting
 * operation completes exactly once. FANLOG_PERMISSION_KILL_RUNS sets the
 * kills; the seed is in the test name.
 */
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { Prng } from '../../testing.js';
import { startKillChild, tempDir } from '../helpers.js';
import { settleEverything } from '../../crash/permission-checks.js';

const KILLS = Number(process.env.FANLOG_PERMISSION_KILL_RUNS ?? 6);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);

it(`keeps every permission request exactly once across ${KILLS} SIGKILLs on lmdb (seed ${SEED})`, async () => {
  const dir = tempDir();
  const prng = new Prng(SEED);
  for (let kill = 0; kill < KILLS; kill++) {
    const { child, exited } = await startKillChild('permissions', [dir, String(prng.nextU32())]);
    // The kill moment is the random variable here, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(50, 400)));
    child.kill('SIGKILL');
    await exited;
    const violations: string[] = [];
    const engine = await Engine.open(dir, { store: 'lmdb', checkpointEveryRecords: 200 });
    await settleEverything(engine, (what) => violations.push(`${what} [seed ${SEED}, kill ${kill}]`));
    await engine.close();
    expect(violations).toEqual([]);
  }
});
