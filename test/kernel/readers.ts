/**
 * What the real-kernel tests share: a reader of a marked file in a child
 * process (`cat`, which waits in the kernel on its permission events), a
 * child that makes changes while this process's loop is blocked, and
 * the journal of an engine directory, decoded, for the request and
 * decision checks.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { RecordView } from '../../engine/record/record.js';
import { Engine } from '../../index.js';
import { decodeRecord } from '../../interop/index.js';

export interface ReaderResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `cat file` in a child: resolves with its exit code, stdout and stderr once it has ended. */
export function cat(file: string): Promise<ReaderResult> {
  const child = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
}

/** Every record of `engine`'s journal with its seq, decoded. */
export async function records(engine: Engine): Promise<{ seq: bigint; record: RecordView }[]> {
  const out: { seq: bigint; record: RecordView }[] = [];
  for await (const { seq, payload } of engine.journal.read()) out.push({ seq, record: decodeRecord(payload) });
  return out;
}

/** records() of the engine in `dir`, opened read-only (its holder gone): the campaign's own reading. */
export { journalRecords as journalOf } from '../../crash/fanotify-checks.js';

/**
 * Runs `script` in a child node process with `args`, blocking this process's
 * loop until it exits 0 (so nothing here reads the kernel meanwhile);
 * returns its pid, which it prints.
 */
export function blockingChild(script: string, ...args: string[]): number {
  return Number(execFileSync(process.execPath, ['-e', `process.stdout.write(String(process.pid));\n${script}`, ...args], { encoding: 'utf8' }));
}

/** A child's script of changes in the directory argv[1]: a create, writes, a rename, deletes, a tree removed. */
export const CHANGES = `
const fs = require('node:fs'); const dir = process.argv[1];
fs.mkdirSync(dir + '/d');
fs.writeFileSync(dir + '/d/a', 'hello');
fs.appendFileSync(dir + '/d/a', ' world');
fs.renameSync(dir + '/d/a', dir + '/d/b');
fs.unlinkSync(dir + '/d/b');
fs.mkdirSync(dir + '/gone');
fs.writeFileSync(dir + '/gone/x', 'x');
fs.rmSync(dir + '/gone', { recursive: true });
`;
