/**
 * The layout a lock-free command (`stat`, `consumers list`, `tail`,
 * `export`, `verify`) checks before it reads an engine directory, so that
 * a directory someone changed by hand is one `fanlog: CODE: path: …` line
 * rather than a stack trace from deep in a reader:
 *
 *   <dir>/FANLOG     the marker, if there is one: a file (EISDIR)
 *   <dir>/journal    a directory (ENOENT when the marker says an engine
 *                    was here, ENOTDIR when it is something else)
 *   journal/*.seg    each a file (EISDIR)
 *
 * The check is a look before the read, not a lock: a layout changed after
 * it is met by the reader, and a system error the reader throws is still
 * printed as one line by main.ts.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { MARKER_NAME } from '../engine/engine-dir.js';
import { FanlogError, fromIoError } from '../errors.js';
import { parseSegmentFileName } from '../journal/segment.js';

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file, { throwIfNoEntry: false }) ?? null;
  } catch (error) {
    throw fromIoError(error, file);
  }
}

/** Throws ENOENT, ENOTDIR or EISDIR naming the path when `dir`'s engine layout is not one a reader can read (see the header). */
export function checkLayout(dir: string): void {
  const marker = path.join(dir, MARKER_NAME);
  const markerStats = lstatOrNull(marker);
  if (markerStats !== null && !markerStats.isFile()) throw new FanlogError('EISDIR', `${marker}: the engine's marker is not a file`, { file: marker });
  const journal = path.join(dir, 'journal');
  const journalStats = lstatOrNull(journal);
  if (journalStats === null) {
    if (markerStats !== null) throw new FanlogError('ENOENT', `${journal}: the engine's journal is gone`, { file: journal });
    return; // no engine here: the command says so
  }
  if (!journalStats.isDirectory()) throw new FanlogError('ENOTDIR', `${journal}: the engine's journal is not a directory`, { file: journal });
  let names: string[];
  try {
    names = readdirSync(journal);
  } catch (error) {
    throw fromIoError(error, journal);
  }
  for (const name of names) {
    if (parseSegmentFileName(name) === null) continue;
    const segment = path.join(journal, name);
    const stats = lstatOrNull(segment);
    // One gone since the listing was purged: the reader handles that.
    if (stats !== null && !stats.isFile()) throw new FanlogError('EISDIR', `${segment}: a journal segment that is not a file`, { file: segment });
  }
}
