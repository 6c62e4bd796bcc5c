/**
 * The engine on a real disk with the lmdb and level stores, SIGKILLed at
 * random moments: after each kill the reopened filesystem must equal the
 * one the child had right after the operation that ended at the recovered
 * journal head, and every operation the child saw resolve must be there.
 * FANLOG_ENGINE_KILL_RUNS sets the kills per store; the seed is in the name.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Engine, type StoreKind } from '../../index.js';
import { Prng } from '../../testing.js';
import { type NodeChild, startKillChild, tempDir } from '../helpers.js';

const KILLS = Number(process.env.FANLOG_ENGINE_KILL_RUNS ?? 8);
const SEED = Number(process.env.FANLOG_KILL_SEED ?? Date.now() % 1_000_000);

/** Starts the child; `hashes` maps each journal head it reported to its filesystem hash. */
async function startChild(dir: string, store: StoreKind, seed: number): Promise<NodeChild & { hashes: Map<bigint, string>; resolved: () => bigint }> {
  const hashes = new Map<bigint, string>();
  let resolved = 0n;
  const started = await startKillChild('engine', [dir, store, String(seed)], ([word, head, hash]) => {
    if (word === 'ready' || word === 'applied') hashes.set(BigInt(head!), hash!);
    if (word === 'ok' && BigInt(head!) > resolved) resolved = BigInt(head!);
  });
  return { ...started, hashes, resolved: () => resolved };
}

for (const store of ['lmdb', 'level'] as const) {
  describe(`engine on ${store} under SIGKILL`, () => {
    it(`recovers exactly the filesystem of the recovered journal head across ${KILLS} kills (seed ${SEED})`, async () => {
      const dir = tempDir();
      const prng = new Prng(SEED);
      for (let kill = 0; kill < KILLS; kill++) {
        const where = `${store}, seed ${SEED}, kill ${kill}`;
        const { child, exited, hashes, resolved } = await startChild(dir, store, prng.nextU32());
        // The kill moment is the random variable here, not a synchronisation.
        await new Promise((resolve) => setTimeout(resolve, prng.between(20, 250)));
        child.kill('SIGKILL');
        await exited;
        const engine = await Engine.open(dir, { store });
        const head = engine.journal.headSeq;
        expect(head, where).toBeGreaterThanOrEqual(resolved());
        const expected = hashes.get(head);
        expect(expected, `${where}: no operation ended at the recovered head ${head}`).toBeDefined();
        expect(createHash('sha1').update(engine.state.fingerprint()).digest('hex'), where).toBe(expected);
        await engine.close();
      }
    });
  });
}
