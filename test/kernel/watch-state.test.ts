/**
 * A changelog of a real filesystem says when nobody watched it
 * (kernel/watch-state.ts): the kernel reports a change only to the groups
 * that exist when it is made, so a watch that starts after a clean stop
 * journals a loss note for the time between, and one that starts after a
 * watcher was killed (an unsupervised source, or `fanlog supervise`
 * itself) journals that the watcher ended without stopping, naming it,
 * before any event of its own. A second live watcher of one engine is
 * refused (EBUSY). The first watch of an engine has no gap to say. As root,
 * on an ext4 image loop-mounted in a temp dir; the state file's own cases
 * (a reused pid, an earlier boot, damage) on a plain temp dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { withExt4 } from '../../crash/fs-image.js';
import type { RecordView } from '../../engine/record/record.js';
import { Engine, FAN_CREATE } from '../../index.js';
import { claimWatch, WATCH_FILE } from '../../kernel/watch-state.js';
import { rejectionSync, tempDir } from '../helpers.js';
import { BOUND_MS, journalOf, Lines, untilSaid, within } from './readers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/watch-state.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);
const onLinux = it.skipIf(process.platform !== 'linux');

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dist = path.join(repo, 'dist');
const handler = path.join(repo, 'test/kernel/notify-handler.mjs');

/** What the journal at `dir` says, in order: each record's name, and each loss note as `loss: REASON`. */
async function story(dir: string): Promise<string[]> {
  return (await journalOf(dir)).map(({ record }: { record: RecordView }) => (record.kind === 'note' ? `${record.op}: ${record.reason}` : String(record.name)));
}

/** A process of ours that runs until it is killed, and says its pid. */
function spawnWaiting(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; lines: Lines; stderr: () => string } {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, lines: new Lines(child), stderr: () => stderr };
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', resolve));

asRoot('a watch begun after a clean stop journals the gap between as a loss note first; the first watch of an engine journals none', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    try {
      const first = await engine.fanotify({ path: mount, mask: FAN_CREATE });
      writeFileSync(path.join(mount, 'a'), '');
      await first.stop();
      writeFileSync(path.join(mount, 'unwatched'), '');
      const second = await engine.fanotify({ path: mount, mask: FAN_CREATE });
      writeFileSync(path.join(mount, 'c'), '');
      await second.stop();
    } finally {
      await engine.close();
    }
    expect(await story(path.join(scratch, 'engine'))).toEqual([
      'a',
      expect.stringMatching(new RegExp(`^loss: the changelog of ${mount} was not watched from \\S+, when its last watch stopped, until now`)),
      'c',
    ]);
  });
});

asRoot(
  'a watch begun after its watcher was SIGKILLed journals that it ended without stopping, naming its pid, before any event',
  { timeout: 3 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount, scratch }) => {
      const dir = path.join(scratch, 'engine');
      // Unsupervised: the handler makes its own group, whose queue dies with it.
      const { child, lines, stderr } = spawnWaiting([handler, dist, dir, mount, '-'], { ...process.env, FANLOG_CRASH_AT: '' });
      try {
        await lines.next(/^ready (\d+)$/);
        child.kill('SIGKILL');
        await within(exited(child), 'the watcher to die');
        writeFileSync(path.join(mount, 'unwatched'), '');
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      const engine = await Engine.open(dir);
      try {
        const source = await engine.fanotify({ path: mount, mask: FAN_CREATE });
        writeFileSync(path.join(mount, 'after'), '');
        await source.stop();
      } finally {
        await engine.close();
      }
      expect(await story(dir), stderr()).toEqual([
        expect.stringMatching(new RegExp(`^loss: the last watch of the changelog of ${mount} \\(process ${child.pid}, since \\S+\\) ended without stopping`)),
        'after',
      ]);
    });
  },
);

asRoot(
  'a supervisor SIGKILLed with its handler: the next supervisor has its first handler journal that the watch ended without stopping',
  { timeout: 4 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount, scratch }) => {
      const dir = path.join(scratch, 'engine');
      const marker = path.join(scratch, 'marker');
      writeFileSync(marker, ''); // no crash point: the handlers just journal
      const supervise = (): ReturnType<typeof spawnWaiting> =>
        spawnWaiting([
          path.join(dist, 'cli/main.js'),
          'supervise',
          '--path',
          mount,
          '--mask',
          'CREATE',
          '--dir',
          dir,
          '--',
          process.execPath,
          handler,
          dist,
          dir,
          mount,
          marker,
        ]);
      const killed = supervise();
      try {
        const handlerPid = Number((await killed.lines.next(/^ready (\d+)$/))[1]);
        writeFileSync(path.join(mount, 'a'), '');
        killed.child.kill('SIGKILL');
        // A changelog-only handler has no channel to notice; it is ours to end.
        process.kill(handlerPid, 'SIGKILL');
        await within(exited(killed.child), 'the supervisor to die');
        writeFileSync(path.join(mount, 'unwatched'), '');
      } finally {
        if (killed.child.exitCode === null && killed.child.signalCode === null) killed.child.kill('SIGKILL');
      }
      const next = supervise();
      try {
        await next.lines.next(/^ready (\d+)$/);
        writeFileSync(path.join(mount, 'after'), '');
        next.child.kill('SIGTERM');
        expect(await within(exited(next.child), 'the supervisor to stop'), next.stderr()).toBe(0);
      } finally {
        if (next.child.exitCode === null && next.child.signalCode === null) next.child.kill('SIGKILL');
      }
      const told = await story(dir);
      const note = told.findIndex((line) => line.startsWith('loss: '));
      expect(told[note]).toMatch(
        new RegExp(`^loss: the last watch of the changelog of ${mount} \\(process ${killed.child.pid}, since \\S+\\) ended without stopping`),
      );
      expect(told.filter((line) => line.startsWith('loss: '))).toHaveLength(1);
      expect(told.indexOf('after')).toBeGreaterThan(note);
      expect(told).not.toContain('unwatched');
    });
  },
);

asRoot('refuses a second live watcher of one engine with EBUSY, naming the first', { timeout: 3 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = path.join(scratch, 'engine');
    // The supervisor watches between its handlers' lives too, holding no engine lock.
    const marker = path.join(scratch, 'marker');
    writeFileSync(marker, '');
    const down = path.join(scratch, 'down');
    writeFileSync(down, ''); // every handler exits at once, leaving the engine free
    const supervisor = spawnWaiting([
      path.join(dist, 'cli/main.js'),
      'supervise',
      '--path',
      mount,
      '--mask',
      'CREATE',
      '--dir',
      dir,
      '--',
      process.execPath,
      handler,
      dist,
      dir,
      mount,
      marker,
      down,
    ]);
    try {
      await untilSaid(supervisor.stderr, /exited 1/, 'a handler to exit at once');
      const engine = await Engine.open(dir);
      try {
        await expect(engine.fanotify({ path: mount, mask: FAN_CREATE })).rejects.toMatchObject({
          code: 'EBUSY',
          message: expect.stringContaining(`watched by process ${supervisor.child.pid}`),
        });
      } finally {
        await engine.close();
      }
      supervisor.child.kill('SIGTERM');
      expect(await within(exited(supervisor.child), 'the supervisor to stop'), supervisor.stderr()).toBe(0);
    } finally {
      if (supervisor.child.exitCode === null && supervisor.child.signalCode === null) supervisor.child.kill('SIGKILL');
    }
  });
});

onLinux(
  'takes a watch state whose pid now names another process, or a process of an earlier boot, for a watcher that ended; says damage, and assumes nothing',
  () => {
    const dir = tempDir();
    const file = path.join(dir, WATCH_FILE);
    const state = (fields: object): void =>
      writeFileSync(
        file,
        JSON.stringify({
          version: 1,
          state: 'watching',
          path: '/srv',
          since: 0,
          pid: process.pid,
          started: '1',
          boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
          ...fields,
        }),
      );
    // This very process, with another start time: its pid was reused.
    state({ pid: process.ppid, started: 'not its start time' });
    expect(claimWatch(dir, '/srv').gap).toMatch(
      /^the last watch of the changelog of \/srv \(process \d+, since 1970-01-01T00:00:00.000Z\) ended without stopping/,
    );
    // Alive, with its start time: another watcher, refused.
    const parentStat = readFileSync(`/proc/${process.ppid}/stat`, 'latin1');
    state({ pid: process.ppid, started: parentStat.slice(parentStat.lastIndexOf(')') + 2).split(' ')[19] });
    expect(rejectionSync(() => claimWatch(dir, '/srv'))).toMatchObject({
      code: 'EBUSY',
      message: expect.stringContaining(`watched by process ${process.ppid}`),
    });
    state({ pid: process.ppid, boot: 'another boot' });
    expect(claimWatch(dir, '/srv').gap).toMatch(/before the last boot, since .*\) ended without stopping/);
    writeFileSync(file, '{"version": 1, "state": "watch');
    expect(claimWatch(dir, '/srv').gap).toMatch(/last watch state \(.*WATCH\) is unreadable \(it is not JSON\)/);
    writeFileSync(file, JSON.stringify({ version: 2 }));
    expect(claimWatch(dir, '/srv').gap).toMatch(/is unreadable \(it is not a watch state of this version\)/);
    // What each claim wrote: this process watching, read back as this process's earlier watch, which ended without its stop.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ state: 'watching', pid: process.pid, path: '/srv' });
    const claim = claimWatch(dir, '/srv');
    expect(claim.gap).toMatch(/ended without stopping/);
    claim.stopped();
    expect(claimWatch(dir, '/data').gap).toMatch(/^the changelog of \/srv was not watched from/);
    // A directory that is not there: the error names the file.
    expect(rejectionSync(() => claimWatch(path.join(dir, 'absent'), '/srv'))).toMatchObject({
      code: 'ENOENT',
      file: path.join(dir, 'absent', `${WATCH_FILE}.tmp`),
    });
  },
);
