/**
 * The examples (examples/*.ts, type-checked under `strict` with the rest,
 * built into dist/examples) run as a user would run them, each in its own
 * process on a fresh directory, and say what they did; and every TypeScript
 * block of the README and of the guides under docs/ (all but docs/api,
 * which TypeDoc writes) is an excerpt of one of them, so the code the
 * documentation shows is code that runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { makeStub, withExt4 } from '../crash/fs-image.js';
import { tempDir } from './helpers.js';
import { startRedis } from './redis-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(example: string, ...args: string[]): string[] {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'examples', `${example}.js`), ...args], { encoding: 'utf8', timeout: 120_000 });
  expect(result.stderr, example).toBe('');
  expect(result.status, example).toBe(0);
  return result.stdout.trim().split('\n');
}

it('hsm-daemon fills and answers, restarts with its unanswered events first, and resumes after a SIGKILL', () => {
  const lines = run('hsm-daemon', path.join(tempDir(), 'hsm'));
  expect(lines).toEqual([
    'hsm: 9 stubs in /archive, 129 MiB offline',
    expect.stringMatching(/^served: 8 reads, \d+ permission events answered, \/archive\/lost denied with EIO$/),
    'restart: 3 events read and unanswered came back at the head of the queue: true',
    'restart: the waiting processes finished: read, read, read',
    'crash: the engine was SIGKILLed while 3 processes waited for the HSM; their requests are in the journal',
    'resume: 3 requests asked again, outcomes: completed, completed, completed',
    expect.stringMatching(/^offline now: \d+ MiB$/),
  ]);
});

it('backup copies and acknowledges, is evicted when it falls behind, rescans, registers again and catches up', () => {
  const dir = path.join(tempDir(), 'backup');
  const lines = run('backup', dir);
  expect(lines[0]).toMatch(/^caught up: \d+ records copied, cursor \d+$/);
  const evicted = /^evicted: records (\d+)\.\.(\d+) were never delivered; rescanned 220 files; registered again at cursor (\d+)$/.exec(lines[1]!);
  // What was never delivered runs through the record before the new registration's first.
  expect(evicted?.[2], lines[1]).toBe(evicted?.[3]);
  const last = /^caught up: \d+ records copied in all, 1 eviction, cursor (\d+) of head (\d+)$/.exec(lines[2]!);
  expect(last?.[1]).toBe(last?.[2]);
  // Its durable record of what it copied holds the rescan and every change after it.
  const manifest = readFileSync(path.join(dir, 'backup-manifest.txt'), 'utf8');
  expect(manifest.match(/^rescan /gm)?.length).toBe(220);
  expect(manifest).toMatch(/ CREATE \/projects\/r3\/f9$/m);
});

it('beside: a second process reads through the holder, and what a killed one held is given to the next', () => {
  expect(run('beside', path.join(tempDir(), 'beside'))).toEqual([
    'indexer 1 read and acknowledged: 2 /docs, 4 /docs/a.txt, 6 /docs/b.txt',
    'indexer 2 read: 8 /docs/c.txt, 10 /docs/d.txt, 12 /docs/e.txt; then it was killed',
    'the holder says: consumer index at cursor 6',
    'indexer 3 read and acknowledged: 8 /docs/c.txt, 10 /docs/d.txt, 12 /docs/e.txt',
  ]);
});

it("incremental-backup restores the full backup and its incrementals into a tree equal to the engine's", () => {
  expect(run('incremental-backup', path.join(tempDir(), 'backup'))).toEqual([
    'full backup 1: 8 objects',
    'incremental 2: 5 objects changed, 0 gone; the catalog holds 8',
    'incremental 3: 9 objects changed, 1 gone; the catalog holds 10',
    "restore: the full backup and 2 incrementals give 10 paths, equal to the engine's tree: true",
  ]);
});

it('audit-tail prints who did what and what was refused', () => {
  const lines = run('audit-tail', path.join(tempDir(), 'audit'));
  expect(lines[0]).toBe('indexer: 2 events queued: CREATE|ONDIR /projects, CREATE /projects/big.dat');
  expect(lines[1]).toBe("bob's open of setup.exe: EPERM");
  const audit = lines.slice(2).map((line) => line.replace(/^audit: \d+ /, ''));
  expect(audit).toEqual([
    'uid=1001 gid=100 pid=2001 CREATE /projects/report.txt',
    'uid=1001 gid=100 pid=2001 ATTRIB /projects/report.txt',
    'uid=1002 gid=100 pid=2002 CREATE /projects/setup.exe',
    'uid=1002 gid=100 pid=2002 ASK OPEN_PERM /projects/setup.exe',
    'uid=1002 gid=100 pid=2002 DECISION DENY OPEN_PERM /projects/setup.exe',
    'uid=1001 gid=100 pid=2001 DELETE /projects/setup.exe',
    'uid=1001 gid=100 pid=2001 ATTRIB|DELETE_SELF /projects/setup.exe',
  ]);
});

it('mirror-backup reconciles between the start scan notes, then follows a modify, a rename and a delete on disk', () => {
  const lines = run('mirror-backup', path.join(tempDir(), 'mirrored'));
  expect(lines).toEqual([
    'scanBegin (start): reconcile what the scan reports',
    'scanEnd (start): following changes one by one',
    'start scan: 5 files to copy, all between the notes',
    'follow CLOSE_WRITE /r1/f0.txt',
    'follow DELETE /r1/f2.txt',
    'follow RENAME /r1/renamed.txt',
  ]);
});

it('crash-campaign runs seeded runs with faults and finds no violation', () => {
  expect(run('crash-campaign', '100')).toEqual(['100 runs, 0 violations']);
});

it('replicate appends the changelog to a Redis stream, and redis-reader reads it elsewhere, through a group', async () => {
  const server = await startRedis();
  try {
    expect(run('replicate', server.url, path.join(tempDir(), 'replicated'))).toEqual([
      expect.stringMatching(/^replicated through seq \d+: 11 records appended, lag 0$/),
    ]);
    const lines = run('redis-reader', server.url);
    expect(lines.length).toBe(11);
    expect(lines[0]).toMatch(/^\d+ CREATE\|ONDIR \/projects uid=0 gid=0$/);
    expect(lines[10]).toMatch(/^\d+ CREATE \/projects\/file-9 uid=1000 gid=1000$/);
    // Acknowledged: a second run of the reader finds nothing.
    expect(spawnSync(process.execPath, [path.join(ROOT, 'dist', 'examples', 'redis-reader.js'), server.url], { encoding: 'utf8' }).stdout).toBe('');
  } finally {
    await server.stop();
  }
});

/** The pages whose code blocks are excerpts: the README and every .md under docs/ but docs/api. */
function documentationPages(dir = 'docs'): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const relative = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, relative)).isDirectory()) return relative === 'docs/api' ? [] : documentationPages(relative);
    return name.endsWith('.md') ? [relative] : [];
  });
}

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/examples.test.ts: real-hsm skipped, it needs root on Linux (it loop-mounts an ext4 image)');

/** A child's exit code, stdout and stderr once it has exited. */
function ended(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

it.skipIf(!isRoot)('real-hsm fills a stub on a real ext4 from its tape, and denies one the tape lacks with EIO', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const tape = path.join(scratch, 'tape');
    mkdirSync(tape);
    writeFileSync(path.join(tape, 'big.dat'), 'bytes from tape\n'.repeat(500));
    for (const [name, size] of [
      ['big.dat', 8000],
      ['lost.dat', 4096],
    ] as const) {
      makeStub(path.join(mount, name), size);
    }
    const daemon = spawn(process.execPath, [path.join(ROOT, 'dist', 'examples', 'real-hsm.js'), mount, path.join(scratch, 'engine'), tape], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const done = ended(daemon);
    try {
      await new Promise<void>((resolve) => daemon.stdout.once('data', () => resolve()));
      const [big, lost] = await Promise.all(['big.dat', 'lost.dat'].map((name) => ended(spawn('cat', [path.join(mount, name)]))));
      expect(big!.stdout).toBe('bytes from tape\n'.repeat(500));
      expect(lost!.stderr).toMatch(/Input\/output error/);
    } finally {
      daemon.kill('SIGTERM');
    }
    const { code, stdout, stderr } = await done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      new RegExp(
        `^ready: asking group hsm about reads on ${mount}\nserved: \\d+ requests, \\d+ answered; filled ${mount}/big.dat; denied ${mount}/lost.dat\n$`,
      ),
    );
  });
});

it('holds every TypeScript block of the README and docs/ to an excerpt of the example it names', () => {
  const pages = ['README.md', ...documentationPages()];
  expect(pages).toContain('docs/guide/hsm.md');
  let blocks = 0;
  for (const page of pages) {
    const text = readFileSync(path.join(ROOT, page), 'utf8');
    for (const [, block] of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      blocks++;
      const [first, ...rest] = block!.split('\n');
      const named = /^\/\/ (examples\/[a-z-]+\.ts)$/.exec(first!);
      expect(named, `a block of ${page} must name its example on its first line: ${first}`).not.toBeNull();
      const source = readFileSync(path.join(ROOT, named![1]!), 'utf8');
      expect(source.includes(rest.join('\n')), `${page}'s excerpt of ${named![1]} is not in it:\n${rest.join('\n')}`).toBe(true);
    }
  }
  expect(blocks).toBeGreaterThanOrEqual(5);
});

it('leaves nothing in the temp dir when run without a directory of their own', () => {
  const temp = tempDir();
  for (const example of ['audit-tail', 'hsm-daemon', 'backup', 'mirror-backup', 'beside', 'incremental-backup']) {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'examples', `${example}.js`)], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, TMPDIR: temp },
    });
    expect(result.status, `${example}: ${result.stderr}`).toBe(0);
    expect(readdirSync(temp), example).toEqual([]);
  }
});
