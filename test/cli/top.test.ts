/**
 * `fanlog top`: its frames, and the command in a real terminal.
 *
 * The frames are pure (cli/top.ts): given metrics, the sample before and a
 * width, the lines are checked as they are: bars, widths, unknown figures
 * (p99 null, lagSeconds null), evicted consumers, no groups.
 *
 * The command runs in tmux (a server of its own per session, its socket
 * in a temporary directory), as
 * `node dist/cli/main.js top`, against an engine this test process holds
 * and serves. The pane's shell prints top's exit status after it and
 * waits, so that the pane outlives top with its screen and modes as top
 * left them (tmux's remain-on-exit would do it too, but it tells a dead
 * pane's status only some time after, and hides its cursor). Every wait
 * polls `tmux capture-pane` until the condition holds, and fails after
 * 30 s showing the pane: nothing waits a fixed time in place of a
 * condition. A top that ignored `q`, never redrew, left the alternate
 * screen or the hidden cursor behind, or exited on a missing holder would
 * fail here.
 */
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { bar, metricsFrame, type TopSample, waitingFrame } from '../../cli/top.js';
import { Engine, FAN_CREATE } from '../../index.js';
import type { EngineMetrics } from '../../metrics.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

function metrics(overrides: Partial<EngineMetrics> = {}): EngineMetrics {
  return {
    seqs: { head: 120n, durable: 118n, checkpoint: 0n, oldestRetained: 21n },
    journalBytes: 3 * 1024 * 1024,
    entriesPerSecond: 12.5,
    fdatasyncMs: { count: 40, p50: 0.5, p99: null },
    consumers: [
      { name: 'backup', cursor: 70n, lagRecords: 50n, lagSeconds: 3.2, idleMs: 10, evicted: false },
      { name: 'caught-up', cursor: 120n, lagRecords: 0n, lagSeconds: 0, idleMs: 10, evicted: false },
      { name: 'purged-under', cursor: 100n, lagRecords: 20n, lagSeconds: null, idleMs: 10, evicted: false },
      { name: 'gone', cursor: 5n, lagRecords: 115n, lagSeconds: null, idleMs: null, evicted: true },
    ],
    groups: [
      { name: 'idx', class: 'notif', queued: 3, pendingPermissions: 0, timeouts: 0, evicted: false },
      { name: 'hsm', class: 'pre_content', queued: null, pendingPermissions: 7, timeouts: null, evicted: true },
    ],
    ...overrides,
  };
}

const sample = (overrides: Partial<EngineMetrics> = {}, atMs = 1_000_000): TopSample => ({ metrics: metrics(overrides), atMs });
const frame = (width: number, now: TopSample = sample(), previous: TopSample | null = null, nowMs = now.atMs): string[] =>
  metricsFrame({ dir: '/var/lib/hsm', holderPid: 4242, sample: now, previous, width, nowMs });
const line = (lines: string[], start: string): string => {
  const found = lines.find((candidate) => candidate.startsWith(start));
  if (found === undefined) throw new Error(`no line starts with '${start}' in:\n${lines.join('\n')}`);
  return found;
};

describe('frames', () => {
  it('a bar is filled as the part is of the whole, with a mark for any lag at all', () => {
    expect(bar(0n, 100n, 10)).toBe('[..........]');
    expect(bar(50n, 100n, 10)).toBe('[#####.....]');
    expect(bar(1n, 1_000_000n, 10)).toBe('[#.........]');
    expect(bar(100n, 100n, 10)).toBe('[##########]');
    expect(bar(5n, 0n, 4)).toBe('[....]');
  });

  it('shows the seqs, the rates, fdatasync and every consumer and group, each line within the width', () => {
    const lines = frame(120, sample({}, 1_002_000), sample({ seqs: { head: 100n, durable: 100n, checkpoint: 0n, oldestRetained: 21n } }, 1_000_000));
    expect(lines.every((text) => text.length <= 120)).toBe(true);
    expect(lines[0]).toMatch(/^fanlog top: \/var\/lib\/hsm, held by pid 4242 +\d\d:\d\d:\d\d$/);
    expect(lines[0]).toHaveLength(120);
    expect(line(lines, 'head ')).toBe('head 120   durable 118 (2 not yet)   oldest retained 21   checkpoint none yet   journal 3.0 MiB');
    // 20 entries in the 2 s since the sample before.
    expect(line(lines, 'entries/s')).toBe('entries/s  10 now, 12.5 over the last minute');
    expect(line(lines, 'fdatasync')).toBe('fdatasync  p50 0.50 ms   p99 -   (40 in the last minute)');
    // The retained journal is 100 records (21..120): 50 behind is half a bar, of the 50 the width leaves.
    expect(line(lines, 'CONSUMER')).toBe(`${'CONSUMER'.padEnd(12)}   LAG RECORDS  LAG SECONDS  LAG`);
    expect(line(lines, 'backup ')).toBe(`${'backup'.padEnd(12)}            50        3.2 s  [${'#'.repeat(25)}${'.'.repeat(25)}]`);
    expect(line(lines, 'caught-up ')).toMatch(/^caught-up +0 +0\.0 s +\[\.{50}\]$/);
    expect(line(lines, 'purged-under ')).toMatch(/^purged-under +20 +- +\[#{10}\.{40}\]$/);
    expect(line(lines, 'gone ')).toMatch(/^gone +115 +- +EVICTED: it must rescan$/);
    expect(line(lines, 'GROUP')).toMatch(/^GROUP +CLASS +QUEUED +PENDING +TIMEOUTS$/);
    expect(line(lines, 'idx ')).toMatch(/^idx +notif +3 +0 +0$/);
    expect(line(lines, 'hsm ')).toMatch(/^hsm +pre_content +- +7 +- +EVICTED$/);
    expect(lines.some((text) => text.includes('has not answered'))).toBe(false);
  });

  it('fits a narrow terminal: shorter bars, then none, and no line past the width', () => {
    const at60 = frame(60);
    expect(at60.every((text) => text.length <= 60)).toBe(true);
    // 60 columns less the names (12), the lag columns and their gaps (29), less the brackets: 17, half of it filled.
    expect(line(at60, 'backup ')).toMatch(/ \[#{8}\.{9}\]$/);
    const at30 = frame(30);
    expect(at30.every((text) => text.length <= 30)).toBe(true);
    expect(at30.join('\n')).not.toContain('[');
    expect(line(at30, 'backup ')).toMatch(/^backup +50 *$/);
  });

  it('says what is unknown or missing: the first rate, fdatasync, consumers, groups; and figures the holder has not renewed', () => {
    const lines = frame(100, sample({ consumers: [], groups: [], fdatasyncMs: null, entriesPerSecond: null }), null, 1_000_000 + 4000);
    expect(line(lines, 'entries/s')).toBe('entries/s  - now, - over the last minute');
    expect(line(lines, 'fdatasync')).toBe('fdatasync  none in the last minute');
    expect(lines).toContain('no consumers');
    expect(lines).toContain('no groups');
    expect(lines).toContain('the holder has not answered for 4.0 s: these figures are that old');
    // A journal made anew (head below the sample before) has no rate since then.
    const anew = frame(100, sample({}, 1_001_000), sample({ seqs: { head: 500n, durable: 500n, checkpoint: 0n, oldestRetained: 1n } }));
    expect(line(anew, 'entries/s')).toBe('entries/s  - now, 12.5 over the last minute');
  });

  it('while nobody serves the engine, says so and what works meanwhile, wrapped at spaces to the width', () => {
    const waiting = waitingFrame({ dir: '/var/lib/hsm', lostPid: null, why: 'ESERVER: nobody serves the engine in /var/lib/hsm', width: 50, nowMs: 0 });
    expect(waiting.every((text) => text.length <= 50)).toBe(true);
    expect(waiting.join(' ')).toContain('no process serves the engine in /var/lib/hsm: waiting for one; fanlog stat reads it lock-free');
    expect(waiting.join(' ')).toContain('ESERVER: nobody serves the engine in /var/lib/hsm');
    const lost = waitingFrame({ dir: '/var/lib/hsm', lostPid: 77, why: 'ESERVER: gone', width: 200, nowMs: 0 });
    expect(lost).toContain('the process that served the engine in /var/lib/hsm (pid 77) went away: waiting for one; fanlog stat reads it lock-free');
  });
});

let sessions = 0;
const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

/** The tmux server of the session being run: one of the test's own, so that nothing touches the user's, and no socket is left behind. */
let socket = '';
const tmux = async (...args: string[]): Promise<string> => (await run('tmux', ['-S', socket, ...args])).stdout;

/** A pane's screen, its lines joined by spaces (so that a wrapped sentence reads whole). */
const screenOf = async (name: string): Promise<string> => (await tmux('capture-pane', '-p', '-t', name)).replace(/\s+/g, ' ');
const paneState = async (name: string, format: string): Promise<string> => (await tmux('display-message', '-p', '-t', name, format)).trim();

/** Polls `look` until it returns something other than undefined; after 30 s fails, showing the pane. */
async function until<T>(name: string, what: string, look: (screen: string) => T | undefined): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const screen = await tmux('capture-pane', '-p', '-t', name);
    const found = look(screen.replace(/\s+/g, ' '));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`waited 30 s for ${what}; the pane shows:\n${screen}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `fanlog top --dir dir` in a new 120x40 session, hands its name to `use`, and kills the session after. */
async function inTerminal(dir: string, use: (name: string) => Promise<void>): Promise<void> {
  const name = `top-${++sessions}`;
  socket = path.join(tempDir(), 'tmux.sock');
  const top = [process.execPath, CLI, 'top', '--dir', dir].map((word) => `'${word}'`).join(' ');
  // None of the user's tmux configuration (-f /dev/null), nor their shell: the command is sh's, run as it is (several arguments).
  await tmux('-f', '/dev/null', 'new-session', '-d', '-s', name, '-x', '120', '-y', '40', '/bin/sh', '-c', `${top}; echo "top exited with status $?"; read _`);
  try {
    await use(name);
  } finally {
    // A session that is gone already (its server died) must not hide what failed in `use`.
    await tmux('kill-session', '-t', name).catch(() => undefined);
  }
}

/** Waits until top's process is gone (its shell says so), and gives its exit status. */
const exitStatus = (name: string): Promise<string> => until(name, 'top to exit', (screen) => /top exited with status (\d+)/.exec(screen)?.[1]);

const headOf = (screen: string): bigint | undefined => {
  const head = /head (\d+) /.exec(screen)?.[1];
  return head === undefined ? undefined : BigInt(head);
};

describe('fanlog top in a terminal', () => {
  it('shows the holder figures live, fits a narrower terminal, and quits on q, giving the terminal back', async () => {
    const engine = await Engine.open(tempDir());
    engines.push(engine);
    for (let i = 0; i < 5; i++) await engine.fs.mkdir(`/d${i}`);
    await engine.consumers.register('backup', { from: 'oldest' });
    const group = await engine.groups.open('idx');
    await group.mark({ path: '/', scope: 'mount', mask: FAN_CREATE });
    await inTerminal(engine.dir, async (name) => {
      const first = engine.journal.headSeq;
      await until(name, `head ${first} and the consumer`, (screen) => (headOf(screen) === first && screen.includes('backup') ? true : undefined));
      const screen = await screenOf(name);
      expect(screen).toContain(`held by pid ${process.pid}`);
      expect(screen).toMatch(/GROUP +CLASS +QUEUED +PENDING +TIMEOUTS idx +notif +\d+ +0 +0/);
      expect(await paneState(name, '#{alternate_on} #{cursor_flag}')).toBe('1 0');

      for (let i = 0; i < 5; i++) await engine.fs.mkdir(`/e${i}`);
      const second = engine.journal.headSeq;
      expect(second).toBeGreaterThan(first);
      // The new head, and the consumer (cursor 0, nothing acknowledged) behind by all of it.
      await until(name, `head ${second}`, (screen) => (headOf(screen) === second && new RegExp(`backup +${second} `).test(screen) ? true : undefined));

      // 70 columns: the bar is what the width leaves after the figures (37 columns and 2 brackets).
      await tmux('resize-window', '-t', name, '-x', '70');
      await until(name, 'a bar fitted to 70 columns', (screen) => (/backup +\d+ +[\d.]+ s +\[#{31}\]/.test(screen) ? true : undefined));

      await tmux('send-keys', '-t', name, 'q');
      expect(await exitStatus(name)).toBe('0');
      expect(await paneState(name, '#{alternate_on} #{cursor_flag}')).toBe('0 1');
      expect(await screenOf(name)).not.toContain('CONSUMER');
    });
  });

  it('waits while nobody serves the engine, shows its figures once a holder does, and says when it goes away', async () => {
    const dir = tempDir();
    await (await Engine.open(dir)).close();
    await inTerminal(dir, async (name) => {
      const waiting = `no process serves the engine in ${dir}: waiting for one; fanlog stat reads it lock-free`;
      await until(name, 'the waiting line', (screen) => (screen.includes(waiting) ? true : undefined));
      const engine = await Engine.open(dir);
      engines.push(engine);
      await engine.fs.mkdir('/now-served');
      const head = engine.journal.headSeq;
      await until(name, `head ${head} from this holder`, (screen) =>
        headOf(screen) === head && screen.includes(`held by pid ${process.pid}`) ? true : undefined,
      );
      await engine.close();
      const gone = `the process that served the engine in ${dir} (pid ${process.pid}) went away: waiting for one; fanlog stat reads it lock-free`;
      await until(name, 'the went-away line', (screen) => (screen.includes(gone) ? true : undefined));
      await tmux('send-keys', '-t', name, 'q');
      expect(await exitStatus(name)).toBe('0');
    });
  });

  it('ends with fanlog: CODE: message and exit 1 on any other error, at the start or while it runs, giving the terminal back', async () => {
    await inTerminal(tempDir(), async (name) => {
      expect(await exitStatus(name)).toBe('1');
      expect(await screenOf(name)).toMatch(/fanlog: ENOENT: no fanlog engine in \S+ \(fanlog init makes one\)/);
    });
    const dir = tempDir();
    await (await Engine.open(dir)).close();
    await inTerminal(dir, async (name) => {
      await until(name, 'the waiting line', (screen) => (screen.includes('waiting for one') ? true : undefined));
      // The engine taken away under it: no holder will come, so top ends, on the shell's own screen.
      rmSync(dir, { recursive: true, force: true });
      expect(await exitStatus(name)).toBe('1');
      expect(await paneState(name, '#{alternate_on} #{cursor_flag}')).toBe('0 1');
      expect(await screenOf(name)).toContain(`fanlog: ENOENT: no fanlog engine in ${dir} (fanlog init makes one)`);
    });
  });

  it('refuses a stdout that is not a terminal, pointing at stat --json', async () => {
    const dir = tempDir();
    await (await Engine.open(dir)).close();
    const child = spawn(process.execPath, [CLI, 'top', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(status).toBe(1);
    expect(stderr).toBe(
      'fanlog: EINVAL: fanlog top draws a live view and needs a terminal (stdout is not one): fanlog stat --json gives the figures to a script\n',
    );
  });
});
