// An application holding an engine: it opens DIR with STORE, makes some
// changes, prints `ready <pid> <durable seq>`, and keeps the engine open
// until SIGTERM, when it closes it and exits. Used by inspection.test.ts to
// inspect an engine beside its holder. MODE `full` (the default) makes a
// consumer, a group and files; `journal-only` only makes files, so that its
// store is written once, when the engine is created, and never again while
// its records become durable. SERVE `no-serve` opens it with `serve: false`.
import { Engine, FAN_CREATE } from '../../dist/index.js';

const [dir, store, mode = 'full', serve = 'serve'] = process.argv.slice(2);
const engine = await Engine.open(dir, { store, serve: serve !== 'no-serve' });
await engine.fs.mkdir('/data');
const files = mode === 'journal-only' ? 50 : 20;
for (let i = 0; i < files; i++) await engine.fs.create(`/data/f${i}`, { size: 100 });
if (mode === 'full') {
  const group = await engine.groups.open('idx');
  await group.mark({ path: '/data', scope: 'mount', mask: FAN_CREATE });
  const backup = await engine.consumers.open('backup');
  const [first] = await backup.read({ max: 1 });
  await backup.ack(first.seq);
}
// An application has work of its own that keeps it running (a server, a daemon loop): this stands for it.
const running = setInterval(() => undefined, 2 ** 30);
process.once('SIGTERM', () => {
  clearInterval(running);
  void engine.close().then(() => process.exit(0));
});
console.log(`ready ${process.pid} ${engine.journal.durableSeq}`);
