// A mirror in a process of its own, to be SIGKILLed (kill.test.ts):
//   node mirror-child.mjs ENGINE_DIR ROOT
// Says 'ready' once the engine is open, before the mirror's start scan, so
// that a kill can land in that scan too; then mirrors until killed.
import { Engine } from '../../dist/index.js';

const [dir, root] = process.argv.slice(2);
const engine = await Engine.open(dir);
console.log('ready');
await engine.mirror(root, { settleMs: 5 });
console.log('mirroring');
// The watcher keeps the process alive until it is killed.
