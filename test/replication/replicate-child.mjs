// The process that holds an engine and replicates it, to be SIGKILLed at a
// random moment (replication-kill.test.ts): it opens DIR, starts the
// replicator into STREAM at URL with BATCH records a batch, says `ready`
// once it has caught up with what the engine held, then makes changes
// until it is killed.
import { Engine } from '../../dist/index.js';

const [dir, url, stream, batch, label] = process.argv.slice(2);
const engine = await Engine.open(dir, { store: 'lmdb' });
const replicator = await engine.replicate({ url, stream, batchRecords: Number(batch) });
await replicator.caughtUp();
console.log('ready');
for (let i = 0; ; i++) await engine.fs.create(`/${label}-${i}`, { size: i }, { pid: 100 + (i % 7), uid: 1000 });
