// A program whose only work left is an awaited wait: a guarded read nobody
// has answered yet ('permission'), or a queue read with waitMs ('queue').
// The answer (or the event) comes from an unref'd timer, which by itself
// keeps nothing alive: if the wait held no handle, the event loop would
// drain first and Node would exit with code 13 before the timer fired.
// Prints what completed; used by keep-alive.test.ts.
import { Engine, FAN_ALLOW, FAN_CREATE, FAN_PRE_ACCESS } from '../../dist/index.js';

const [mode, dir] = process.argv.slice(2);
const engine = await Engine.open(dir, { store: 'files' });
await engine.fs.mkdir('/d');
await engine.fs.create('/d/stub', { size: 8192, offline: true });
if (mode === 'permission') {
  const fd = await engine.fs.open('/d/stub', 'r');
  const hsm = await engine.groups.create('hsm', { class: 'pre-content' });
  await hsm.mark({ path: '/d', scope: 'mount', mask: FAN_PRE_ACCESS });
  const queue = hsm.openQueue();
  setTimeout(async () => {
    const [event] = await queue.read({ max: 1 });
    await engine.fs.hsmFill('/d/stub', 0, 8192);
    await queue.respond(event.id, FAN_ALLOW);
  }, 100).unref();
  const bytes = await engine.fs.read(fd, 0, 4096);
  console.log(`completed read of ${bytes}`);
} else {
  const watch = await engine.groups.create('watch');
  await watch.mark({ path: '/d', scope: 'mount', mask: FAN_CREATE });
  const queue = watch.openQueue();
  setTimeout(() => void engine.fs.create('/d/new'), 100).unref();
  const events = await queue.read({ max: 1, waitMs: 60_000 });
  console.log(`completed queue read of ${events.length}`);
}
await engine.close();
