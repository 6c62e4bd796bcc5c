// Child process for full-disk.test.ts: fills the disk under the engine's
// store (a small tmpfs the parent mounted at the store's directory) with
// checkpoints of large inodes until a write fails, then reports what the
// engine said, one line each:
//   failed CODE CAUSE     the call that hit the full disk, its code and its cause's code
//   after CODE            the code of the next operation (EFAILED expected)
//   engine FAILED         engine.failed afterwards
// and exits 0. An unhandled rejection would end it with status 1 first.
import { Engine } from '../../dist/index.js';

const [dir, store] = process.argv.slice(2);
const engine = await Engine.open(dir, { store, checkpointEveryRecords: 1_000_000 });
const value = new Uint8Array(60_000).fill(7);
let failure = null;
for (let i = 0; i < 10_000 && failure === null; i++) {
  try {
    await engine.fs.create(`/f${i}`);
    await engine.fs.setxattr(`/f${i}`, 'user.blob', value);
    if (i % 4 === 3) await engine.checkpoint();
  } catch (error) {
    failure = error;
  }
}
const cause = failure?.cause?.code ?? failure?.cause?.cause?.code ?? '-';
process.stdout.write(`failed ${failure?.code} ${cause}\n`);
const after = await engine.fs.mkdir('/after').then(
  () => 'none',
  (error) => error.code,
);
process.stdout.write(`after ${after}\n`);
process.stdout.write(`engine ${engine.failed}\n`);
await engine.close();
