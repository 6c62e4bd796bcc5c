// A changelog handler for the supervisor's tests (test/kernel/supervise-changelog.test.ts):
// node notify-handler.mjs DIST ENGINE_DIR MOUNT MARKER [DOWN]
// It journals MOUNT's creates, with the changelog group its supervisor holds.
// The first incarnation (MARKER absent) makes MARKER and keeps the
// FANLOG_CRASH_AT it was given (the test's notified:1 kills it holding its
// first read); later ones run without it. MARKER '-': every incarnation
// keeps it. It says "ready PID" on stdout once
// its source runs, and stops its source on SIGTERM. While the file DOWN
// exists, an incarnation exits 1 at once, reading nothing.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [dist, dir, mount, marker, down] = process.argv.slice(2);
if (down !== undefined && existsSync(down)) process.exit(1);
if (marker !== '-' && existsSync(marker)) delete process.env.FANLOG_CRASH_AT;
else if (marker !== '-') writeFileSync(marker, String(process.pid));
// Imported after the environment is settled: the crash points read it when loaded.
const { Engine, FAN_CREATE } = await import(path.join(dist, 'index.js'));

const engine = await Engine.open(dir);
const source = await engine.fanotify({ path: mount, mask: FAN_CREATE });
process.on('SIGTERM', () => {
  void source
    .stop()
    .then(() => engine.close())
    .then(() => process.exit(0));
});
process.stdout.write(`ready ${process.pid}\n`);
