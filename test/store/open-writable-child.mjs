// Child process for lmdb-open-damage.test.ts: opens an engine directory
// writable, commits to its store (files made and removed, a checkpoint), and
// reports on one line "ok" or "error <code> <message>". A crash by a signal
// shows as the exit status, a hang as the parent's timeout.
import { Engine } from '../../dist/index.js';

const [dir] = process.argv.slice(2);
try {
  const engine = await Engine.open(dir);
  for (let i = 0; i < 30; i++) await engine.fs.create(`/child${i}`, { size: i });
  for (let i = 0; i < 30; i += 2) await engine.fs.unlink(`/child${i}`);
  await engine.checkpoint();
  await engine.close();
  process.stdout.write('ok\n');
} catch (error) {
  process.stdout.write(`error ${error.code ?? error.name} ${String(error.message).replace(/\n/g, ' ')}\n`);
}
