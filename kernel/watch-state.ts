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
 * The file `<engine dir>/WATCH`, replaced whole (written to WATCH.tmp,
 * fdatasynced, renamed, the directory fsynced), so that after any crash it
 * is the old state or the new one. Its bytes are JSON:
 *   { "version": 1, "state": "watching" | "stopped", "path": P,
 *     "pid": N, "started": T, "boot": B, "since": MS }
 *   state    'watching' from the start of a watch, before it reads an
 *            event; 'stopped' once its stop has journaled what the kernel
 *            held for it
 *   path     what the watch marks (said in the note)
 *   pid, started, boot   the watcher: its pid, its start time in clock
 *            ticks since boot (/proc/PID/stat's 22nd field) and the boot's
 *            id (/proc/sys/kernel/random/boot_id), so that a pid reused by
 *            another process, or a pid of an earlier boot, is not taken for
 *            the watcher
 *   since    when the state was written, in ms since the epoch
 * No file: the engine never watched a real filesystem, and the first watch
 * has no gap to say (a changelog begins somewhere).
 *
 * At a watch's start (`claimWatch`), what the file says becomes the note:
 *   no file                              none
 *   stopped                              "not watched since <since>"
 *   watching, the watcher gone (or of an earlier boot, or this process,
 *   whose earlier watch ended without its stop)
 *                                        "ended without stopping: what the
 *                                        kernel held for it is lost too"
 *   watching, the watcher alive          EBUSY: another process watches
 *   unreadable (damaged, an unknown version)
 *                                        "the last watch's state is
 *                                        unreadable": said, never assumed
 *                                        whole
 * Who writes it: a watch that made its own group (`watchFilesystem`), or
 * `fanlog supervise`, which holds the changelog group across its handlers'
 * deaths (their reads are covered by kernel/read-tally.ts). A handler given
 * the supervisor's group writes nothing.
 *
 * Ordering: the note is journaled after the mark is made, so that every
 * change is either before the note (in the gap it reports) or reported by
 * the kernel; 'watching' is durable before the first event is read, so that
 * a watcher killed at any point after leaves a note for the next.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FanlogError, fromIoError } from '../errors.js';

export const WATCH_FILE = 'WATCH';
const VERSION = 1;

interface WatchRecord {
  version: number;
  state: 'watching' | 'stopped';
  path: string;
  pid: number;
  started: string;
  boot: string;
  since: number;
}

/** The running kernel's boot id. */
function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** Process `pid`'s start time in clock ticks since boot, or null when there is no such process. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The fields after the command name, which may hold spaces and parentheses: state is the 3rd field, start time the 22nd.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The watch of one engine's changelog, as this process holds it: `stopped()` once its stop has journaled everything. */
export interface WatchClaim {
  /** What the engine's changelog lost since its last watch, to journal as a loss note before any event; null for none. */
  readonly gap: string | null;
  /** Records a clean stop: the next watch reports a gap from now, and nothing lost with this one. */
  stopped(): void;
}

/**
 * Reads what the last watch of the engine at `dir` left, and records this
 * process as its watcher of `watched`, durably ('watching'). EBUSY while
 * another live process watches it.
 */
export function claimWatch(dir: string, watched: string): WatchClaim {
  const file = path.join(dir, WATCH_FILE);
  const gap = gapOf(readRecord(file), file);
  const me: WatchRecord = {
    version: VERSION,
    state: 'watching',
    path: watched,
    pid: process.pid,
    started: startTimeOf(process.pid) ?? '',
    boot: bootId(),
    since: Date.now(),
  };
  writeRecord(dir, me);
  return { gap, stopped: () => writeRecord(dir, { ...me, state: 'stopped', since: Date.now() }) };
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
    return known && typeof record.since === 'number' && typeof record.path === 'string' ? record : 'it is not a watch state of this version';
  } catch {
    return 'it is not JSON';
  }
}

/** The loss note a record calls for (see the header's table), or EBUSY. */
function gapOf(record: WatchRecord | null | string, file: string): string | null {
  if (record === null) return null;
  if (typeof record === 'string') return `the changelog's last watch state (${file}) is unreadable (${record}): what it missed is unknown`;
  const when = new Date(record.since).toISOString();
  if (record.state === 'stopped')
    return `the changelog of ${record.path} was not watched from ${when}, when its last watch stopped, until now: changes made meanwhile are not in it`;
  const sameBoot = record.boot === bootId();
  const alive = sameBoot && record.pid !== process.pid && startTimeOf(record.pid) === record.started;
  if (alive) throw new FanlogError('EBUSY', `the changelog of this engine is watched by process ${record.pid} (${file}): one watcher at a time`, { file });
  const who = `process ${record.pid}${sameBoot ? '' : ', before the last boot'}`;
  return `the last watch of the changelog of ${record.path} (${who}, since ${when}) ended without stopping: the events the kernel held for it, and changes made until now, are lost`;
}

function writeRecord(dir: string, record: WatchRecord): void {
  const temporary = path.join(dir, `${WATCH_FILE}.tmp`);
  try {
    const fd = openSync(temporary, 'w', 0o644);
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
