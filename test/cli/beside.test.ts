/**
 * The commands that work on consumers, run while another process holds
 * the engine: through its socket they register, acknowledge, deregister
 * and tail; where it serves none they are EBUSY, as before. And `fanlog
 * trigger`, through the socket: CMD gets each batch as JSON lines, a
 * failing CMD acknowledges nothing and is given the same batch again, and
 * SIGTERM stops it. This test process is the holder (its commands run as
 * real `fanlog` processes, asynchronously, so that it can serve them).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { type NodeChild, startNodeChild, tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const HOLD_CHILD = fileURLToPath(new URL('hold-child.mjs', import.meta.url));

const engines: Engine[] = [];
const children: NodeChild[] = [];
const running: ChildProcess[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const { child, exited } of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

interface Run {
  child: ChildProcess;
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/** Starts `fanlog ...args` without blocking this process (which may be the holder it talks to). */
function start(...args: string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (status) => resolve({ status, stdout, stderr })),
  );
  return { child, done };
}

const fanlog = (...args: string[]): Run['done'] => start(...args).done;

async function holder(): Promise<Engine> {
  const engine = await Engine.open(tempDir());
  engines.push(engine);
  for (let i = 0; i < 5; i++) await engine.fs.mkdir(`/d${i}`);
  return engine;
}

/** Waits until `condition` holds, turning the event loop between looks (fails after 60 s of looking). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('consumer commands beside the holder', () => {
  it('register, tail --consumer --ack, ack --head and deregister go through its socket', async () => {
    const engine = await holder();
    const { dir } = engine;
    const registered = await fanlog('consumers', 'register', 'audit', '--mask', 'CREATE', '--filter', 'mask=0x100', '--dir', dir);
    expect(registered.status, registered.stderr).toBe(0);
    expect(registered.stdout).toContain('registered audit at cursor 0, filter mask 0x100');
    expect(engine.consumers.get('audit').info().filter).toEqual({ name: 'mask', argument: '0x100' });
    const tailed = await fanlog('tail', '--consumer', 'audit', '--ack', '--to', '4', '--json', '--dir', dir);
    expect(tailed.status, tailed.stderr).toBe(0);
    const seqs = tailed.stdout
      .trim()
      .split('\n')
      .map((line) => BigInt((JSON.parse(line) as { seq: string }).seq));
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs.every((seq) => seq <= 4n)).toBe(true);
    expect(engine.consumers.get('audit').cursor).toBe(seqs.at(-1));
    const acked = await fanlog('consumers', 'ack', 'audit', '--head', '--dir', dir);
    expect(acked.stdout).toContain(`audit acknowledged through ${engine.journal.durableSeq} (the durable head)`);
    expect(engine.consumers.get('audit').cursor).toBe(engine.journal.durableSeq);
    const gone = await fanlog('consumers', 'deregister', 'audit', '--dir', dir);
    expect(gone.status, gone.stderr).toBe(0);
    expect(engine.consumers.list()).toEqual([]);
    // The errors are the calls' own.
    const missing = await fanlog('consumers', 'ack', 'nobody', '5', '--dir', dir);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^fanlog: ENOENT: no consumer named 'nobody'/);
  });

  it('are EBUSY, as before, beside a holder that serves no socket', async () => {
    const dir = tempDir();
    children.push(await startNodeChild(HOLD_CHILD, [dir, 'lmdb', 'full', 'no-serve']));
    const refused = await fanlog('consumers', 'register', 'x', '--dir', dir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^fanlog: EBUSY: .*is open elsewhere/);
  });
});

describe('fanlog mark and fanlog changes beside the holder', () => {
  for (const store of ['lmdb', 'files'] as const) {
    it(`mark goes through its socket, and changes reads ${store === 'lmdb' ? 'without its lock' : 'through its socket'} (${store})`, async () => {
      const engine = await Engine.open(tempDir(), { store });
      engines.push(engine);
      await engine.fs.mkdir('/keep');
      await engine.fs.create('/keep/a', { size: 1 });
      const marked = await fanlog('mark', 'backup-1 begins', '--dir', engine.dir);
      expect(marked.status, marked.stderr).toBe(0);
      const since = BigInt(/^mark (\d+): backup-1 begins$/.exec(marked.stdout.trim())![1]!);
      expect(since).toBe(engine.journal.durableSeq);
      await engine.fs.create('/keep/b', { size: 2 });
      await engine.fs.rename('/keep/a', '/keep/a2');
      await engine.fs.unlink('/keep/b');
      await engine.fs.create('/c', { size: 3 });
      const text = await fanlog('changes', '--since', String(since), '--dir', engine.dir);
      expect(text.status, text.stderr).toBe(0);
      const lines = text.stdout.trim().split('\n');
      // /keep/b was made and gone again: not there at the mark, not there now; the directories names were made in are reported.
      expect(lines.map((line) => line.split('\t').slice(2).join(' '))).toEqual(['dir 0 /keep', 'file 1 /keep/a2', 'file 3 /c', 'dir 0 /', '']);
      expect(lines.at(-1)).toBe(`through ${engine.journal.durableSeq}`);
      const json = await fanlog('changes', '--since', String(since), '--prefix', '/keep', '--json', '--dir', engine.dir);
      const answer = JSON.parse(json.stdout) as { seq: string; changes: { paths: string[] }[] };
      expect(answer.changes.map((change) => change.paths)).toEqual([['/keep'], ['/keep/a2']]);
      expect(answer.seq).toBe(String(engine.journal.durableSeq));
    });
  }
});

describe('fanlog trigger', () => {
  /** A CMD that appends its stdin to `out` (one attempt per line of `attempts`) and exits with the code in `control`. */
  function command(at: string): { out: string; attempts: string; control: string; argv: string[] } {
    const out = path.join(at, 'out.jsonl');
    const attempts = path.join(at, 'attempts');
    const control = path.join(at, 'control');
    const script = `
      const fs = require('fs');
      let input = '';
      process.stdin.on('data', (chunk) => (input += chunk));
      process.stdin.on('end', () => {
        fs.appendFileSync(${JSON.stringify(attempts)}, process.env.FANLOG_FIRST_SEQ + '..' + process.env.FANLOG_LAST_SEQ + ' ' + process.env.FANLOG_RECORDS + '\\n');
        const said = fs.readFileSync(${JSON.stringify(control)}, 'utf8');
        if (said === 'hang') return setInterval(() => undefined, 1000);
        const code = Number(said);
        if (code === 0) fs.appendFileSync(${JSON.stringify(out)}, input);
        process.exit(code);
      });`;
    return { out, attempts, control, argv: [process.execPath, '-e', script] };
  }

  const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);

  it('acknowledges a batch only once CMD exits 0, runs it again until then, and stops on SIGTERM', async () => {
    const engine = await holder();
    const at = tempDir();
    const cmd = command(at);
    writeFileSync(cmd.control, '3');
    const trigger = start('trigger', 'sync', '--dir', engine.dir, '--mask', 'CREATE', '--retry-ms-max', '50', '--', ...cmd.argv);
    // It fails, and is run again on the same batch: nothing is acknowledged.
    await until(() => lines(cmd.attempts).length >= 3);
    const tried = lines(cmd.attempts);
    expect(new Set(tried).size).toBe(1);
    expect(engine.consumers.get('sync').cursor).toBe(0n);
    expect(lines(cmd.out)).toEqual([]);
    // Once it succeeds the batch is acknowledged, and later records come in batches of their own.
    writeFileSync(cmd.control, '0');
    await until(() => engine.consumers.get('sync').cursor === engine.journal.durableSeq);
    await engine.fs.mkdir('/late');
    await until(() => engine.consumers.get('sync').cursor === engine.journal.durableSeq);
    const records = lines(cmd.out).map((line) => JSON.parse(line) as { seq: string; path: string });
    expect(records.map((record) => record.path)).toEqual(['/d0', '/d1', '/d2', '/d3', '/d4', '/late']);
    trigger.child.kill('SIGTERM');
    const ended = await trigger.done;
    expect(ended.status, ended.stderr).toBe(0);
    expect(ended.stderr).toContain('registered the durable consumer sync');
    expect(ended.stderr).toMatch(/exited 3 on records \d+\.\.\d+; nothing acknowledged/);
  });

  it('waits for an application to serve the engine, never taking its lock, and on SIGTERM stops a CMD that hangs', async () => {
    const dir = tempDir();
    await (await Engine.open(dir)).close();
    const at = tempDir();
    const cmd = command(at);
    writeFileSync(cmd.control, 'hang');
    const trigger = start('trigger', 'w', '--dir', dir, '--retry-ms-max', '50', '--', ...cmd.argv);
    let stderr = '';
    trigger.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await until(() => stderr.includes('waiting for an application to serve the engine'));
    // It took no lock: the application opens the engine, and the trigger goes on through it.
    const engine = await Engine.open(dir);
    engines.push(engine);
    await engine.fs.mkdir('/x');
    await until(() => lines(cmd.attempts).length >= 1);
    trigger.child.kill('SIGTERM');
    const ended = await trigger.done;
    expect(ended.status, ended.stderr).toBe(0);
    // The trigger waits for its CMD to end: its exit says the hanging CMD was stopped; its batch is not acknowledged.
    expect(engine.consumers.get('w').cursor).toBe(0n);
  });

  it('delivers again, after a restart, the batch a killed CMD did not finish', async () => {
    const engine = await holder();
    const at = tempDir();
    const cmd = command(at);
    writeFileSync(cmd.control, '1');
    const first = start('trigger', 't', '--dir', engine.dir, '--retry-ms-max', '50', '--', ...cmd.argv);
    await until(() => lines(cmd.attempts).length >= 1);
    first.child.kill('SIGKILL');
    await first.done;
    writeFileSync(cmd.control, '0');
    // The holder lets the dead trigger's consumer go; the next trigger is given the batch again.
    const second = start('trigger', 't', '--dir', engine.dir, '--retry-ms-max', '50', '--', ...cmd.argv);
    await until(() => engine.consumers.get('t').cursor === engine.journal.durableSeq);
    expect(lines(cmd.attempts)[0]!.split(' ')[0]).toBe(lines(cmd.attempts).at(-1)!.split(' ')[0]);
    second.child.kill('SIGTERM');
    expect((await second.done).status).toBe(0);
  });
});
