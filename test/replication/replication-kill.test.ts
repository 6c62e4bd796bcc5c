/**
 * The replicator's process is SIGKILLed at random moments (seeded), again
 * and again on one engine and one stream; after every kill the stream holds
 * exactly the records a fanlog consumer delivers, up to the stream's last
 * entry, in seq order, with no gap and no duplicate; at the end a
 * replicator catches up and the stream holds them all. FANLOG_REPLICATION_KILLS
 * sets the number of kills (CI: 50); the seed is printed on failure.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Engine } from '../../index.js';
import { Prng } from '../../testing.js';
import { startNodeChild, tempDir } from '../helpers.js';
import { type RedisServer, startRedis } from '../redis-server.js';

const KILLS = Number(process.env.FANLOG_REPLICATION_KILLS ?? 5);
const SEED = Number(process.env.FANLOG_REPLICATION_SEED ?? Date.now() % 1_000_000);
const CHILD = fileURLToPath(new URL('./replicate-child.mjs', import.meta.url));

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

/** The seqs a fresh consumer from the oldest record delivers (the engine is closed again). */
async function deliverableSeqs(dir: string): Promise<bigint[]> {
  const engine = await Engine.open(dir, { store: 'lmdb' });
  try {
    const reference = await engine.consumers.register('reference');
    const seqs: bigint[] = [];
    for (let batch = await reference.read({ max: 10_000 }); batch.length > 0; batch = await reference.read({ max: 10_000 }))
      seqs.push(...batch.map((record) => record.seq));
    await engine.consumers.deregister('reference');
    return seqs;
  } finally {
    await engine.close();
  }
}

async function streamSeqs(): Promise<bigint[]> {
  return (await redis.xrange('changes', '-', '+')).map(([id]) => BigInt(id.split('-')[0]!));
}

it(`keeps the stream exactly the delivered records across ${KILLS} SIGKILLs of the replicator (seed ${SEED})`, async () => {
  const prng = new Prng(SEED);
  const dir = path.join(tempDir(), 'engine');
  const seeded = await Engine.open(dir, { store: 'lmdb' });
  await seeded.fs.mkdir('/start');
  await seeded.close();
  for (let kill = 0; kill < KILLS; kill++) {
    const child = await startNodeChild(CHILD, [dir, server.url, 'changes', String(prng.between(1, 50)), `k${kill}`]);
    // The kill moment is the random variable of this test, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(0, 300)));
    child.child.kill('SIGKILL');
    await child.exited;
    const stream = await streamSeqs();
    const delivered = await deliverableSeqs(dir);
    const upTo = delivered.filter((seq) => stream.length > 0 && seq <= stream[stream.length - 1]!);
    expect(stream, `seed ${SEED}, kill ${kill}: the stream is not the delivered records up to its end`).toEqual(upTo);
  }
  const engine = await Engine.open(dir, { store: 'lmdb' });
  const replicator = await engine.replicate({ url: server.url, stream: 'changes' });
  await replicator.caughtUp();
  await replicator.stop();
  await engine.close();
  expect(await streamSeqs(), `seed ${SEED}: after the last catch-up`).toEqual(await deliverableSeqs(dir));
  expect((await streamSeqs()).length).toBeGreaterThan(KILLS);
});
