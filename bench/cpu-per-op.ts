/**
 * `node dist/bench/cpu-per-op.js [DIST]`: CPU time (user + system, every
 * thread of the process) per unit of work on the write path, with the disk
 * taken out: the engine on tmpfs (`/dev/shm` where there is one), so that
 * fdatasync costs no waiting and what is left is fanlog's own work.
 *
 *   engine_op       one operation of the engine suite's mix (create, open,
 *                   write, close, rename, setxattr, unlink), 64 processes
 *   permission_rt   one permission round trip of the permissions suite
 *                   (request, answer, completion), 64 processes
 *   journal_append  one 200-byte append, 64 concurrent appenders
 *
 * Three rounds each; the lowest is what the code costs (the others carry
 * this VM's noise). DIST (default: this build) is a directory holding
 * another build's `index.js`, to compare two builds on one machine.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MixProcess } from './engine.js';
import { guardedFiles, listen } from './permissions.js';

type Fanlog = typeof import('../index.js') & typeof import('../journal/index.js');

const PROCESSES = 64;
const cpuUs = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

/** CPU µs per call of `unit(i)`, over `rounds` rounds of 64 concurrent calls after 20 warm-up rounds. */
async function perUnit(unit: (i: number) => Promise<unknown>, rounds: number): Promise<number> {
  for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: PROCESSES }, (_, i) => unit(i)));
  const started = cpuUs();
  for (let round = 0; round < rounds; round++) await Promise.all(Array.from({ length: PROCESSES }, (_, i) => unit(i)));
  return (cpuUs() - started) / (PROCESSES * rounds);
}

async function engineOp(fanlog: Fanlog, root: string): Promise<number> {
  const engine = await fanlog.Engine.open(path.join(root, `ops-${Date.now()}`), { store: 'lmdb', checkpointEveryRecords: 2 ** 40 });
  const processes = Array.from({ length: PROCESSES }, (_, i) => new MixProcess(engine, 100 + i));
  for (const process of processes) await process.setup();
  const us = await perUnit((i) => processes[i]!.step(), 2100);
  await engine.close();
  return us;
}

async function permissionRoundTrip(fanlog: Fanlog, root: string): Promise<number> {
  const engine = await fanlog.Engine.open(path.join(root, `perm-${Date.now()}`), { store: 'lmdb', checkpointEveryRecords: 2 ** 40 });
  const { fds, queue } = await guardedFiles(engine, fanlog.FAN_ACCESS_PERM);
  const listener = listen(queue);
  const us = await perUnit((i) => engine.fs.read(fds[i]!, 0, 4096, { pid: 100 + i }), 300);
  await listener.stop();
  await queue.close();
  await engine.close();
  return us;
}

async function journalAppend(fanlog: Fanlog, root: string): Promise<number> {
  const journal = await fanlog.Journal.open(path.join(root, `journal-${Date.now()}`), { sync: 'always' });
  const payload = new Uint8Array(200);
  const us = await perUnit(() => journal.append(payload), 2000);
  await journal.close();
  return us;
}

const dist = process.argv[2];
/** An entry of the build under test; builds before 0.2.0 exported everything from index.js. */
async function entry(file: string): Promise<object> {
  if (dist === undefined) return (await import(`../${file}`)) as object;
  const built = path.resolve(dist, file);
  return (await import(pathToFileURL(existsSync(built) ? built : path.resolve(dist, 'index.js')).href)) as object;
}
const fanlog = { ...(await entry('index.js')), ...(await entry('journal/index.js')) } as Fanlog;
const root = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'fanlog-cpu-'));
try {
  const lowest: Record<string, number> = { engine_op: Infinity, permission_rt: Infinity, journal_append: Infinity };
  for (let round = 0; round < 3; round++) {
    lowest.engine_op = Math.min(lowest.engine_op!, await engineOp(fanlog, root));
    lowest.permission_rt = Math.min(lowest.permission_rt!, await permissionRoundTrip(fanlog, root));
    lowest.journal_append = Math.min(lowest.journal_append!, await journalAppend(fanlog, root));
  }
  for (const [name, us] of Object.entries(lowest)) process.stdout.write(`${name.padEnd(16)}${us.toFixed(1).padStart(7)} µs of CPU\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
