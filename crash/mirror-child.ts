/**
 * The mirroring process of the campaign's mirror runs (mirror-run.ts):
 * `node dist/crash/mirror-child.js ENGINE_DIR ROOT` opens the engine and
 * mirrors ROOT into it with the default options, until it is SIGKILLed or
 * told to stop. One line each on stdout:
 *
 *   ready       the engine is open; the start scan begins
 *   mirroring   the start scan is done; hints are followed
 *   settled     (after `settle` on stdin) what the watcher heard before is
 *               applied and durable (mirror.settled())
 *   stopped     (after `stop` on stdin) the mirror and the engine are
 *               closed; the process exits 0
 *
 * Anything that fails is printed on stderr and ends the process with 2.
 * Writes to a pipe are synchronous on Linux, so a line is out before the
 * process can die after it.
 */
import { createInterface } from 'node:readline';
import { Engine } from '../fanlog.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main([dir, root]: string[]): Promise<void> {
  const engine = await Engine.open(dir!);
  say('ready');
  const mirror = await engine.mirror(root!, { onError: (error) => process.stderr.write(`mirror: ${error.message}\n`) });
  say('mirroring');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'settle') {
      await mirror.settled();
      say('settled');
    } else if (line === 'stop') {
      await mirror.stop();
      await engine.close();
      say('stopped');
      process.exit(0);
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
