// A holder that comes and goes: COUNT times, it opens DIR, writes once and
// closes it again, then exits. MODE `engine` opens the engine and creates
// a file; MODE `store` opens only its lmdb store and commits one put (what
// the engine's open and close do to the store, without the journal's work
// between them, so that the opens and closes come thick and fast). It
// prints `ready` before its first open, `fail <i> <code> <message>` for
// each round that failed, and `done <failures>` at the end. Used by
// lmdb-beside.test.ts to race lock-free readers against a holder's opens
// and closes.
import { Engine } from '../../dist/index.js';
import { NodeIo } from '../../dist/journal/node-io.js';
import { openMetaStore } from '../../dist/store/meta-store.js';

const [dir, mode, countText] = process.argv.slice(2);

async function round(i) {
  if (mode === 'engine') {
    const engine = await Engine.open(dir);
    try {
      await engine.fs.create(`/round-${i}`, { size: i });
    } finally {
      await engine.close();
    }
    return;
  }
  const store = await openMetaStore('lmdb', dir, new NodeIo());
  try {
    await store.commit([{ type: 'put', key: `consumer/round-${i % 8}`, value: new Uint8Array([i & 0xff]) }]);
  } finally {
    await store.close();
  }
}

console.log('ready');
let failures = 0;
for (let i = 0; i < Number(countText); i++) {
  try {
    await round(i);
  } catch (error) {
    failures++;
    console.log(`fail ${i} ${error.code ?? error.name} ${String(error.message).replace(/\n/g, ' ')}`);
  }
}
console.log(`done ${failures}`);
