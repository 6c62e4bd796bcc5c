/**
 * `fanlog fanotify PATH --dir D`, the real binary in a child process. As
 * root, on an ext4 image loop-mounted in a temp dir (crash/fs-image.ts):
 * it says it is watching, a child makes changes, a SIGTERM (or SIGINT) by
 * pid stops it, and it exits 0 with every change in the journal, with the
 * changing child's pid and the paths. It refuses a directory that holds no
 * engine (ENOENT, left as it was), an engine on the watched filesystem
 * (EINVAL), and an unknown or missing `--mask` or `--mark` (usage errors,
 * exit 2). The refusals that come before the kernel is asked run without
 * root too; the rest skip, and say so.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { withExt4 } from '../../crash/fs-image.js';
import { decodeRecord } from '../../interop/index.js';
import { Engine, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_MODIFY, FAN_ONDIR } from '../../index.js';
import type { RecordView } from '../../engine/record/record.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/cli/fanotify.test.ts: the runs that watch skipped, they need root on Linux (they loop-mount an ext4 image)');
const asRoot = it.skipIf(!isRoot);

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function emptyEngine(dir: string): Promise<string> {
  await (await Engine.open(dir)).close();
  return dir;
}

async function records(dir: string): Promise<RecordView[]> {
  const engine = await Engine.open(dir);
  try {
    const out: RecordView[] = [];
    for await (const { payload } of engine.journal.read()) out.push(decodeRecord(payload));
    return out;
  } finally {
    await engine.close();
  }
}

/**
 * Runs `fanlog fanotify` with `args`; once it says it is watching, runs
 * `work`, then sends `signal` to it by pid; resolves with its exit code and
 * output. It is killed in the finally if it is still running.
 */
async function watchDuring(args: string[], work: () => void, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'fanotify', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // 'close', not 'exit': every line of its output has been read by then.
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    const watching = await new Promise<boolean>((resolve) => {
      // The line is on stdout, or on stderr under --json.
      const lines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void): void => {
        createInterface({ input: stream }).on('line', (line) => {
          onLine(`${line}\n`);
          if (line.startsWith('watching ')) resolve(true);
        });
      };
      lines(child.stdout, (line) => (stdout += line));
      lines(child.stderr, (line) => (stderr += line));
      void exited.then(() => resolve(false));
    });
    if (!watching) throw new Error(`fanlog fanotify exited before it watched: ${stderr}`);
    work();
    process.kill(child.pid!, signal);
    return { code: await exited, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

const CHANGES = `
const fs = require('node:fs'); const dir = process.argv[1];
fs.mkdirSync(dir + '/d');
fs.writeFileSync(dir + '/d/a', 'hello');
fs.unlinkSync(dir + '/d/a');
process.stdout.write(String(process.pid));
`;

asRoot('journals a real filesystem until SIGTERM, then exits 0 with every change in the journal', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = await emptyEngine(path.join(scratch, 'engine'));
    let pid = 0;
    const run = await watchDuring(
      [mount, '--dir', dir],
      () => (pid = Number(execFileSync(process.execPath, ['-e', CHANGES, mount], { encoding: 'utf8' }))),
      'SIGTERM',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^journaled \d+ of \d+ events \(0 overflows, 0 refused\)$/m);
    const mine = (await records(dir)).filter((record) => record.pid === pid);
    const has = (bits: bigint, name: string): RecordView | undefined => mine.find((record) => (record.mask! & bits) === bits && record.name === name);
    expect(has(FAN_CREATE | FAN_ONDIR, 'd')?.path).toBe(`${mount}/d`);
    expect(has(FAN_CREATE, 'a')?.path).toBe(`${mount}/d/a`);
    expect(has(FAN_DELETE, 'a')?.path).toBe(`${mount}/d/a`);
    expect(mine.every((record) => record.source === 'fanotify')).toBe(true);
  });
});

asRoot('stops cleanly at a SIGTERM sent as soon as it says it is watching, leaving its watch stopped', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = await emptyEngine(path.join(scratch, 'engine'));
    // Before the fix, 14 in 20 died by the signal: its handler was installed after the line was written.
    for (let i = 0; i < 5; i++) {
      const run = await watchDuring([mount, '--dir', dir], () => undefined, 'SIGTERM');
      expect(run.code, `run ${i}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(readFileSync(path.join(dir, 'WATCH'), 'utf8'))).toMatchObject({ state: 'stopped' });
    }
  });
});

asRoot('stops at SIGINT too, with a mask, and prints its stats as JSON', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = await emptyEngine(path.join(scratch, 'engine'));
    const run = await watchDuring(
      [mount, '--dir', dir, '--mask', 'CREATE,ONDIR', '--json'],
      () => execFileSync(process.execPath, ['-e', CHANGES, mount]),
      'SIGINT',
    );
    expect(run.code, run.stderr).toBe(0);
    // Stdout is the one object; the watching line went to stderr.
    const stats = JSON.parse(run.stdout) as { events: number; journaled: number; overflows: number };
    // The mask asks for creates only: the directory's and the file's.
    expect(stats).toMatchObject({ events: 2, journaled: 2, overflows: 0 });
    const created = (await records(dir)).filter((record) => record.kind === 'event');
    expect(created.map((record) => [record.name, record.mask])).toEqual([
      ['d', FAN_CREATE | FAN_ONDIR],
      ['a', FAN_CREATE],
    ]);
  });
});

asRoot("journals a mount's writes with a mount mark, and refuses to ask one for creates", async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = await emptyEngine(path.join(scratch, 'engine'));
    const run = await watchDuring([mount, '--dir', dir, '--mark', 'mount'], () => execFileSync(process.execPath, ['-e', CHANGES, mount]), 'SIGTERM');
    expect(run.code, run.stderr).toBe(0);
    const written = (await records(dir)).filter((record) => record.kind === 'event');
    // The kernel merges the write's MODIFY and CLOSE_WRITE only while the first is still queued unread.
    expect(new Set(written.map((record) => record.path))).toEqual(new Set([`${mount}/d/a`]));
    expect(written.reduce((mask, record) => mask | record.mask!, 0n)).toBe(FAN_MODIFY | FAN_CLOSE_WRITE);
    expect(written.length).toBeLessThanOrEqual(2);
    const refused = fanlog('fanotify', mount, '--dir', dir, '--mark', 'mount', '--mask', 'CREATE,MODIFY');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^fanlog: EINVAL: a mount mark cannot report CREATE /);
  });
});

it('refuses a directory that holds no engine, and leaves it as it was', () => {
  const dir = tempDir();
  const run = fanlog('fanotify', '/', '--dir', dir);
  expect(run.status).toBe(1);
  expect(run.stderr).toBe(`fanlog: ENOENT: no fanlog engine in ${dir} (fanlog init makes one)\n`);
  expect(readdirSync(dir)).toEqual([]);
});

it('refuses an engine on the filesystem it would watch with EINVAL', async () => {
  const dir = await emptyEngine(path.join(tempDir(), 'engine'));
  const run = fanlog('fanotify', path.dirname(dir), '--dir', dir);
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/^fanlog: EINVAL: the engine .* is on the filesystem of .*: its own writes would be events to journal, without end\n$/);
});

it.each([
  [['--mask', 'BOGUS'], /unknown event 'BOGUS': the kernel's notification events are ACCESS, MODIFY, .*ONDIR \(or a number\)/],
  [['--mask', 'CREATE,,DELETE'], /unknown event ''/],
  [['--mask', 'PRE_MODIFY'], /'PRE_MODIFY' is fanlog's own event/],
  [['--mask', 'OPEN_PERM'], /'OPEN_PERM' is a permission event/],
  [['--mask', '0x100000000'], /the kernel's 32 event bits/],
  [['--mask'], /argument missing/],
  [['--mark', 'tree'], /expected 'filesystem' or 'mount'/],
])('refuses %j with a usage error', async (args, message) => {
  const dir = await emptyEngine(path.join(tempDir(), 'engine'));
  const run = fanlog('fanotify', '/', '--dir', dir, ...args);
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(message);
});
