/**
 * `fanlog demo --real` (root, Linux 6.14+): the HSM scenario on a real
 * filesystem, with the kernel's own permission events.
 *
 *   1. An ext4 image made in a temp dir and loop-mounted there; stub files
 *      (sparse: a size and no bytes) on it, their contents in an archive
 *      directory beside it (the "tape").
 *   2. An HSM handler (`demo-hsm-handler`, below) under `fanlog supervise`:
 *      it asks engine group `hsm` about FAN_PRE_ACCESS, and fills each stub
 *      from the archive through the event's descriptor, with a tape's
 *      latency, then allows it.
 *   3. A reader per stub (`sha256sum`), all at once: each waits in the
 *      kernel until its stub is filled.
 *   4. Midway, the handler is SIGKILLed. The readers stay blocked; the
 *      supervisor restarts it; the restarted handler answers what the dead
 *      one had read, then the rest.
 *   5. Every reader's checksum is compared with its archive's, and the
 *      journal is checked: each request and each decision once.
 * The image is unmounted and its loop device released at the end, even on
 * failure (crash/fs-image.ts). `npm start` stays the simulated demo.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeStub, withExt4 } from '../crash/fs-image.js';
import { journalRecords } from '../crash/fanotify-checks.js';
import { FAN_ALLOW, FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import { FanlogError } from '../errors.js';
import { Engine } from '../fanlog.js';
import { Prng } from '../journal/prng.js';

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
/** A tape's latency per file, so that readers are still waiting when the handler is killed. */
const TAPE_MS = 40;

export interface RealDemoOptions {
  files: number;
  seed: number;
}

/** Root, Linux, and a kernel with pre-content events; EPERM, ENOSYS or EOPNOTSUPP saying which is missing. */
function checkMachine(): void {
  if (process.platform !== 'linux') throw new FanlogError('ENOSYS', `demo --real needs Linux's fanotify; this is ${process.platform}`);
  if (process.getuid?.() !== 0) throw new FanlogError('EPERM', 'demo --real needs root: it loop-mounts an ext4 image and makes fanotify groups');
  const [major, minor] = os.release().split('.').map(Number);
  if (major! < 6 || (major === 6 && minor! < 14))
    throw new FanlogError('EOPNOTSUPP', `demo --real needs Linux 6.14+ (pre-content events); this is ${os.release()}`);
}

export async function runRealDemo(options: RealDemoOptions): Promise<void> {
  checkMachine();
  const started = Date.now();
  await withExt4(async ({ mount, scratch }) => {
    const archive = path.join(scratch, 'archive');
    const engineDir = path.join(scratch, 'engine');
    mkdirSync(archive);
    const sums = makeStubs(mount, archive, options);
    say(`1. ${sums.size} stubs on a loop-mounted ext4 at ${mount}, their bytes in ${archive}`);
    const supervisor = supervise(engineDir, mount, archive);
    try {
      const ready = await supervisor.line(/^ready (\d+)/);
      say(`2. the HSM handler runs under fanlog supervise (handler pid ${ready[1]})`);
      const readers = [...sums.keys()].map((name) => sha256sum(path.join(mount, name)));
      say(`3. ${readers.length} readers wait in the kernel for their stubs`);
      const half = Math.max(1, Math.floor(sums.size / 2));
      await supervisor.line(new RegExp(`^filled ${ready[1]} ${half} `));
      process.kill(Number(ready[1]), 'SIGKILL');
      say(`4. the handler was SIGKILLed after ${half} fills; the readers stay blocked`);
      const again = await supervisor.line(/^ready (\d+)/, 1);
      say(`   the supervisor restarted it (pid ${again[1]}); it answers what the dead one had read first`);
      const results = await Promise.all(readers);
      let wrong = 0;
      for (const [i, name] of [...sums.keys()].entries()) if (results[i] !== sums.get(name)) wrong++;
      say(`5. ${results.length - wrong} of ${results.length} readers read their archive's bytes (sha256 compared)`);
      await supervisor.stop();
      const { requests, decisions, once } = await journalOnce(engineDir);
      say(`   the journal holds ${requests} requests and ${decisions} decisions, ${once ? 'each once' : 'NOT each once'}`);
      say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; the image is unmounted and its loop device released`);
      if (wrong > 0 || !once)
        throw new FanlogError('EIO', `demo --real failed: ${wrong} readers read wrong bytes${once ? '' : ', and the journal repeats a request or decision'}`);
    } finally {
      await supervisor.stop();
    }
  }, 128);
}

/** Stubs of seeded sizes on the mount, and their bytes in the archive; the sha256 of each, by name. */
function makeStubs(mount: string, archive: string, options: RealDemoOptions): Map<string, string> {
  const prng = new Prng(options.seed);
  const sums = new Map<string, string>();
  for (let i = 0; i < options.files; i++) {
    const name = `file-${String(i).padStart(3, '0')}.dat`;
    const bytes = prng.bytes(4096 * (1 + prng.int(256)));
    writeFileSync(path.join(archive, name), bytes);
    makeStub(path.join(mount, name), bytes.length);
    sums.set(name, createHash('sha256').update(bytes).digest('hex'));
  }
  return sums;
}

function sha256sum(file: string): Promise<string> {
  const child = spawn('sha256sum', [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve) => child.once('close', () => resolve(out.split(' ')[0]!)));
}

/** The supervisor, with its handler's lines on stdout; `stop()` SIGTERMs it by pid and waits for it, once. */
function supervise(
  engineDir: string,
  mount: string,
  archive: string,
): { line: (match: RegExp, skip?: number) => Promise<RegExpExecArray>; stop: () => Promise<void> } {
  const cli = fileURLToPath(new URL('main.js', import.meta.url));
  const args = [
    cli,
    'supervise',
    '--path',
    mount,
    '--group',
    'hsm',
    '--dir',
    engineDir,
    '--',
    process.execPath,
    cli,
    'demo-hsm-handler',
    engineDir,
    mount,
    archive,
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const line = async (match: RegExp, skip = 0): Promise<RegExpExecArray> => {
    for (;;) {
      const found = lines.map((text) => match.exec(text)).filter((m) => m !== null);
      if (found.length > skip) return found[skip]!;
      if (child.exitCode !== null) throw new FanlogError('EIO', `the supervisor exited ${child.exitCode} before saying ${match}`);
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), exited]);
    }
  };
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopping === null) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      stopping = exited;
    }
    return stopping;
  };
  return { line, stop };
}

async function journalOnce(dir: string): Promise<{ requests: number; decisions: number; once: boolean }> {
  const requests = new Map<bigint, string>();
  const decided = new Set<bigint>();
  let once = true;
  for (const { seq, record } of await journalRecords(dir)) {
    if (record.kind === 'request' && record.op === 'external') requests.set(seq, record.kernelEvent!);
    if (record.kind !== 'decision') continue;
    if (decided.has(record.requestSeq!)) once = false;
    decided.add(record.requestSeq!);
  }
  if (new Set(requests.values()).size !== requests.size) once = false;
  for (const seq of requests.keys()) if (!decided.has(seq)) once = false;
  return { requests: requests.size, decisions: decided.size, once };
}

/**
 * The demo's HSM handler (hidden command `demo-hsm-handler DIR MOUNT ARCHIVE`),
 * run by the supervisor: fills each stub from the archive through the
 * event's descriptor, then allows; says "ready PID" and "filled PID N NAME".
 */
export async function runHsmHandler(dir: string, mount: string, archive: string): Promise<void> {
  const engine = await Engine.open(dir);
  if (engine.groups.find('hsm') === null) await engine.groups.create('hsm', { class: 'pre-content' });
  const queue = engine.groups.get('hsm').openQueue();
  const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  say(`ready ${process.pid}`);
  const filled = new Set<string>();
  while (!stopping) {
    for (const event of await queue.read({ waitMs: 200 })) {
      const name = path.basename(event.path!);
      if (!filled.has(name)) {
        await new Promise((resolve) => setTimeout(resolve, TAPE_MS));
        const bytes = readFileSync(path.join(archive, name));
        writeSync(event.fd!, bytes, 0, bytes.length, 0);
        filled.add(name);
        say(`filled ${process.pid} ${filled.size} ${name}`);
      }
      await queue.respond(event.id, FAN_ALLOW);
    }
  }
  await source.stop();
  await engine.close();
}
