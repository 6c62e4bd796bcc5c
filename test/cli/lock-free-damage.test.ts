/**
 * Damage the lock-free readers meet (issue 26, C2): `tail` and `export`
 * without the lock, and `stat`, on a closed engine whose newest segment
 * was damaged after it closed. Below the seq the store saw durable (its
 * high-water mark), a record that cannot be read is ECORRUPT naming the
 * file and byte offset, exit 1, after the records before it; `stat` flags
 * a head below that seq. Damage with a sound entry after it is ECORRUPT
 * whatever the store. An unfinished entry past everything durable (a torn
 * write a crash left) is not damage: it is said, and the next open cuts it.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function fanlog(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A closed engine of several 4 KiB segments; returns its directory, head and newest segment. */
async function closedEngine(store: 'lmdb' | 'files'): Promise<{ dir: string; head: bigint; newest: string; segments: string[] }> {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store, segmentBytesMax: 4096 });
  // A consumer that never acknowledges keeps every segment.
  await engine.consumers.register('keep');
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 90; i++) await engine.fs.create(`/d/f${i}`, { size: i });
  const head = engine.journal.headSeq;
  await engine.close();
  const segments = readdirSync(path.join(dir, 'journal'))
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(dir, 'journal', name));
  expect(segments.length).toBeGreaterThan(2);
  return { dir, head, newest: segments[segments.length - 1]!, segments };
}

/** Flips the bytes of the middle of `file`'s second half: an entry with sound entries after it. */
function flipMiddle(file: string): number {
  const bytes = readFileSync(file);
  const at = Math.floor(bytes.length / 2);
  for (let i = at; i < at + 4; i++) bytes[i]! ^= 0xff;
  writeFileSync(file, bytes);
  return at;
}

it('tail and export are ECORRUPT with the file and offset at damage below the durable seq, after the records before it', async () => {
  const { dir, head, newest } = await closedEngine('lmdb');
  const at = flipMiddle(newest);
  const tail = fanlog('tail', '--dir', dir, '--json');
  expect(tail.status).toBe(1);
  const match = /^fanlog: ECORRUPT: (\S+) at byte (\d+): /.exec(tail.stderr);
  expect(match, tail.stderr).not.toBeNull();
  expect(match![1]).toBe(newest);
  expect(Number(match![2])).toBeLessThanOrEqual(at);
  // Every record before the damage was printed, in order, without a gap.
  const seqs = tail.stdout
    .trim()
    .split('\n')
    .map((line) => BigInt((JSON.parse(line) as { seq: string }).seq));
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs[seqs.length - 1]!).toBeLessThan(head);
  const out = path.join(tempDir(), 'out.bin');
  const exported = fanlog('export', '--format', 'fanotify', '--dir', dir, '--out', out);
  expect(exported.status).toBe(1);
  expect(exported.stderr).toMatch(new RegExp(`^fanlog: ECORRUPT: ${newest.replaceAll('/', '\\/')} at byte \\d+: `));
  // The events before the damage were written.
  expect(statSync(out).size).toBeGreaterThan(0);
});

it('stat flags a head below the durable seq the store records, with the damage, and exits 1', async () => {
  const { dir, head, newest } = await closedEngine('lmdb');
  flipMiddle(newest);
  const text = fanlog('stat', '--dir', dir);
  expect(text.status).toBe(1);
  expect(text.stdout).toMatch(new RegExp(`^DAMAGED +${newest.replaceAll('/', '\\/')} at byte \\d+: `, 'm'));
  const json = fanlog('stat', '--dir', dir, '--json');
  expect(json.status).toBe(1);
  const view = JSON.parse(json.stdout) as {
    durableAtLeast: string;
    damage: { file: string; offset: number } | null;
    metrics: { seqs: { head: string; durable: string | null } };
  };
  expect(BigInt(view.durableAtLeast)).toBe(head);
  expect(BigInt(view.metrics.seqs.head)).toBeLessThan(head);
  expect(view.metrics.seqs.durable).toBeNull();
  expect(view.damage).toMatchObject({ file: newest, offset: expect.any(Number) });
});

it('a newest segment lost after the close is ECORRUPT for tail and flagged by stat', async () => {
  const { dir, newest, segments } = await closedEngine('lmdb');
  rmSync(newest);
  const tail = fanlog('tail', '--dir', dir);
  expect(tail.status).toBe(1);
  expect(tail.stderr).toMatch(/^fanlog: ECORRUPT: .*the store saw .* durable through/);
  expect(tail.stderr).toContain(segments[segments.length - 2]!);
  const stat = fanlog('stat', '--dir', dir);
  expect(stat.status).toBe(1);
  expect(stat.stdout).toMatch(/^DAMAGED /m);
});

it('damage with a sound entry after it is ECORRUPT even where no durable seq can be read (files store)', async () => {
  const { dir, newest } = await closedEngine('files');
  flipMiddle(newest);
  const tail = fanlog('tail', '--dir', dir);
  expect(tail.status).toBe(1);
  expect(tail.stderr).toMatch(new RegExp(`^fanlog: ECORRUPT: ${newest.replaceAll('/', '\\/')} at byte \\d+: .*sound entr`));
});

it('an unfinished entry past everything durable is said, not damage: tail prints every record and exits 0', async () => {
  const { dir, head, newest } = await closedEngine('lmdb');
  const size = statSync(newest).size;
  // The start of a frame a crash cut: a length that runs past the end of the file.
  appendFileSync(newest, Buffer.from([0x00, 0x10, 0x00, 0x00, 0xaa, 0xbb]));
  const tail = fanlog('tail', '--dir', dir, '--json');
  expect(tail.status, tail.stderr).toBe(0);
  const seqs = tail.stdout
    .trim()
    .split('\n')
    .map((line) => BigInt((JSON.parse(line) as { seq: string }).seq));
  expect(seqs[seqs.length - 1]).toBe(head);
  expect(tail.stderr).toBe(
    `fanlog: note: ${newest} ends in an unfinished entry at byte ${size} (a write in progress, or one a crash cut: the next open removes it)\n`,
  );
  const stat = fanlog('stat', '--dir', dir);
  expect(stat.status).toBe(0);
  expect(stat.stdout).toContain(`durable ${head}`);
});
