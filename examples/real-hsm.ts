/**
 * An HSM daemon on a real filesystem (root, Linux 6.14+): it asks engine
 * group `hsm` about the kernel's FAN_PRE_ACCESS on ARCHIVE's filesystem,
 * fills each stub (a sparse file) from TAPE/<its name> through the event's
 * descriptor and allows the read, or denies it with EIO when the tape has
 * no such file. It runs until SIGTERM or SIGINT, then stops the source
 * (what is unanswered is answered by the stop policy) and says what it
 * served.
 *
 *   node dist/examples/real-hsm.js ARCHIVE ENGINE_DIR TAPE
 *
 * ENGINE_DIR must be on another filesystem than ARCHIVE. Run it under
 * `fanlog supervise --path ARCHIVE --group hsm --dir ENGINE_DIR -- node
 * dist/examples/real-hsm.js ...` and a SIGKILL of it loses no request.
 */
import { existsSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Engine, ERRNO, FAN_ALLOW, FAN_DENY_ERRNO, FAN_PRE_ACCESS } from 'fanlog';
import { NodeIo } from 'fanlog/journal';

const [archive, engineDir, tapeDir] = process.argv.slice(2);
if (archive === undefined || engineDir === undefined || tapeDir === undefined) {
  process.stderr.write('usage: node dist/examples/real-hsm.js ARCHIVE ENGINE_DIR TAPE\n');
  process.exit(2);
}

// Not on the archive's filesystem; blocking commits, since this process does little but answer the kernel (docs/guide/fanotify.md).
const engine = await Engine.open(engineDir, { io: new NodeIo({ blocking: true }) });
if (!engine.groups.list().some((group) => group.name === 'hsm')) await engine.groups.create('hsm', { class: 'pre-content', restartable: true });
const queue = engine.groups.get('hsm').openQueue();
const source = await engine.fanotify({ path: archive, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });

let stopping = false;
process.once('SIGTERM', () => (stopping = true));
process.once('SIGINT', () => (stopping = true));
// The source ends by itself if its supervisor dies (it answers what it held by its stop policy first): so does the daemon.
source.done.catch((error: unknown) => {
  process.stderr.write(`real-hsm: ${(error as Error).message}\n`);
  stopping = true;
});
process.stdout.write(`ready: asking group hsm about reads on ${archive}\n`);
const filled = new Set<string>();
const denied = new Set<string>();
while (!stopping) {
  for (const event of await queue.read({ waitMs: 200 })) {
    const tape = path.join(tapeDir, path.basename(event.path!));
    if (!existsSync(tape)) {
      await queue.respond(event.id, FAN_DENY_ERRNO(ERRNO.EIO)); // the reader gets EIO
      denied.add(event.path!);
      continue;
    }
    const bytes = readFileSync(tape);
    writeSync(event.fd!, bytes, 0, bytes.length, 0); // fill through the event's descriptor, never the path
    await queue.respond(event.id, FAN_ALLOW);
    filled.add(event.path!);
  }
}
await source.stop();
const { requests, answered } = source.stats().permission!;
await engine.close();
process.stdout.write(`served: ${requests} requests, ${answered} answered; filled ${[...filled].sort().join(', ')}; denied ${[...denied].sort().join(', ')}\n`);
