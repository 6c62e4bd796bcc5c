/**
 * `fanlog export --format fanotify [--from SEQ] [--linux-only] [--page-align]
 * [--out FILE]`: the changelog's events and permission requests as the
 * binary stream a fanotify reader gets (interop/fanotify-events.ts), to
 * stdout or FILE. Lock-free, as `tail`: it reads the segment files beside
 * any application that holds the engine, and exports what was written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FanlogError } from '../errors.js';
import { encodeFanotifyEvents } from '../interop/fanotify-events.js';
import { importFanotifyEvents } from '../interop/fanotify-import.js';
import { readChangelog, unfinishedNote } from './inspect.js';

export async function exportCommand(options: {
  dir: string;
  format: string;
  from?: bigint;
  linuxOnly?: boolean;
  pageAlign?: boolean;
  out?: string;
}): Promise<void> {
  if (options.format !== 'fanotify') throw new FanlogError('EINVAL', `--format ${options.format}: the export format is fanotify (lfs is tail --format lfs)`);
  if (!existsSync(path.join(options.dir, 'journal'))) throw new FanlogError('ENOENT', `no fanlog engine in ${options.dir}`);
  const chunks: Uint8Array[] = [];
  // The failure is kept as it came (unknown: any value may be thrown), with a flag for whether there was one.
  let failed = false;
  let failure: unknown;
  // Damage ends the read with ECORRUPT: the events before it are written first, as tail prints its lines.
  const unfinished = await readChangelog(options.dir, options.from, undefined, (records) => {
    chunks.push(
      encodeFanotifyEvents(
        records.map(({ record }) => record),
        { linuxOnly: options.linuxOnly === true, pageAlign: options.pageAlign === true },
      ),
    );
  }).catch((error: unknown) => {
    failed = true;
    failure = error;
    return null;
  });
  if (unfinished !== null) process.stderr.write(`fanlog: note: ${unfinishedNote(unfinished)}\n`);
  const bytes = Buffer.concat(chunks);
  if (options.out !== undefined) writeFileSync(options.out, bytes);
  else process.stdout.write(bytes);
  if (failed) throw failure;
}

/** `fanlog import --format fanotify FILE`: a captured stream into the engine's changelog (it takes the lock: `--wait`). */
export async function importCommand(options: { dir: string; format: string; file: string; wait?: number; init?: boolean }): Promise<void> {
  if (options.format !== 'fanotify') throw new FanlogError('EINVAL', `--format ${options.format}: the import format is fanotify`);
  const bytes = new Uint8Array(readFileSync(options.file));
  const { openEngine } = await import('./open-engine.js');
  const engine = await openEngine(options);
  try {
    const count = await importFanotifyEvents(engine, bytes);
    process.stdout.write(`imported ${count} events from ${options.file} into ${options.dir}, through seq ${engine.journal.headSeq}\n`);
  } finally {
    await engine.close();
  }
}
