/**
 * What the real-kernel tests share: a reader of a marked file in a child
 * process (`cat`, which waits in the kernel on its permission events), and
 * the journal of an engine directory, decoded, for the request and
 * decision checks.
 */
import { spawn } from 'node:child_process';
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
