/**
 * `fanlog tail --follow` on a live engine: the test holds the engine open
 * (and so its lock) and makes new records, including across a segment roll
 * and a purge; the real binary, following the same directory without the
 * lock, must print the old records and then each new one, in order, once.
 * The test waits on the child's output, not on a clock.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { JournalFollower, NodeIo } from '../../journal/index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

it('tail --follow prints new records of an engine another process has open, across rolls and purges', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb', segmentBytesMax: 4096 });
  await engine.fs.mkdir('/old');
  const child = spawn(process.execPath, [CLI, 'tail', '--dir', dir, '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seqs: number[] = [];
  const names: string[] = [];
  let stderr = '';
  let waiter: { name: string; resolve: () => void } | null = null;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const record = JSON.parse(line) as { seq: string; name?: string };
    seqs.push(Number(record.seq));
    if (record.name !== undefined) names.push(record.name);
    if (waiter !== null && record.name === waiter.name) waiter.resolve();
  });
  const printed = (name: string): Promise<void> => (names.includes(name) ? Promise.resolve() : new Promise((resolve) => (waiter = { name, resolve })));
  try {
    await printed('old');
    for (let i = 0; i < 60; i++) await engine.fs.mkdir(`/new${i}`);
    await printed('new59');
    // Purge everything behind a checkpoint: the follower is past it already.
    await engine.checkpoint();
    await engine.fs.mkdir('/after-purge');
    await printed('after-purge');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await engine.close();
  }
  expect(stderr).toBe('');
  expect(names).toEqual(['old', ...Array.from({ length: 60 }, (_, i) => `new${i}`), 'after-purge']);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
});

it('a follower starting from a purged seq, seq 1 included, rejects with EPURGED', async () => {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb', segmentBytesMax: 4096 });
  for (let i = 0; i < 80; i++) await engine.fs.mkdir(`/d${i}`);
  await engine.checkpoint();
  expect(engine.journal.firstSeq).toBeGreaterThan(2n);
  const follower = new JournalFollower(new NodeIo(), path.join(dir, 'journal'), 2n);
  await expect(follower.poll()).rejects.toMatchObject({ code: 'EPURGED' });
  // Seq 1 too: asked from the first record, it is told that it is gone, not given the oldest retained in silence.
  await expect(new JournalFollower(new NodeIo(), path.join(dir, 'journal'), 1n).poll()).rejects.toMatchObject({ code: 'EPURGED' });
  const fromHead = new JournalFollower(new NodeIo(), path.join(dir, 'journal'), engine.journal.firstSeq);
  expect((await fromHead.poll()).map((record) => record.seq)[0]).toBe(engine.journal.firstSeq);
  await engine.close();
});
