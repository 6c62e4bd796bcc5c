/**
 * An HSM daemon on fanlog: a restartable pre-content group on /archive that
 * fills exactly the ranges processes are about to read, then answers; a
 * restart of the daemon, whose read but unanswered events come back first;
 * and a crash of the whole engine (a child process SIGKILLed) while
 * processes wait, after which the requests are asked again from the
 * journal and their operations complete.
 *
 *   node dist/examples/hsm-daemon.js [DIR]     (default: a new temporary directory)
 *
 * The filesystem is fanlog's simulated one; "the tape" is a function.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Engine, ERRNO, type EventQueue, FAN_ALLOW, FAN_DENY_ERRNO, FAN_PRE_ACCESS, type QueuedEvent } from 'fanlog';

/** Runs this program as the engine that crashes (part 3). */
const CHILD_FLAG = '--crashing-child';
if (process.argv[2] === CHILD_FLAG) {
  await crashingChild(process.argv[3]!);
  await new Promise(() => undefined); // killed here
}
const dir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-hsm-'));
/** Made here (no directory given): removed at the end, so that nothing is left in the temp dir. */
const madeHere = process.argv[2] === undefined;
const STUBS = 8;
const MIB = 1 << 20;

/** Stands for the tape library: every range is found, except those of a file named 'lost'. */
async function fetchFromTape(file: string, range: { offset: number; count: number }): Promise<boolean> {
  return !file.endsWith('/lost') && range.count >= 0;
}

/** Answers one permission event: brings its range back from tape, then allows; or denies with EIO. */
async function serve(engine: Engine, queue: EventQueue, event: QueuedEvent): Promise<void> {
  const range = event.range ?? { offset: 0, count: 0 };
  const filled = await fetchFromTape(event.path!, range);
  if (filled && range.count > 0) await engine.fs.hsmFill(event.path!, range.offset, range.count);
  await queue.respond(event.id, filled ? FAN_ALLOW : FAN_DENY_ERRNO(ERRNO.EIO));
}

/** The daemon's loop: answers every event until `stop` says so. */
async function runDaemon(engine: Engine, queue: EventQueue, stop: () => boolean): Promise<number> {
  let answered = 0;
  while (!stop()) {
    for (const event of await queue.read({ waitMs: 20 })) {
      await serve(engine, queue, event);
      answered++;
    }
  }
  return answered;
}

/** A process reading the first MiB of a stub; resolves with what happened. */
async function reader(engine: Engine, file: string, pid: number): Promise<string> {
  try {
    const fd = await engine.fs.open(file, 'r', {}, { pid, uid: 1000, gid: 1000 });
    await engine.fs.read(fd, 0, MIB, { pid });
    await engine.fs.close(fd, { pid });
    return 'read';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

let engine = await Engine.open(dir);
if ((await engine.fs.readdir('/')).length === 0) {
  await engine.fs.mkdir('/archive');
  for (let i = 0; i < STUBS; i++) await engine.fs.create(`/archive/tape-${i}.dat`, { size: 16 * MIB, offline: true });
  await engine.fs.create('/archive/lost', { size: MIB, offline: true });
}
const hsm = await engine.groups.open('hsm', { class: 'pre-content', restartable: true });
await hsm.mark({ path: '/archive', scope: 'mount', mask: FAN_PRE_ACCESS });
console.log(`hsm: ${STUBS + 1} stubs in /archive, ${(await offlineMiB(engine)).toFixed(0)} MiB offline`);

// 1. Processes read; the daemon fills and answers.
let queue = hsm.openQueue();
let done = false;
const daemon = runDaemon(engine, queue, () => done);
const outcomes = await Promise.all(
  [...Array.from({ length: STUBS }, (_, i) => `/archive/tape-${i}.dat`), '/archive/lost'].map((file, i) => reader(engine, file, 100 + i)),
);
done = true;
const answered = await daemon;
console.log(
  `served: ${outcomes.filter((o) => o === 'read').length} reads, ${answered} permission events answered, /archive/lost denied with ${outcomes.at(-1)}`,
);

// 2. The daemon restarts with events read and not answered: they come back first.
const pending = [0, 1, 2].map((i) => reader(engine, `/archive/tape-${i}.dat`, 200 + i));
let unanswered: QueuedEvent[] = [];
while (unanswered.length < 3) unanswered = [...unanswered, ...(await queue.read({ waitMs: 1000 }))];
await queue.close();
queue = hsm.openQueue();
const again = await queue.read({ max: 3 });
console.log(
  `restart: ${unanswered.length} events read and unanswered came back at the head of the queue: ${again.every((event, i) => event.seq === unanswered[i]!.seq)}`,
);
for (const event of again) await serve(engine, queue, event);
// Their reads ask again (for the range they read): the restarted daemon answers those too.
let finished = false;
const restarted = runDaemon(engine, queue, () => finished);
const results = await Promise.all(pending);
finished = true;
await restarted;
console.log(`restart: the waiting processes finished: ${results.join(', ')}`);

// 3. The engine crashes while three processes wait for the HSM: it runs in a
// child process (this program, with CHILD_FLAG), SIGKILLed once they wait.
await engine.fs.hsmRelease('/archive/tape-3.dat');
await queue.close();
await engine.close();
const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => child.once('exit', resolve));
await new Promise<void>((resolve) => createInterface({ input: child.stdout }).on('line', (line) => line === 'waiting' && resolve()));
child.kill('SIGKILL');
await exited;
console.log('crash: the engine was SIGKILLed while 3 processes waited for the HSM; their requests are in the journal');
engine = await Engine.open(dir);
queue = engine.groups.get('hsm').openQueue();
const resurrected = await queue.read({ max: 10 });
for (const event of resurrected) await serve(engine, queue, event);
const settled = await Promise.all(resurrected.map((event) => engine.settled(event.seq!)));
console.log(`resume: ${engine.recovery.resurrectedRequests} requests asked again, outcomes: ${settled.map((s) => s.outcome).join(', ')}`);
console.log(`offline now: ${(await offlineMiB(engine)).toFixed(0)} MiB`);
await engine.close();

/** The engine that crashes: three processes read a stub, and wait for an HSM that is not there. */
async function crashingChild(at: string): Promise<void> {
  const crashing = await Engine.open(at);
  for (let n = 0; n < 3; n++) void reader(crashing, '/archive/tape-3.dat', 300 + n);
  const group = crashing.groups.get('hsm');
  while (group.info().pendingPermissions < 3) await new Promise((resolve) => setImmediate(resolve));
  console.log('waiting'); // the operations' waits keep this process alive until it is killed
}

async function offlineMiB(e: Engine): Promise<number> {
  let bytes = 0;
  for (const name of await e.fs.readdir('/archive')) bytes += await e.fs.offlineBytes(`/archive/${name}`);
  return bytes / MIB;
}
if (madeHere) rmSync(dir, { recursive: true, force: true });
