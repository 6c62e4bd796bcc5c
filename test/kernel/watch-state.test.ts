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
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { withExt4 } from '../../crash/fs-image.js';
import type { RecordView } from '../../engine/record/record.js';
import { Engine, FAN_CREATE, FAN_PRE_ACCESS } from '../../index.js';
import { claimWatch, WATCH_FILE } from '../../kernel/watch-state.js';
import { rejectionSync, tempDir } from '../helpers.js';
import { BOUND_MS, CLI, journalOf, makeEngine, type NodeRun, startNode, superviseCreates, untilSaid, within } from './readers.js';

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

asRoot('a watch begun after a clean stop journals the gap between as a loss note first; the first watch of an engine journals none', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await Engine.open(path.join(scratch, 'engine'));
    try {
      const first = await engine.fanotify({ path: mount, mask: FAN_CREATE });
      writeFileSync(path.join(mount, 'a'), '');
      // One watch at a time, in this process too: a second would journal every event twice.
      await expect(engine.fanotify({ path: mount, mask: FAN_CREATE })).rejects.toMatchObject({ code: 'EBUSY' });
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
      const { child, lines, stderr, exit } = startNode([handler, dist, dir, mount, '-'], { ...process.env, FANLOG_CRASH_AT: '' });
      try {
        await lines.next(/^ready (\d+)$/);
        child.kill('SIGKILL');
        await within(exit, 'the watcher to die');
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
      await makeEngine(dir);
      const supervise = (): NodeRun => startNode(superviseCreates(dir, mount, [marker]));
      const killed = supervise();
      try {
        const handlerPid = Number((await killed.lines.next(/^ready (\d+)$/))[1]);
        writeFileSync(path.join(mount, 'a'), '');
        killed.child.kill('SIGKILL');
        // A changelog-only handler has no channel to notice; it is ours to end.
        process.kill(handlerPid, 'SIGKILL');
        await within(killed.exit, 'the supervisor to die');
        writeFileSync(path.join(mount, 'unwatched'), '');
      } finally {
        if (killed.child.exitCode === null && killed.child.signalCode === null) killed.child.kill('SIGKILL');
      }
      const next = supervise();
      try {
        await next.lines.next(/^ready (\d+)$/);
        writeFileSync(path.join(mount, 'after'), '');
        next.child.kill('SIGTERM');
        expect(await within(next.exit, 'the supervisor to stop'), next.stderr()).toBe(0);
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
    await makeEngine(dir);
    const supervisor = startNode(superviseCreates(dir, mount, [marker, down]));
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
      expect(await within(supervisor.exit, 'the supervisor to stop'), supervisor.stderr()).toBe(0);
    } finally {
      if (supervisor.child.exitCode === null && supervisor.child.signalCode === null) supervisor.child.kill('SIGKILL');
    }
  });
});

asRoot(
  "a supervisor's stop is clean only once its handler's events are durable: a handler under sync 'never', killed at the stop, loses none to a power cut",
  { timeout: 4 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount }) => {
      // The engine on an image of its own, whose device is copied to emulate the power cut: what the page cache held is not in the copy.
      await withExt4(async ({ mount: engineFs, device }) => {
        const dir = path.join(engineFs, 'engine');
        await makeEngine(dir);
        const env = { ...process.env, FANLOG_TEST_HANDLER: 'never-deaf' };
        const supervisor = startNode(superviseCreates(dir, mount, ['-'], ['--stop-timeout', '300']), env);
        try {
          await supervisor.lines.next(/^ready \d+$/);
          for (let i = 0; i < 5; i++) writeFileSync(path.join(mount, `supervised-${i}`), '');
          await supervisor.lines.next(/^journaled 5$/);
          supervisor.child.kill('SIGTERM');
          expect(await within(supervisor.exit, 'the supervisor to stop'), supervisor.stderr()).toBe(0);
        } finally {
          if (supervisor.child.exitCode === null && supervisor.child.signalCode === null) supervisor.child.kill('SIGKILL');
        }
        await afterPowerCut(device, path.dirname(engineFs), async (copy) => {
          expect(await story(path.join(copy, 'engine'))).toEqual(['supervised-0', 'supervised-1', 'supervised-2', 'supervised-3', 'supervised-4']);
        });
      });
    });
  },
);

/** Runs `work` on a copy of `device` made now, loop-mounted under `scratch`: the disk as a power cut would leave it. */
async function afterPowerCut(device: string, scratch: string, work: (mount: string) => Promise<void>): Promise<void> {
  const image = path.join(scratch, 'power-cut.img');
  const mount = path.join(scratch, 'power-cut');
  execFileSync('cp', ['--sparse=always', device, image]);
  mkdirSync(mount);
  let loop: string | null = null;
  let mounted = false;
  try {
    loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    execFileSync('mount', [loop, mount]);
    mounted = true;
    await work(mount);
  } finally {
    if (mounted) execFileSync('umount', [mount]);
    if (loop !== null) execFileSync('losetup', ['-d', loop]);
    rmSync(image, { force: true });
  }
}

asRoot('a start refused after its changelog could have begun leaves no state of its own: one gap, one note, and the next watch holds', async () => {
  const tmpfs = tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'fanlog-test', tmpfs]);
  try {
    const dir = path.join(tempDir(), 'engine');
    const engine = await Engine.open(dir);
    try {
      await engine.groups.create('hsm', { class: 'pre-content' });
      const first = await engine.fanotify({ path: tmpfs, mask: FAN_CREATE });
      writeFileSync(path.join(tmpfs, 'a'), '');
      await first.stop();
      writeFileSync(path.join(tmpfs, 'unwatched'), '');
      // tmpfs refuses pre-content events: each start fails after its changelog group could have been made.
      for (let i = 0; i < 3; i++) {
        const refused = engine.fanotify({ path: tmpfs, mask: FAN_CREATE, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
        await expect(refused).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
      }
      const second = await engine.fanotify({ path: tmpfs, mask: FAN_CREATE });
      writeFileSync(path.join(tmpfs, 'c'), '');
      expect(JSON.parse(readFileSync(path.join(dir, WATCH_FILE), 'utf8'))).toMatchObject({ state: 'watching', pid: process.pid });
      await second.stop();
    } finally {
      await engine.close();
    }
    expect(await story(dir)).toEqual(['a', expect.stringMatching(/^loss: the changelog of .* was not watched from /), 'c']);
  } finally {
    execFileSync('umount', [tmpfs]);
  }
});

onLinux('says what the last watch left: one that ended without stopping, a gap it had not yet journaled, damage; refuses a watch already held', () => {
  const dir = tempDir();
  const file = path.join(dir, WATCH_FILE);
  const state = (fields: object): void => writeFileSync(file, JSON.stringify({ version: 1, state: 'watching', path: '/srv', since: 0, pid: 4242, ...fields }));
  // 'watching' with nobody holding the lock: whatever its pid now names (this process, another, or one in another pid namespace).
  state({ pid: process.pid });
  let claim = claimWatch(dir, '/srv');
  expect(claim.gap).toMatch(/^the last watch of the changelog of \/srv \(process \d+, since 1970-01-01T00:00:00.000Z\) ended without stopping/);
  // Held, in this process too: one watcher at a time.
  expect(rejectionSync(() => claimWatch(dir, '/srv'))).toMatchObject({ code: 'EBUSY', message: expect.stringContaining(`watched by process ${process.pid}`) });
  // Let go before its gap was journaled: the next watch says that gap too, then this watch's end.
  claim.release();
  claim = claimWatch(dir, '/srv');
  expect(claim.gap).toMatch(/^the last watch [^;]*ended without stopping[^;]*; then the last watch [^;]*ended without stopping/);
  // Noted (durable in the journal): forgotten.
  claim.noted();
  claim.release();
  claim = claimWatch(dir, '/srv');
  expect(claim.gap).toMatch(/^the last watch [^;]*ended without stopping[^;]*$/);
  claim.noted();
  claim.stopped();
  expect(claimWatch(dir, '/data').gap).toMatch(/^the changelog of \/srv was not watched from .*, when its last watch stopped/);
});

onLinux('bounds the gap a crash loop carries: the first gap, a count, and the last end', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, WATCH_FILE), JSON.stringify({ version: 1, state: 'stopped', path: '/srv', since: 0, pid: 1 }));
  let gap = '';
  for (let i = 0; i < 30; i++) {
    const claim = claimWatch(dir, '/srv');
    gap = claim.gap!;
    claim.release();
  }
  expect(gap).toMatch(
    /^the changelog of \/srv was not watched from 1970-01-01T00:00:00.000Z[^;]*; then 29 watches ended without stopping, the last: the last watch /,
  );
  expect(gap.length).toBeLessThan(1000);
});

onLinux('a record that cannot forget a journaled gap keeps it and says why, never throwing', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, WATCH_FILE), JSON.stringify({ version: 1, state: 'stopped', path: '/srv', since: 0, pid: 1 }));
  const claim = claimWatch(dir, '/srv');
  mkdirSync(path.join(dir, `${WATCH_FILE}.tmp`));
  expect(claim.noted()).toMatch(/WATCH\.tmp.*: the gap it holds will be said again/);
  claim.release();
  rmSync(path.join(dir, `${WATCH_FILE}.tmp`), { recursive: true });
  expect(claimWatch(dir, '/srv').gap).toMatch(/^the changelog of \/srv was not watched from 1970[^;]*; then the last watch/);
});

asRoot('a watch whose record cannot be written ends through done, not by killing its process', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = path.join(scratch, 'engine');
    const engine = await Engine.open(dir);
    try {
      await (await engine.fanotify({ path: mount, mask: FAN_CREATE })).stop();
      const source = await engine.fanotify({ path: mount, mask: FAN_CREATE });
      // Every write of the record fails from now on: the gap's forgetting, then the clean stop.
      mkdirSync(path.join(dir, `${WATCH_FILE}.tmp`));
      writeFileSync(path.join(mount, 'kept'), '');
      await expect(source.stop()).rejects.toMatchObject({ code: 'EISDIR' });
    } finally {
      await engine.close();
    }
    expect(await story(dir)).toEqual([expect.stringMatching(/^loss: the changelog of .* was not watched from /), 'kept']);
  });
});

onLinux('says a damaged watch record is unreadable, and assumes nothing', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, WATCH_FILE), '{"version": 1, "state": "watch');
  expect(claimWatch(dir, '/srv').gap).toMatch(/last watch state \(.*WATCH\) is unreadable \(it is not JSON\)/);
});

onLinux('writes its record afresh, never through a link left at its temporary name', () => {
  const dir = tempDir();
  const victim = path.join(dir, 'victim.conf');
  writeFileSync(victim, 'keep me\n');
  symlinkSync(victim, path.join(dir, `${WATCH_FILE}.tmp`));
  claimWatch(dir, '/srv').release();
  expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
  expect(lstatSync(path.join(dir, WATCH_FILE)).isFile()).toBe(true);
  expect(JSON.parse(readFileSync(path.join(dir, WATCH_FILE), 'utf8'))).toMatchObject({ state: 'watching', path: '/srv' });
});

asRoot('fanlog supervise --mask refuses a --dir that holds no engine with ENOENT, and makes nothing there', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = path.join(scratch, 'typo', 'engine');
    const run = spawnSync(process.execPath, [CLI, 'supervise', '--path', mount, '--mask', 'CREATE', '--dir', dir, '--', 'true'], {
      encoding: 'utf8',
      timeout: BOUND_MS,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/ENOENT: no fanlog engine in .*typo\/engine \(fanlog init makes one\)/);
    expect(existsSync(path.join(scratch, 'typo'))).toBe(false);
  });
});
