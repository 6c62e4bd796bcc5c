/**
 * SIGKILL of a mirroring process at random moments (its start scan, hints
 * in flight, between them), with changes on disk going on while it runs
 * and while it is down. After each kill a new mirror's start scan leaves
 * the engine's tree equal to `lstat` of the disk, and a consumer that read
 * everything has, for every file on disk, last seen it arrive with its
 * size now: no change the final state shows was missed.
 * FANLOG_MIRROR_KILLS sets the number of kills (CI: 20); the seed
 * (FANLOG_MIRROR_SEED) is printed on failure.
 */
import { chmodSync, linkSync, mkdirSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { type Consumer, Engine, FAN_DELETE, FAN_DELETE_SELF, FAN_MOVE_SELF, FAN_MOVED_FROM, FAN_RENAME } from '../../index.js';
import { Prng } from '../../testing.js';
import { startNodeChild, tempDir } from '../helpers.js';
import { diskTree, engineTree } from './trees.js';

const KILLS = Number(process.env.FANLOG_MIRROR_KILLS ?? 5);
const SEED = Number(process.env.FANLOG_MIRROR_SEED ?? Date.now() % 1_000_000);
const CHILD = fileURLToPath(new URL('./mirror-child.mjs', import.meta.url));
const DIRS = ['d0', 'd1', 'd2', 'd3'];

/** One random change to the files under `root`. */
function change(prng: Prng, root: string, serial: number): void {
  const files = DIRS.flatMap((dir) => readdirSync(`${root}/${dir}`).map((name) => `${root}/${dir}/${name}`));
  const some = (): string => files[prng.int(files.length)]!;
  const fresh = (): string => `${root}/${DIRS[prng.int(DIRS.length)]}/f${serial}`;
  const roll = files.length < 20 ? 0 : prng.int(8);
  if (roll === 0) writeFileSync(fresh(), 'x'.repeat(prng.int(100)));
  else if (roll === 1) writeFileSync(some(), 'y'.repeat(prng.int(100)));
  else if (roll === 2) appendFileSync(some(), 'z');
  else if (roll === 3) truncateSync(some(), prng.int(10));
  else if (roll === 4) renameSync(some(), prng.chance(0.3) ? some() : fresh());
  else if (roll === 5) unlinkSync(some());
  else if (roll === 6) linkSync(some(), fresh());
  else chmodSync(some(), prng.chance(0.5) ? 0o600 : 0o644);
}

/** What the consumer last saw: each name's object (null once the name went), and each object's size. */
interface Seen {
  names: Map<string, number | null>;
  sizes: Map<number, number>;
}

function follow(seen: Seen, records: Awaited<ReturnType<Consumer['read']>>): void {
  for (const record of records) {
    if (record.kind !== 'event' || record.path === undefined || record.mask === undefined || record.fid === undefined) continue;
    if (record.stat !== undefined) seen.sizes.set(record.fid.ino, record.stat.size);
    if (record.oldPath !== undefined && (record.mask & FAN_RENAME) !== 0n) seen.names.set(record.oldPath, null);
    if ((record.mask & (FAN_DELETE | FAN_MOVED_FROM)) !== 0n) seen.names.set(record.path, null);
    else if ((record.mask & (FAN_DELETE_SELF | FAN_MOVE_SELF)) === 0n && record.name !== undefined) seen.names.set(record.path, record.fid.ino);
  }
}

it(`leaves the mirrored tree equal to the disk after each of ${KILLS} SIGKILLs of a mirroring process (seed ${SEED})`, async () => {
  const prng = new Prng(SEED);
  const base = tempDir();
  const root = `${base}/real`;
  const dir = `${base}/engine`;
  for (const name of DIRS) mkdirSync(`${root}/${name}`, { recursive: true });
  let serial = 0;
  for (let i = 0; i < 300; i++) change(prng, root, serial++);
  let engine = await Engine.open(dir);
  await engine.consumers.register('audit', { lagRecordsMax: 100_000_000 });
  await engine.close();
  const seen: Seen = { names: new Map(), sizes: new Map() };
  let inStartScan = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    let mirroring = false;
    const child = await startNodeChild(CHILD, [dir, root], (words) => (mirroring ||= words[0] === 'mirroring'));
    const changes = prng.between(0, 150);
    for (let i = 0; i < changes; i++) {
      change(prng, root, serial++);
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    // The kill moment is the random variable of this test, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, prng.between(0, 100)));
    child.child.kill('SIGKILL');
    await child.exited;
    inStartScan += mirroring ? 0 : 1;
    for (let i = prng.between(0, 20); i > 0; i--) change(prng, root, serial++);
    engine = await Engine.open(dir);
    try {
      const mirror = await engine.mirror(root, { watch: false });
      await mirror.stop();
      const where = `seed ${SEED}, kill ${kill}`;
      expect(await engineTree(engine), where).toEqual(diskTree(root));
      const audit = engine.consumers.get('audit');
      for (let batch = await audit.read({ max: 50_000 }); batch.length > 0; batch = await audit.read({ max: 50_000 })) {
        follow(seen, batch);
        await audit.ack(batch.at(-1)!.seq);
      }
      const files = DIRS.flatMap((name) => readdirSync(`${root}/${name}`).map((file) => `/${name}/${file}`));
      for (const file of files) {
        const object = seen.names.get(file);
        expect(object, `${where}: ${file} as the consumer last saw it`).toBe((await engine.fs.lstat(file)).ino);
        expect(seen.sizes.get(object!), `${where}: the size of ${file} as the consumer last saw it`).toBe(statSync(`${root}${file}`).size);
      }
      const present = [...seen.names]
        .filter(([, object]) => object !== null)
        .map(([path]) => path)
        .filter((path) => path.split('/').length === 3);
      expect(present.sort(), `${where}: files the consumer believes present`).toEqual(files.sort());
    } finally {
      await engine.close();
    }
  }
  console.log(`mirror kills (seed ${SEED}): ${inStartScan} before the start scan ended, ${KILLS - inStartScan} after it`);
}, 600_000);
