// A changelog handler for the supervisor's tests (test/kernel/supervise-changelog.test.ts):
// node notify-handler.mjs DIST ENGINE_DIR MOUNT MARKER [DOWN]
// It journals MOUNT's creates, with the changelog group its supervisor holds.
// The first incarnation (MARKER absent) makes MARKER and keeps the
// FANLOG_CRASH_AT it was given (the test's notified:1 kills it holding its
// first read); later ones run without it. MARKER '-': every incarnation
// keeps it. It says "ready PID" on stdout once
// its source runs, and stops its source on SIGTERM. While the file DOWN
// exists, an incarnation exits 1 at once, reading nothing. With
// FANLOG_TEST_HANDLER=never-deaf in its environment, it journals under sync
// 'never', says "journaled N" each time its count of journaled events
// grows, and ignores SIGTERM (its supervisor's --stop-timeout kills it).
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [dist, dir, mount, marker, down] = process.argv.slice(2);
if (down !== undefined && existsSync(down)) process.exit(1);
if (marker !== '-' && existsSync(marker)) delete process.env.FANLOG_CRASH_AT;
else if (marker !== '-') writeFileSync(marker, String(process.pid));
// Imported after the environment is settled: the crash points read it when loaded.
const { Engine, FAN_CREATE } = await import(path.join(dist, 'index.js'));

const neverDeaf = process.env.FANLOG_TEST_HANDLER === 'never-deaf';
const engine = await Engine.open(dir, neverDeaf ? { sync: 'never' } : {});
const source = await engine.fanotify({ path: mount, mask: FAN_CREATE });
if (neverDeaf) {
  let said = -1;
  // A poll of its own count, for the test to wait on: the source has no event for it.
  setInterval(() => {
    const { journaled } = source.stats();
    if (journaled !== said) process.stdout.write(`journaled ${(said = journaled)}\n`);
  }, 5);
}
process.on('SIGTERM', () => {
  if (neverDeaf) return;
  void source
    .stop()
    .then(() => engine.close())
    .then(() => process.exit(0));
});
process.stdout.write(`ready ${process.pid}\n`);
