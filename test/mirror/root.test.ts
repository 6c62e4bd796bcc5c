/**
 * The mirrored directory itself (issue 26, attack 3, F2 and T1): its own
 * mode is mirrored when it changes while watching, and when it is removed
 * (or removed and made again: another directory at its path) the mirror
 * does not go on as if nothing happened. It empties the mirrored tree (the
 * disk has nothing there), notes a loss over the whole tree (it follows
 * the disk no more), reports ENOENT (a problem, `lastError`, `onError`,
 * `watching` false, `settled()` and `ended` reject with it) and stops; the
 * CLI exits 1 at once, saying so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DeliveredRecord, Engine, type FanlogError } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

const notes = (records: DeliveredRecord[]): string[] =>
  records.filter((record) => record.kind === 'note').map((record) => `${record.op as string} ${record.path} ${record.reason}`);

async function mirrored(): Promise<{ base: string; root: string; engine: Engine }> {
  const base = tempDir();
  const root = `${base}/real`;
  mkdirSync(`${root}/d`, { recursive: true });
  writeFileSync(`${root}/old`, 'x');
  writeFileSync(`${root}/d/f`, 'y');
  return { base, root, engine: await Engine.open(`${base}/engine`) };
}

describe('the mirrored root', () => {
  it("mirrors the root's own mode when it changes while watching", async () => {
    const { root, engine } = await mirrored();
    chmodSync(root, 0o755);
    const mirror = await engine.mirror(root, { settleMs: 5 });
    try {
      expect((await engine.fs.stat('/')).mode & 0o7777).toBe(0o755);
      chmodSync(root, 0o700);
      await mirror.settled();
      expect((await engine.fs.stat('/')).mode & 0o7777).toBe(0o700);
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it.each([
    ['removed', (root: string) => rmSync(root, { recursive: true })],
    [
      'removed and made again',
      (root: string) => {
        rmSync(root, { recursive: true });
        mkdirSync(`${root}/sub`, { recursive: true });
        writeFileSync(`${root}/new1`, 'a');
      },
    ],
  ])('empties the tree, notes the loss over it and ends with ENOENT when it is %s', async (_how, change) => {
    const { root, engine } = await mirrored();
    const heard: FanlogError[] = [];
    const mirror = await engine.mirror(root, { settleMs: 5, onError: (error) => heard.push(error) });
    const consumer = await engine.consumers.register('c', { from: 'next' });
    try {
      change(root);
      await expect(mirror.settled()).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(mirror.ended).resolves.toMatchObject({ code: 'ENOENT' });
      expect(await engine.fs.readdir('/')).toEqual([]);
      const read = await consumer.read({ max: 1000 });
      const said = notes(read);
      expect(said.slice(-2)).toEqual(['loss / ENOENT', expect.stringMatching(/^scanEnd \/ /)]);
      expect(said.filter((note) => note.startsWith('scanBegin')).length).toBe(said.filter((note) => note.startsWith('scanEnd')).length);
      const stats = mirror.stats();
      expect(stats.watching).toBe(false);
      expect(stats.lastError?.code).toBe('ENOENT');
      expect(stats.problems).toEqual([expect.objectContaining({ code: 'ENOENT', path: root, enginePath: '/' })]);
      expect(heard.map((error) => error.code)).toEqual(['ENOENT']);
      await expect(mirror.rescan()).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await mirror.stop();
      await engine.close();
    }
  });

  it('fanlog mirror exits 1 by itself, saying ENOENT, when the directory is removed', async () => {
    const { base, root, engine } = await mirrored();
    await engine.close();
    const child: ChildProcess = spawn(process.execPath, [CLI, 'mirror', root, '--dir', `${base}/engine`, '--settle', '5'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('scan (start)')) resolve();
        });
        child.on('exit', () => reject(new Error(`fanlog mirror exited before its start scan: ${stderr}`)));
      });
      rmSync(root, { recursive: true });
      const deadline = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref());
      expect(await Promise.race([exited, deadline]), stderr).toBe(1);
      expect(stderr).toMatch(new RegExp(`^fanlog: mirror: ENOENT: ${root}`, 'm'));
      // Once: onError said it as it happened, and the final list of problems does not say it again.
      expect(stderr.match(new RegExp(`^fanlog: mirror: ENOENT: ${root}`, 'gm'))).toHaveLength(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  });
});
