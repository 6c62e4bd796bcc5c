/**
 * Whether an engine's changelog of a real filesystem has a gap: a time when
 * no process watched the filesystem for it. The kernel reports a change
 * only to groups that exist when it is made, and drops a group's queue with
 * its last descriptor, so a changelog misses everything made while it was
 * not watched: after a clean stop, until the next start; and, after a
 * watcher was killed (or the machine lost power), also every event the
 * kernel held for it. A consumer must be told, or it would take a changelog
 * with a hole for a whole one: the next watch journals a loss note first,
 * before any event of its own.
 *
 * Two files in the engine directory:
 *   WATCH.lock  an exclusive open-file-description lock (F_OFD_SETLK, as
 *               the engine's own LOCK: journal/node-io.ts), held by the
 *               watcher for as long as it watches. The kernel drops it
 *               when the watcher dies, however it dies, whatever pid
 *               namespace it ran in, so a lock held is a live watcher
 *               (EBUSY for another, in this process too) and a free lock
 *               beside a record saying 'watching' is a watcher that ended
 *               without stopping. The file is never deleted.
 *   WATCH       the last watch's record, JSON, replaced whole under the
 *               lock (written to WATCH.tmp, made afresh, never through a
 *               link; fdatasynced; renamed; the directory fsynced), so that
 *               after any crash it is the old record or the new one:
 *     { "version": 1, "state": "watching" | "stopped", "path": P,
 *       "pid": N, "since": MS, "gap"?: TEXT, "deaths"?: N }
 *     state  'watching' from the start of a watch, before it reads an
 *            event; 'stopped' once its stop has journaled what the kernel
 *            held for it, durably
 *     path, pid, since   what it watched, who (said in notes and EBUSY),
 *            and when the state was written, in ms since the epoch
 *     gap    a gap this watch has yet to journal durably: kept until its
 *            note is durable, so that a watcher that dies first leaves it
 *            to the next one rather than erasing it; with `deaths`, how
 *            many watches ended without stopping since it began (a note
 *            says the first gap and the last end, and counts the rest, so
 *            that a crash loop does not grow it)
 * No record: the engine never watched a real filesystem, and the first
 * watch has no gap to say (a changelog begins somewhere).
 *
 * At a watch's start (`claimWatch`), the lock taken, the record becomes the
 * note, after the `gap` it carries, if any:
 *   none                   nothing
 *   stopped                "not watched from <since> until now"
 *   watching               "ended without stopping: what the kernel held
 *                          for it is lost too"
 *   unreadable (damaged, an unknown version)
 *                          "the last watch's state is unreadable": said,
 *                          never assumed whole
 * Who claims: a watch that made its own group (`watchFilesystem`), or
 * `fanlog supervise` with a changelog, which holds the group across its
 * handlers' deaths (their reads are covered by kernel/read-tally.ts). A
 * handler given the supervisor's group claims nothing.
 *
 * Ordering: the note is journaled after the mark is made, so that every
 * change is either in the gap the note reports or reported by the kernel;
 * 'watching' (with the gap) is durable before the first event is read, so
 * that a watcher killed at any point after leaves a note for the next.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FanlogError, fromIoError } from '../errors.js';
import { tryLockFile } from '../journal/node-io.js';

export const WATCH_FILE = 'WATCH';
const LOCK_FILE = 'WATCH.lock';
const VERSION = 1;

interface WatchRecord {
  version: number;
  state: 'watching' | 'stopped';
  path: string;
  pid: number;
  since: number;
  gap?: string;
  deaths?: number;
}

/** The watch of one engine's changelog, as this process holds it (the lock) until it stops or lets go. */
export interface WatchClaim {
  /** What the engine's changelog lost since its last watch, to journal as a loss note before any event; null for none. */
  readonly gap: string | null;
  /**
   * The gap's note is durable: the record forgets it. Null once done, else
   * why the record could not be rewritten (it then keeps the gap, which
   * the next watch says again: a rescan, never a hole). Never throws.
   */
  noted(): string | null;
  /** Records a clean stop (the next watch reports a gap from now, and nothing lost with this one) and lets the lock go. */
  stopped(): void;
  /** Lets the lock go without a clean stop: the next watch says this one ended without stopping. Safe after stopped(). */
  release(): void;
}

/**
 * Takes the watch of the engine at `dir` for this process, watching
 * `watched`: the lock, then the record, durably 'watching'. EBUSY while
 * another watch holds it (another process's, or this one's).
 */
export function claimWatch(dir: string, watched: string): WatchClaim {
  const file = path.join(dir, WATCH_FILE);
  const lockFile = path.join(dir, LOCK_FILE);
  let lock: number;
  try {
    lock = openSync(lockFile, 'a+', 0o644);
  } catch (error) {
    throw fromIoError(error, lockFile);
  }
  let held = false;
  try {
    if (!tryLockFile(lock)) {
      const record = readRecord(file);
      const who = typeof record === 'object' && record !== null ? `process ${record.pid}` : 'another watch';
      throw new FanlogError('EBUSY', `the changelog of the engine in ${dir} is watched by ${who} (${lockFile}): one watcher at a time`, { file: lockFile });
    }
    const left = gapOf(readRecord(file), file);
    const gap = left?.note ?? null;
    let record: WatchRecord = { version: VERSION, state: 'watching', path: watched, pid: process.pid, since: Date.now(), ...left?.carried };
    writeRecord(dir, record);
    held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      // Closing the only descriptor of the open file description drops the lock.
      closeSync(lock);
    };
    return {
      gap,
      noted: () => {
        if (!held || record.gap === undefined) return null;
        const { gap: _, deaths: __, ...rest } = record;
        try {
          writeRecord(dir, rest);
        } catch (error) {
          return `${(error as Error).message}: the gap it holds will be said again`;
        }
        record = rest;
        return null;
      },
      stopped: () => {
        if (!held) return;
        try {
          writeRecord(dir, { version: VERSION, state: 'stopped', path: watched, pid: process.pid, since: Date.now() });
        } finally {
          release();
        }
      },
      release,
    };
  } finally {
    if (!held) closeSync(lock);
  }
}

/** The file's record; null when there is none; a string saying why when it cannot be read as one. */
function readRecord(file: string): WatchRecord | null | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromIoError(error, file);
  }
  try {
    const record = JSON.parse(text) as WatchRecord;
    const known = record.version === VERSION && (record.state === 'watching' || record.state === 'stopped') && Number.isSafeInteger(record.pid);
    const carried = (record.gap === undefined || typeof record.gap === 'string') && (record.deaths === undefined || Number.isSafeInteger(record.deaths));
    const whole = known && typeof record.since === 'number' && typeof record.path === 'string' && carried;
    return whole ? record : 'it is not a watch state of this version';
  } catch {
    return 'it is not JSON';
  }
}

/**
 * What a record leaves the next watch, under the lock (see the header's
 * table): the note to journal, and what the new record carries until that
 * note is durable, bounded across a crash loop: the first gap's text (where
 * the hole begins) and a count of the watches that ended without stopping
 * since.
 */
function gapOf(record: WatchRecord | null | string, file: string): { note: string; carried: Pick<WatchRecord, 'gap' | 'deaths'> } | null {
  if (record === null) return null;
  if (typeof record === 'string') {
    const note = `the changelog's last watch state (${file}) is unreadable (${record}): what it missed is unknown`;
    return { note, carried: { gap: note } };
  }
  const when = new Date(record.since).toISOString();
  const now =
    record.state === 'stopped'
      ? `the changelog of ${record.path} was not watched from ${when}, when its last watch stopped, until now: changes made meanwhile are not in it`
      : `the last watch of the changelog of ${record.path} (process ${record.pid}, since ${when}) ended without stopping: the events the kernel held for it, and changes made until now, are lost`;
  if (record.gap === undefined) return { note: now, carried: { gap: now } };
  const deaths = (record.deaths ?? 0) + 1;
  const then = deaths === 1 ? now : `${deaths} watches ended without stopping, the last: ${now}`;
  return { note: `${record.gap}; then ${then}`, carried: { gap: record.gap, deaths } };
}

/** Replaces WATCH with `record`, durably (see the header). */
function writeRecord(dir: string, record: WatchRecord): void {
  const temporary = path.join(dir, `${WATCH_FILE}.tmp`);
  try {
    // Made afresh: a file or link left at the name is removed, never written through.
    try {
      unlinkSync(temporary);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const fd = openSync(temporary, 'wx', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path.join(dir, WATCH_FILE));
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (error) {
    throw fromIoError(error, temporary);
  }
}
