// Child process for damage.test.ts: opens an engine directory and reports,
// on one line, "open <fingerprint hash> <consumer:cursor,...>" or
// "error <code> <message>". A crash by a signal shows as the exit status.
import { createHash } from 'node:crypto';
import { Engine } from '../../dist/index.js';

const [dir] = process.argv.slice(2);
try {
  const engine = await Engine.open(dir);
  const hash = createHash('sha1').update(engine.state.fingerprint()).digest('hex');
  const consumers = engine.consumers
    .list()
    .map((c) => `${c.name}:${c.cursor}`)
    .join(',');
  await engine.close();
  process.stdout.write(`open ${hash} ${consumers}\n`);
} catch (error) {
  process.stdout.write(`error ${error.code ?? error.name} ${String(error.message).replace(/\n/g, ' ')}\n`);
}
