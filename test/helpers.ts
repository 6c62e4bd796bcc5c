/**
 * Shared test helpers: temporary directories and reading a journal back whole.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { Journal, JournalRecord } from '../index.js';

const made: string[] = [];

/** A fresh directory under the OS temp dir, removed after the test. */
export function tempDir(prefix = 'fanlog-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

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
