// A writer that grows an engine's lmdb store with every commit: it opens
// DIR's store (the engine closed), prints `ready`, then commits COUNT puts
// of 16 KiB under fresh fs/large/ keys, each of which extends the data
// file, and exits. Used by purge-race.test.ts to race lock-free readers
// against an lmdb file that grows.
import { openMetaStore } from '../../dist/store/meta-store.js';
import { NodeIo } from '../../dist/journal/node-io.js';

const [dir, countText] = process.argv.slice(2);
const store = await openMetaStore('lmdb', dir, new NodeIo());
console.log('ready');
const value = new Uint8Array(16384).fill(7);
for (let i = 0; i < Number(countText); i++) {
  await store.commit([{ type: 'put', key: `fs/large/${i.toString(16).padStart(16, '0')}`, value }]);
}
await store.close();
