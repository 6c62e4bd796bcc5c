/**
 * changesSince against a model, on seeded random histories: the tree is
 * snapshotted (every object by fid, with its paths and stat) at `since`
 * and at the end, and the answer must say exactly what a backup needs.
 * Every object whose stat differs between the snapshots, whose paths
 * differ other than by a reported directory's rename, that appeared or
 * that disappeared, is reported; each reported object that
 * exists has its paths and stat of the end snapshot, each gone one existed
 * at `since`; nothing made and gone again is reported. Each failure prints
 * its seed (FANLOG_FUZZ_CASES scales the number of histories).
 */
import { afterEach, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { MemoryIo, Prng } from '../../testing.js';

const CASES = Math.max(4, Math.floor(Number(process.env.FANLOG_FUZZ_CASES ?? '1000') / 50));
const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

interface Seen {
  paths: string[];
  stat: string;
}

/** Every object of the tree by fid: its paths (sorted) and its stat. */
async function snapshot(engine: Engine): Promise<Map<string, Seen>> {
  const objects = new Map<string, Seen>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await engine.fs.readdir(dir)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const stat = await engine.fs.lstat(path);
      const key = `${stat.ino}:${engine.state.get(stat.ino)!.gen}`;
      const seen = objects.get(key) ?? { paths: [], stat: JSON.stringify(stat, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) };
      seen.paths.push(path);
      seen.paths.sort();
      objects.set(key, seen);
      if ((stat.mode & 0o170000) === 0o040000) await walk(path);
    }
  };
  await walk('/');
  const root = await engine.fs.lstat('/');
  objects.set(`${root.ino}:${engine.state.get(root.ino)!.gen}`, {
    paths: ['/'],
    stat: JSON.stringify(root, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
  });
  return objects;
}

/** One random operation on the tree (those that fail, on a name taken or missing, are skipped). */
async function step(engine: Engine, prng: Prng, names: string[]): Promise<void> {
  const pick = (): string => names[prng.nextU32() % names.length]!;
  const dirs = ['/', '/a', '/b', '/a/c'];
  const dir = (): string => dirs[prng.nextU32() % dirs.length]!;
  const at = (): string => `${dir() === '/' ? '' : dir()}/${pick()}`;
  const ops = [
    () => engine.fs.create(at(), { size: prng.nextU32() % 100 }),
    () => engine.fs.unlink(at()),
    () => engine.fs.rename(at(), at()),
    () => engine.fs.link(at(), at()),
    () => engine.fs.chmod(at(), 0o600 + (prng.nextU32() % 0o100)),
    () => engine.fs.truncate(at(), prng.nextU32() % 200),
    () => engine.fs.symlink('target', at()),
    () => engine.fs.rename(['/a', '/b'][prng.nextU32() % 2]!, ['/a', '/b'][prng.nextU32() % 2]!),
    () => engine.fs.mkdir(dirs[1 + (prng.nextU32() % 3)]!),
    () => engine.fs.rmdir(dirs[1 + (prng.nextU32() % 3)]!),
  ];
  await ops[prng.nextU32() % ops.length]!().catch((error: { code?: string }) => {
    if (error.code === undefined) throw error;
  });
}

it(`answers exactly what changed, on ${CASES} seeded histories`, async () => {
  const names = ['x', 'y', 'z', 'w'];
  for (let seed = 1; seed <= CASES; seed++) {
    const prng = new Prng(seed);
    const engine = await Engine.open(`/e${seed}`, { io: new MemoryIo(), store: 'files' });
    engines.push(engine);
    for (const dir of ['/a', '/b', '/a/c']) await engine.fs.mkdir(dir).catch(() => undefined);
    for (let i = 0; i < 30; i++) await step(engine, prng, names);
    const since = engine.journal.durableSeq;
    const before = await snapshot(engine);
    for (let i = 0; i < 40; i++) await step(engine, prng, names);
    const after = await snapshot(engine);
    const { changes, seq, complete } = await engine.changesSince(since);
    const where = `seed ${seed}`;
    expect(complete, where).toBe(true);
    expect(seq, where).toBe(engine.journal.durableSeq);
    const reported = new Map(changes.map((change) => [`${change.fid.ino}:${change.fid.gen}`, change]));
    expect(reported.size, `${where}: one entry per object`).toBe(changes.length);
    // A renamed directory is reported itself, not what moved with it: those paths changed with an ancestor reported.
    const movedDirectories = changes.filter((change) => change.exists && (change.stat!.mode & 0o170000) === 0o040000).map((change) => `${change.paths[0]!}/`);
    for (const [key, now] of after) {
      const then = before.get(key);
      const moved = then !== undefined && then.paths.join() !== now.paths.join();
      const movedWithAncestor = moved && now.paths.every((path) => movedDirectories.some((dir) => path.startsWith(dir)));
      const changed = then === undefined || then.stat !== now.stat || (moved && !movedWithAncestor);
      if (changed) expect(reported.has(key), `${where}: ${now.paths.join()} changed and is not reported`).toBe(true);
    }
    for (const key of before.keys()) if (!after.has(key)) expect(reported.get(key)?.exists, `${where}: ${key} is gone and not reported gone`).toBe(false);
    for (const [key, change] of reported) {
      const now = after.get(key);
      if (change.exists) {
        expect(now, `${where}: ${key} reported existing`).toBeDefined();
        expect(change.paths, `${where}: ${key}'s paths`).toEqual(now!.paths);
        // Its stat now: every field it gives is the one lstat gives now.
        const stat = (await engine.fs.lstat(now!.paths[0]!)) as unknown as Record<string, unknown>;
        for (const [field, value] of Object.entries(change.stat!)) expect(value, `${where}: ${key}'s ${field}`).toEqual(stat[field]);
      } else {
        expect(now, `${where}: ${key} reported gone`).toBeUndefined();
        expect(before.has(key), `${where}: ${key} was made and gone again, and reported`).toBe(true);
      }
    }
    await engine.close();
  }
});
