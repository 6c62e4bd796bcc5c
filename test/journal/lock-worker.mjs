// Worker thread for lock.test.ts: opens the engine directory it is given,
// reports "open" or the error code to its parent, holds the engine until
// told to close, then closes it.
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../../dist/index.js';

let engine;
try {
  engine = await Engine.open(workerData.dir, { store: 'files' });
  parentPort.postMessage('open');
} catch (error) {
  parentPort.postMessage(error.code ?? String(error));
}
parentPort.once('message', async () => {
  await engine?.close();
  parentPort.postMessage('closed');
});
