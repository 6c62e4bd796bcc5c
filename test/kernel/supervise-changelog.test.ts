/**
 * A changelog under `fanlog supervise`: the handler reads the changelog
 * group its supervisor holds, and the kernel never queues a read event
 * again. A handler SIGKILLed holding events it had read and not journaled
 * (the crash point `notified`) loses them: the next handler journals a loss
 * note before anything else, naming the dead one, so that no consumer takes
 * the gap for quiet; and if no handler comes after it, the supervisor's
 * stop journals the note. As root, on an ext4 image loop-mounted in a temp
 * dir, with test/kernel/notify-handler.mjs as the handler.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { withExt4 } from '../../crash/fs-image.js';
import type { RecordView } from '../../engine/record/record.js';
import { BOUND_MS, journalOf, makeEngine, type NodeRun, startNode, superviseCreates, untilSaid, within } from './readers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/supervise-changelog.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dist = path.join(repo, 'dist');
const handler = path.join(repo, 'test/kernel/notify-handler.mjs');

/** The supervisor of a changelog of creates, its handler killed at its first read (FANLOG_CRASH_AT=notified:1) until `marker` exists. */
function supervise(dir: string, mount: string, marker: string, crashEvery: boolean, down?: string): NodeRun {
  // With crashEvery, no marker: every handler dies at its first read.
  const handlerArgs = [crashEvery ? '-' : marker, ...(down === undefined ? [] : [down])];
  return startNode(superviseCreates(dir, mount, handlerArgs, ['--stop-timeout', '60000']), { ...process.env, FANLOG_CRASH_AT: 'notified:1' });
}

const losses = (records: { record: RecordView }[]): RecordView[] =>
  records.map(({ record }) => record).filter((record) => record.kind === 'note' && record.op === 'loss');

asRoot(
  'a changelog handler killed holding events it had not journaled: the next one journals a loss note first, naming it',
  { timeout: 4 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount, scratch }) => {
      const dir = path.join(scratch, 'engine');
      await makeEngine(dir);
      const { child, lines, stderr, exit } = supervise(dir, mount, path.join(scratch, 'marker'), false);
      try {
        const first = await lines.next(/^ready (\d+)$/);
        // Its first read holds this create: it is killed before journaling it.
        writeFileSync(path.join(mount, 'lost'), '');
        const second = await lines.next(/^ready (\d+)$/, lines.all.indexOf(first[0]) + 1);
        expect(second[1]).not.toBe(first[1]);
        writeFileSync(path.join(mount, 'kept'), '');
        child.kill('SIGTERM');
        expect(await within(exit, 'the supervisor to stop'), stderr()).toBe(0);
        const records = await journalOf(dir);
        const [loss, ...more] = losses(records);
        expect(more).toEqual([]);
        expect(loss?.reason).toMatch(new RegExp(`pid ${first[1]}\\) was killed by SIGKILL holding kernel events it had read and not journaled`));
        const names = records.map(({ record }) => record.name);
        expect(names).not.toContain('lost');
        const at = (found: (record: RecordView) => boolean): number => records.findIndex(({ record }) => found(record));
        expect(at((record) => record === loss)).toBeLessThan(at((record) => record.name === 'kept'));
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  },
);

asRoot('a supervisor stopped after such a death journals the loss note once, whether or not a handler ran after it', { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = path.join(scratch, 'engine');
    await makeEngine(dir);
    const { child, lines, stderr, exit } = supervise(dir, mount, '', true);
    try {
      await lines.next(/^ready (\d+)$/);
      writeFileSync(path.join(mount, 'lost'), '');
      // Stopped as soon as the death is said: during the backoff, or once the next handler runs.
      await untilSaid(stderr, /was killed by SIGKILL/, 'the handler to die');
      child.kill('SIGTERM');
      expect(await within(exit, 'the supervisor to stop'), stderr()).toBe(0);
      const records = await journalOf(dir);
      expect(losses(records).map((note) => note.reason)).toEqual([expect.stringMatching(/was killed by SIGKILL holding kernel events/)]);
      expect(records.map(({ record }) => record.name)).not.toContain('lost');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

asRoot(
  'a supervisor stopped while no handler reads journals what the kernel still queues for its changelog, before it closes the group',
  { timeout: 4 * BOUND_MS },
  async () => {
    await withExt4(async ({ mount, scratch }) => {
      const dir = path.join(scratch, 'engine');
      await makeEngine(dir);
      const down = path.join(scratch, 'down');
      // The marker exists already: no crash point; handlers after `down` is made exit at once, reading nothing.
      writeFileSync(path.join(scratch, 'marker'), '');
      const { child, lines, stderr, exit } = supervise(dir, mount, path.join(scratch, 'marker'), false, down);
      try {
        const ready = await lines.next(/^ready (\d+)$/);
        writeFileSync(down, '');
        process.kill(Number(ready[1]), 'SIGKILL');
        await untilSaid(stderr, /exited 1/, 'a handler to exit at once');
        // Queued in the kernel, and no handler reads it: the supervisor's stop must.
        writeFileSync(path.join(mount, 'queued'), '');
        child.kill('SIGTERM');
        expect(await within(exit, 'the supervisor to stop'), stderr()).toBe(0);
        const names = (await journalOf(dir)).map(({ record }) => record.name);
        expect(names).toContain('queued');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  },
);

asRoot("refuses a handler whose descriptor 6 a wrapper replaced, and writes nothing into the wrapper's file", { timeout: 4 * BOUND_MS }, async () => {
  await withExt4(async ({ mount, scratch }) => {
    const dir = path.join(scratch, 'engine');
    await makeEngine(dir);
    const log = path.join(scratch, 'wrapper.log');
    writeFileSync(log, '');
    // A shell wrapper's idiom: its own log at descriptor 6, then the handler.
    const args = [path.join(dist, 'cli/main.js'), 'supervise', '--path', mount, '--mask', 'CREATE', '--dir', dir, '--'];
    const wrapper = ['sh', '-c', `exec 6>>${log}; exec "$@"`, 'sh', process.execPath, handler, dist, dir, mount, '-'];
    const child = spawn(process.execPath, [...args, ...wrapper], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await untilSaid(() => stderr, /descriptor 6 is not the read tally its supervisor made/, "the handler to refuse the wrapper's descriptor");
      child.kill('SIGTERM');
      expect(await within(exit, 'the supervisor to stop'), stderr).toBe(0);
      expect(readFileSync(log, 'utf8')).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
