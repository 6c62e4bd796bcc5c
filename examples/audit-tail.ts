/**
 * An audit tail on fanlog: who did what, and what was refused. Simulated
 * users change files; an antivirus group (a content group) refuses to let
 * any `.exe` be opened; a notification group feeds an indexer; and an
 * audit consumer prints one line per event and decision, with the
 * process's uid, gid and pid, then acknowledges.
 *
 *   node dist/examples/audit-tail.js [DIR]     (default: a new temporary directory)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DeliveredRecord, Engine, FAN_ALLOW, FAN_CREATE, FAN_DENY, FAN_MODIFY, FAN_ONDIR, FAN_OPEN_PERM, maskNames, responseName } from 'fanlog';

const dir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-audit-'));
/** Made here (no directory given): removed at the end, so that nothing is left in the temp dir. */
const madeHere = process.argv[2] === undefined;

const engine = await Engine.open(dir, { store: 'lmdb' });
const g = await engine.groups.open('indexer', { class: 'notif', queueEventsMax: 16384 });
await g.mark({ path: '/', scope: 'mount', mask: FAN_CREATE | FAN_MODIFY | FAN_ONDIR });
const q = g.openQueue();

await engine.fs.mkdir('/projects');
await engine.fs.create('/projects/big.dat', { size: 64 << 20, offline: true }); // an HSM stub
const events = await q.read({ max: 64, waitMs: 100 });
// [{ id, seq, mask: FAN_CREATE|FAN_ONDIR, path: '/projects', fid, parentFid, name, stat, pid, ... }, ...]
console.log(`indexer: ${events.length} events queued: ${events.map((event) => `${maskNames(event.mask).join('|')} ${event.path}`).join(', ')}`);

// The antivirus: a content group asked before every open under /projects.
const av = await engine.groups.open('antivirus', { class: 'content' });
await av.mark({ path: '/projects', scope: 'mount', mask: FAN_OPEN_PERM });
const scanner = av.openQueue();
let scanning = true;
const scanned = (async () => {
  while (scanning) {
    for (const event of await scanner.read({ waitMs: 20 })) await scanner.respond(event.id, event.path?.endsWith('.exe') ? FAN_DENY : FAN_ALLOW);
  }
})();

const audit = await engine.consumers.open('audit', { from: 'next' });
const alice = { pid: 2001, uid: 1001, gid: 100 };
const bob = { pid: 2002, uid: 1002, gid: 100 };
await engine.fs.create('/projects/report.txt', { size: 4096 }, alice);
await engine.fs.chmod('/projects/report.txt', 0o600, alice);
await engine.fs.create('/projects/setup.exe', { size: 1 << 20 }, bob);
const opened = await engine.fs.open('/projects/setup.exe', 'r', {}, bob).then(
  () => 'opened',
  (error: { code: string }) => error.code,
);
await engine.fs.unlink('/projects/setup.exe', alice);
scanning = false;
await scanned;
console.log(`bob's open of setup.exe: ${opened}`);

/** One audit line: seq, who, what, where, and a decision's answer. */
function line(record: DeliveredRecord): string {
  const who = `uid=${record.uid} gid=${record.gid} pid=${record.pid}`;
  const what =
    record.kind === 'decision'
      ? `DECISION ${responseName(record.response!)} ${maskNames(record.mask!).join('|')}`
      : `${record.kind === 'request' ? 'ASK ' : ''}${maskNames(record.mask ?? 0n).join('|')}`;
  return `${record.seq} ${who} ${what} ${record.path ?? ''}`;
}

for (let batch = await audit.read({ max: 100 }); batch.length > 0; batch = await audit.read({ max: 100 })) {
  for (const record of batch) console.log(`audit: ${line(record)}`);
  await audit.ack(batch[batch.length - 1]!.seq);
}
await engine.close();
if (madeHere) rmSync(dir, { recursive: true, force: true });
