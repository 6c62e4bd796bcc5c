// A writer that rewrites an lmdb store with every commit: it opens DIR's
// store (the engine closed), prints `ready`, then makes COUNT commits and
// exits. Commit i puts, in one transaction, the counter `catalog/consumer`
// = i and a value of 6 to 24 KiB (overflow pages, so the file grows and
// freed pages are reused) under `fs/large/<i mod 24>`, whose bytes all say
// i mod 251 after an 8-byte header holding i. So any one snapshot is
// checkable: slot s holds the newest i' <= counter with i' mod 24 == s.
// Used by lmdb-beside.test.ts to race lock-free readers against commits.
import { NodeIo } from '../../dist/journal/node-io.js';
import { openMetaStore } from '../../dist/store/meta-store.js';

const [dir, countText] = process.argv.slice(2);
const store = await openMetaStore('lmdb', dir, new NodeIo());
console.log('ready');
for (let i = 1; i <= Number(countText); i++) {
  const value = new Uint8Array(6144 + ((i * 7919) % 18432)).fill(i % 251);
  new DataView(value.buffer).setBigUint64(0, BigInt(i), true);
  await store.commit([
    { type: 'put', key: 'catalog/consumer', value: new TextEncoder().encode(String(i)) },
    { type: 'put', key: `fs/large/${(i % 24).toString(16).padStart(16, '0')}`, value },
  ]);
}
await store.close();
