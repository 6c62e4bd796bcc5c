// An HSM handler for the supervisor's tests (test/kernel/supervise.test.ts):
// node hsm-handler.mjs DIST ENGINE_DIR MOUNT ARCHIVE [HANG_MARKER]
// It asks engine group `hsm` about FAN_PRE_ACCESS on MOUNT, fills each stub
// from ARCHIVE/<its name> through the event's descriptor, and allows it.
// With HANG_MARKER, the first incarnation to read an event makes the marker
// and never answers: it waits to be killed. It says what it does on stdout,
// one line each: "ready PID", "read PID SEQ PATH", "hang PID", "answered PID SEQ".
import { existsSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

const [dist, dir, mount, archive, hangMarker] = process.argv.slice(2);
const { Engine, FAN_ALLOW, FAN_PRE_ACCESS } = await import(path.join(dist, 'index.js'));
const say = (line) => process.stdout.write(`${line}\n`);

const engine = await Engine.open(dir);
if (!engine.groups.list().some((group) => group.name === 'hsm')) await engine.groups.create('hsm', { class: 'pre-content' });
const queue = engine.groups.get('hsm').openQueue();
const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
process.on('SIGTERM', () => {
  void source
    .stop()
    .then(() => engine.close())
    .then(() => process.exit(0));
});
say(`ready ${process.pid}`);
for (;;) {
  const events = await queue.read({ waitMs: 1000 });
  for (const event of events) {
    say(`read ${process.pid} ${event.seq} ${event.path}`);
    if (hangMarker !== undefined && !existsSync(hangMarker)) {
      writeFileSync(hangMarker, String(process.pid));
      say(`hang ${process.pid}`);
      await new Promise(() => undefined);
    }
    const data = readFileSync(path.join(archive, path.basename(event.path)));
    writeSync(event.fd, data, 0, data.length, 0);
    await queue.respond(event.id, FAN_ALLOW);
    say(`answered ${process.pid} ${event.seq}`);
  }
}
