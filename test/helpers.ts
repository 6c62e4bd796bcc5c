/**
 * Shared test helpers: temporary directories, reading a journal back whole,
 * rejections, children, and the next event of a group's queue.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import type { EventQueue, QueuedEvent } from '../index.js';
import type { Journal, JournalRecord } from '../journal/index.js';

const made: string[] = [];

/** A fresh directory under the OS temp dir, removed after the test. */
export function tempDir(prefix = 'fanlog-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const mounted: string[] = [];

afterEach(() => {
  for (const dir of mounted.splice(0).reverse()) execFileSync('umount', ['-l', dir]);
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Mounts a tmpfs of `bytes` at `dir` (created if missing), so that a test
 * can fill a real disk and see ENOSPC; unmounted after the test. Needs
 * root, as `npm test` has on this project's machines; without it the test
 * fails saying so, it never skips.
 */
export function smallDisk(dir: string, bytes: number): string {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`mounting a ${bytes}-byte tmpfs at ${dir} to fill a disk failed (this test needs root): ${String(error)}`, { cause: error });
  }
  mounted.push(dir);
  return dir;
}

export async function readAll(journal: Journal, range: { from?: bigint; to?: bigint } = {}): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for await (const record of journal.read(range)) records.push(record);
  return records;
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export const untext = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Runs `work` and returns the error it rejects with; fails the test if it resolves. */
export async function rejection(work: () => Promise<unknown>): Promise<Error & { code?: string; file?: string; offset?: number }> {
  try {
    await work();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection, but it resolved');
}

/** Runs `work` and returns the error it throws; fails the test if it returns. */
export function rejectionSync(work: () => unknown): Error & { code?: string } {
  try {
    work();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw, but it returned');
}

/** A child Node process started by startNodeChild. */
export interface NodeChild {
  child: import('node:child_process').ChildProcess;
  /** Resolves once the process has exited (and was reaped). */
  exited: Promise<void>;
}

/**
 * Starts `node script ...args`, hands each stdout line (split into words) to
 * `onLine`, and resolves once a line starting with 'ready' arrives. Rejects
 * with the child's stderr if it exits before that.
 */
export async function startNodeChild(script: string, args: string[], onLine: (words: string[]) => void = () => undefined): Promise<NodeChild> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const words = line.split(' ');
      onLine(words);
      if (words[0] === 'ready') resolve({ child, exited });
    });
    child.once('exit', (code, signal) => reject(new Error(`child exited early (${code ?? signal}): ${stderr}`)));
  });
}

/** The one kill child (crash/kill-child.ts, built by `npm test`'s pretest). */
const KILL_CHILD = fileURLToPath(new URL('../dist/crash/kill-child.js', import.meta.url));

/** Starts the kill child with a profile (see crash/kill-profiles.ts); resolves once it is ready. */
export function startKillChild(
  profile: 'journal' | 'engine' | 'permissions' | 'consumers',
  args: string[],
  onLine?: (words: string[]) => void,
): Promise<NodeChild> {
  return startNodeChild(KILL_CHILD, [profile, ...args], onLine);
}

/** Reads one event from a group's queue, waiting for it (fails the test after 5 s). */
export async function nextEvent(queue: EventQueue): Promise<QueuedEvent> {
  const [event] = await queue.read({ max: 1, waitMs: 5000 });
  if (event === undefined) throw new Error('no event arrived');
  return event;
}
