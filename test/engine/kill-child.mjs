// Child process for kill.test.ts: runs filesystem operations on a real
// engine until it is killed. Right after each call (when the operation has
// been applied and appended, before it is durable) it prints
// "applied <journal head> <hash of the filesystem>", and "ok <head>" once
// the operation resolved. Stdout on a pipe is synchronous on Linux, so every
// line is out before the process can die after it.
import { createHash } from 'node:crypto';
import { Engine, Prng } from '../../dist/index.js';

const [dir, store, seedText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const engine = await Engine.open(dir, { store, checkpointEveryRecords: 300 });
const hash = () => createHash('sha1').update(engine.state.fingerprint()).digest('hex');
process.stdout.write(`ready ${engine.journal.headSeq} ${hash()}\n`);
const names = ['a', 'b', 'c', 'd'];
const path = () => `/${prng.pick(names)}${prng.int(3)}/${prng.pick(names)}${prng.int(5)}`;
const dirs = names.flatMap((name) => [0, 1, 2].map((i) => `/${name}${i}`));
for (;;) {
  let call;
  const missing = dirs.find((dir) => !engine.state.get(1).entries.has(dir.slice(1)));
  switch (missing === undefined ? prng.int(6) : -1) {
    case -1: call = engine.fs.mkdir(missing); break;
    case 0: call = engine.fs.create(path(), { size: prng.int(1 << 20), offline: prng.chance(0.5) }); break;
    case 1: call = engine.fs.rename(path(), path()); break;
    case 2: call = engine.fs.unlink(path()); break;
    case 3: call = engine.fs.truncate(path(), prng.int(1 << 20)); break;
    case 4: call = engine.fs.setxattr(path(), 'user.x', prng.bytes(8)); break;
    default: call = engine.fs.hsmFill(path(), 0, prng.int(1 << 20)); break;
  }
  const head = engine.journal.headSeq;
  process.stdout.write(`applied ${head} ${hash()}\n`);
  try {
    await call;
    process.stdout.write(`ok ${head}\n`);
  } catch (error) {
    if (error.code === 'EFAILED' || error.code === 'EIO') throw error;
  }
}
