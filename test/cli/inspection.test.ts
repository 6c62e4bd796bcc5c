/**
 * Inspection beside a running application (issue 13): an application
 * process holds the engine (hold-child.mjs); `stat`, `consumers list` and
 * `tail` work lock-free next to it, from the lmdb store read-only or, for
 * level and files, from the journal alone, saying so; the commands that
 * need the lock are EBUSY naming the holder's pid and what to do, or wait
 * for it with --wait. Also: init, the Prometheus output, register's
 * options, an ack below the cursor, and JournalFollower on an engine dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { FanlogError } from '../../index.js';
import { JournalFollower, NodeIo } from '../../journal/index.js';
import { type NodeChild, rejection, startNodeChild, tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const HOLDER = fileURLToPath(new URL('./hold-child.mjs', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const holders: NodeChild[] = [];
afterEach(async () => {
  for (const holder of holders.splice(0)) {
    holder.child.kill('SIGTERM');
    await holder.exited;
  }
});

async function held(
  store: 'lmdb' | 'level' | 'files',
  mode: 'full' | 'journal-only' = 'full',
  serve: 'serve' | 'no-serve' = 'serve',
): Promise<{ dir: string; pid: number; durable: bigint; holder: NodeChild }> {
  const dir = path.join(tempDir(), 'engine');
  let pid = 0;
  let durable = 0n;
  const holder = await startNodeChild(HOLDER, [dir, store, mode, serve], (words) => {
    if (words[0] !== 'ready') return;
    pid = Number(words[1]);
    durable = BigInt(words[2]!);
  });
  holders.push(holder);
  return { dir, pid, durable, holder };
}

it('stat, consumers list and tail work beside an application holding an lmdb engine', async () => {
  const { dir, pid } = await held('lmdb');
  const text = fanlog('stat', '--dir', dir);
  expect(text.status, text.stderr).toBe(0);
  expect(text.stdout).toMatch(/consumer {5}backup: cursor 2, lag \d+ records/);
  expect(text.stdout).toContain('group        idx (notif): 1 marks');
  expect(text.stdout).toContain(`last holder: process ${pid}`);
  const json = JSON.parse(fanlog('stat', '--dir', dir, '--json').stdout) as {
    lockFree: boolean;
    metrics: { seqs: { checkpoint: string | null; durable: string | null } };
  };
  expect(json.lockFree).toBe(true);
  expect(json.metrics.seqs.durable).not.toBeNull();
  const list = JSON.parse(fanlog('consumers', 'list', '--dir', dir, '--json').stdout) as { consumers: { name: string; cursor: string }[] };
  // The holder acknowledged its first record: seq 2 (seq 1 is the mkdir's op record, which consumers never see).
  expect(list.consumers.map((c) => [c.name, c.cursor])).toEqual([['backup', '2']]);
  const lines = fanlog('tail', '--dir', dir).stdout.trim().split('\n');
  expect(lines.filter((line) => / CREATE /.test(line) && line.includes('/data/f')).length).toBe(20);
  const prometheus = fanlog('stat', '--dir', dir, '--prometheus').stdout;
  expect(prometheus).toContain(`# TYPE fanlog_head_seq gauge`);
  expect(prometheus).toMatch(new RegExp(`^fanlog_consumer_lag_records\\{dir="${dir.replaceAll('/', '\\/')}",consumer="backup"\\} \\d+$`, 'm'));
  // What only the holder knows is left out, not written as 0.
  expect(prometheus).not.toContain('fanlog_fdatasync_seconds');
});

it('stat beside a holder whose store was not written since its records became durable shows their seq or unknown, never 0', async () => {
  // The holder made seq 102 durable; its store was last written when the engine was created.
  const { dir, durable } = await held('lmdb', 'journal-only');
  expect(durable).toBe(102n);
  const text = fanlog('stat', '--dir', dir);
  expect(text.status, text.stderr).toBe(0);
  const records = text.stdout.split('\n').find((line) => line.startsWith('records'))!;
  expect(records).toMatch(/head 102 \(written\), durable (102|unknown)/);
  expect(text.stdout).toMatch(/^checkpoint\s+none yet/m);
  const json = JSON.parse(fanlog('stat', '--dir', dir, '--json').stdout) as { metrics: { seqs: { durable: string | null } } };
  expect([null, '102']).toContain(json.metrics.seqs.durable);
  // An unknown durable seq is left out of the Prometheus text, never written as 0 (an alert on head - durable would fire).
  const prometheus = fanlog('stat', '--dir', dir, '--prometheus').stdout;
  expect(prometheus).toMatch(/^fanlog_head_seq\{[^}]*\} 102$/m);
  expect(prometheus).not.toMatch(/^fanlog_durable_seq\{[^}]*\} (?!102$)/m);
});

it.each(['level', 'files'] as const)('stat beside an application holding a %s engine shows what the journal tells, and says so', async (store) => {
  const { dir } = await held(store);
  const text = fanlog('stat', '--dir', dir);
  expect(text.status, text.stderr).toBe(0);
  expect(text.stdout).toMatch(/records\s+oldest retained 1, head \d+ \(written\), durable unknown/);
  expect(text.stdout).toContain(`note         a ${store} store is read only by the process that holds the engine`);
  const list = fanlog('consumers', 'list', '--dir', dir);
  expect(list.status).toBe(0);
  expect(list.stdout).toContain(`note: a ${store} store is read only`);
});

it('refuses what needs the lock with EBUSY naming the holder and what to do, and waits for it with --wait', async () => {
  // A holder that serves no socket: the consumer commands cannot go through it.
  const { dir, pid, holder } = await held('lmdb', 'full', 'no-serve');
  const busy = fanlog('consumers', 'register', 'audit', '--dir', dir);
  expect(busy.status).toBe(1);
  expect(busy.stderr).toMatch(/^fanlog: EBUSY: /);
  // The code is said once, not once per error that wrapped it.
  expect(busy.stderr).not.toMatch(/EBUSY: .*EBUSY:/);
  expect(busy.stderr).toContain(`process ${pid}`);
  expect(busy.stderr).toMatch(/stat, consumers list, tail without --consumer.*--wait\[=MS\]/);
  const repair = fanlog('repair', '--rebuild-store', '--dir', dir, '--wait=100');
  expect(repair.stderr).toMatch(/^fanlog: waiting for the engine: .*\nfanlog: EBUSY: .*repair needs it closed.*still held after waiting 100 ms/s);
  const bounded = fanlog('consumers', 'register', 'audit', '--dir', dir, '--wait=200');
  expect(bounded.stderr).toMatch(/still held after waiting 200 ms.*or wait without a bound: --wait\n/);
  // A bounded wait that ran out does not suggest adding the --wait it was given.
  expect(bounded.stderr).not.toMatch(/add --wait/);
  // An unbounded wait: the registration goes through once the application closes the engine.
  const waiting = spawn(process.execPath, [CLI, 'consumers', 'register', 'audit', '--dir', dir, '--wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  waiting.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const done = new Promise<number | null>((resolve) => waiting.once('close', resolve));
  // It says it waits, once, when it first finds the engine held; then the application closes it.
  await new Promise<void>((resolve) => waiting.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('fanlog: waiting for the engine') && resolve()));
  holder.child.kill('SIGTERM');
  await holder.exited;
  holders.length = 0;
  expect(await done).toBe(0);
  expect(stdout).toMatch(/^registered audit at cursor \d+/);
});

it('init makes an engine once; register takes its options; an ack below the cursor says the cursor stays', () => {
  const dir = path.join(tempDir(), 'fresh');
  expect(fanlog('init', '--dir', dir, '--store', 'files').stdout).toMatch(/^created an engine in .*: journal \d+, files store/);
  expect(fanlog('init', '--dir', dir).stdout).toMatch(/already holds an engine \(journal \d+, files store\): nothing done/);
  const registered = fanlog(
    'consumers',
    'register',
    'b',
    '--dir',
    dir,
    '--mask',
    'CREATE,MODIFY',
    '--lag-records-max',
    '1000',
    '--idle-ms-max',
    '60000',
    '--filter',
    'path-prefix=/projects',
  );
  expect(registered.stdout.trim()).toBe('registered b at cursor 0, filter path-prefix /projects');
  const unknown = fanlog('consumers', 'register', 'c', '--dir', dir, '--mask', 'CREATE,UNLINK');
  expect(unknown.status).toBe(2);
  // It names the valid events, so the user can see UNLINK is DELETE here.
  expect(unknown.stderr).toMatch(/unknown event 'UNLINK': the names are ACCESS, MODIFY, .*DELETE.* \(or a number\)/);
  expect(fanlog('consumers', 'ack', 'b', '0', '--dir', dir).stdout).toMatch(/b's cursor stays at 0: 0 is not beyond it/);
});

it('JournalFollower follows an engine directory as its journal, and is ENOENT where there is no journal', async () => {
  const { dir } = await held('lmdb');
  const fromEngineDir = await new JournalFollower(new NodeIo(), dir).poll();
  const fromJournalDir = await new JournalFollower(new NodeIo(), path.join(dir, 'journal')).poll();
  expect(fromEngineDir.map((record) => record.seq)).toEqual(fromJournalDir.map((record) => record.seq));
  expect(fromEngineDir.length).toBeGreaterThan(20);
  const empty = path.join(tempDir(), 'nothing');
  mkdirSync(empty);
  const error = await rejection(() => new JournalFollower(new NodeIo(), empty).poll());
  expect(error).toBeInstanceOf(FanlogError);
  expect(error.code).toBe('ENOENT');
  expect((await rejection(() => new JournalFollower(new NodeIo(), path.join(empty, 'missing')).poll())).code).toBe('ENOENT');
});
