/**
 * `node dist/bench/open-child.js DIR`: opens the engine in DIR and runs
 * durable operations (mkdir, create, unlink) until it is killed; prints
 * `ready` once it has done 20,000, so that the engine holds operations after
 * its last checkpoint. Run by bench/open.ts, which kills it with SIGKILL.
 */
import { Engine } from '../fanlog.js';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: node dist/bench/open-child.js DIR\n');
  process.exit(2);
}
const engine = await Engine.open(dir, { store: 'lmdb' });
await engine.fs.mkdir(`/child${process.pid}`);
for (let i = 0; ; i++) {
  const file = `/child${process.pid}/f${i}`;
  await engine.fs.create(file);
  await engine.fs.unlink(file);
  if (i === 10_000) process.stdout.write('ready\n');
}
