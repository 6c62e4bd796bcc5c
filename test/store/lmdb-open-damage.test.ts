/**
 * A writable open of a damaged lmdb store is ECORRUPT naming data.mdb and
 * the byte, never a signal or a hang (issue 26): LMDB trusts its file and,
 * on a flipped byte in a page header, aborts (`Assertion 'IS_LEAF(mp)'
 * failed`), or dies by SIGSEGV or SIGBUS, or loops. Each case flips one
 * byte in the header of a page of a closed, sound store (the page and the
 * byte drawn from a seeded generator, the seed printed) and opens the
 * engine writable in a child process that then commits to the store; the
 * child must report either a clean run (the flip was harmless) or ECORRUPT
 * with the file and the offset. A signal, or a child still running after
 * CHILD_TIMEOUT_MS, fails the case.
 *
 * FANLOG_LMDB_FLIPS sets the number of cases (default 10);
 * FANLOG_LMDB_FLIP_SEED replays a seed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine, FAN_CREATE } from '../../index.js';
import { tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./open-writable-child.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 30_000;
const PAGE_BYTES = 4096;
/** The bytes of a page's header that a case may flip: its number, txnid, pad, flags and bounds. */
const HEADER_BYTES = 24;

/** mulberry32: a small seeded generator, so that a failing case can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sound, closed lmdb engine with a tree several levels deep, overflow values and a free list. */
async function soundStore(): Promise<string> {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'lmdb' });
  for (let i = 0; i < 600; i++) await engine.fs.create(`/f${i}`, { size: i * 100 });
  const group = await engine.groups.create('idx');
  await group.mark({ path: '/', mask: FAN_CREATE });
  await engine.consumers.register('backup');
  await engine.checkpoint();
  for (let i = 0; i < 600; i += 3) await engine.fs.unlink(`/f${i}`);
  await engine.checkpoint();
  await engine.close();
  return dir;
}

function openInChild(dir: string): { status: number | null; signal: string | null; line: string } {
  const run = spawnSync(process.execPath, [CHILD, dir], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  return { status: run.status, signal: run.signal, line: `${run.stdout.trim()} ${run.stderr.trim().slice(0, 300)}`.trim() };
}

describe('a writable open of a damaged lmdb store', () => {
  it('is ECORRUPT with data.mdb and the offset, or clean, for one-byte flips in page headers; never a signal or a hang', async () => {
    const cases = Number(process.env['FANLOG_LMDB_FLIPS'] ?? 10);
    const seed = Number(process.env['FANLOG_LMDB_FLIP_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`lmdb open damage: seed ${seed} (FANLOG_LMDB_FLIP_SEED=${seed} replays it), ${cases} cases`);
    const random = generator(seed);
    const sound = await soundStore();
    const dataFile = path.join(sound, 'meta-lmdb', 'data.mdb');
    const pages = readFileSync(dataFile).byteLength / PAGE_BYTES;
    const check = path.join(tempDir(), 'check');
    cpSync(sound, check, { recursive: true });
    expect(openInChild(check).line).toBe('ok');
    const failures: string[] = [];
    for (let i = 0; i < cases; i++) {
      const offset = Math.floor(random() * pages) * PAGE_BYTES + Math.floor(random() * HEADER_BYTES);
      const mask = 1 + Math.floor(random() * 255);
      const dir = path.join(tempDir(), 'case');
      cpSync(sound, dir, { recursive: true });
      const file = path.join(dir, 'meta-lmdb', 'data.mdb');
      const bytes = readFileSync(file);
      bytes[offset]! ^= mask;
      writeFileSync(file, bytes);
      const outcome = openInChild(dir);
      const named = outcome.line.startsWith('error ECORRUPT ') && outcome.line.includes(`${file} at byte `);
      if (!(outcome.signal === null && outcome.status === 0 && (outcome.line === 'ok' || named))) {
        failures.push(`seed ${seed} case ${i}: byte ${offset} ^ 0x${mask.toString(16)}: ${outcome.signal ?? `exit ${outcome.status}`}: ${outcome.line}`);
      }
      rmSync(dir, { recursive: true, force: true });
    }
    expect(failures).toEqual([]);
  });
});
