/**
 * What a read of the kernel's queue gives the changelog (kernel/watch.ts):
 * its events (eventsOfRead, below), and the record of each (LiveRecords):
 * the record an import makes of it (interop/fanotify-import.ts: the kernel's
 * 64-bit mask, the object's fid, its parent's fid and name, a rename's old
 * parent and name), with what only a reader beside the kernel can add:
 *
 *   source   'fanotify'.
 *   tid      the acting thread, where the group reports it (FAN_REPORT_TID:
 *            the metadata's pid field is then the thread's id).
 *   pid      the acting process: without FAN_REPORT_TID, the kernel's pid
 *            field itself; with it, the Tgid line of /proc/TID/status, read
 *            when the event is read. A thread gone by then leaves its tid
 *            as the pid: right for every single-threaded process and every
 *            main thread (whose tid is the pid), wrong only for another
 *            thread that ended before its event was read (or, rarer, a tid
 *            reused by then). A process outside the reader's pid namespace
 *            is pid 0, as the kernel reports it, with no tid.
 *   path     the object's absolute path as this process sees it, through
 *            the mount of the watched path; `oldPath` a rename's old one.
 *            An entry event's path is its directory's path and its name,
 *            so a deleted entry keeps the path it was deleted at; an event
 *            on a directory itself is that directory's path; an object
 *            named by its own handle alone (no parent in the event) is
 *            resolved by that handle, and kept only if the path found
 *            names it still (lstat gives its inode).
 *
 * How a path is found: open_by_handle_at(mountFd, directory's handle,
 * O_PATH) (an O_PATH open raises no fanotify event, so the reader never
 * makes work for itself, nor waits on a permission group), then readlink of
 * /proc/self/fd/N. The kernel reconnects a directory's dentry to its
 * parents, so the path is whole. It is the path when the event is read, not
 * when it happened: a directory renamed meanwhile gives its new path. A
 * directory gone by then (ESTALE, or an open one with no link left) gives no
 * path, and neither does a path that is not UTF-8, one this process cannot
 * reach (another mount namespace's), or any other refusal of the kernel
 * (ENOMEM, seen for an inode being evicted): the record keeps its fids and
 * names, and the changelog goes on. Each directory is resolved once per read of the kernel's queue
 * (`newRead()` forgets what the last read found), so a storm of events in a
 * few directories costs a few system calls per read, not per event.
 *
 * The mount descriptor: a directory on the watched filesystem, opened
 * O_RDONLY (open_by_handle_at refuses an O_PATH one) before the marks are
 * made, and a directory because a kernel permission group raises no event
 * for one (its marks never carry FAN_ONDIR: kernel/source.ts).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { EngineRecord, EventRecord } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import { decodeFanotifyStream, type FanotifyEvent, type FileHandle } from '../interop/fanotify-events.js';
import { recordOfFanotifyEvent } from '../interop/fanotify-import.js';
import { closeDescriptor, O_CLOEXEC, O_PATH, openByHandleAt } from './syscalls.js';

const METADATA_BYTES = 24;
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const TGID = /^Tgid:\s*(\d+)$/m;
const DELETED = ' (deleted)';

/**
 * The events of one read of the kernel's queue, in order. Every event
 * descriptor the read holds is closed first, found from the metadata alone,
 * so that none leaks whatever the decoder or the journal then does. A
 * buffer is decoded whole, or, when one of its events does not decode (a
 * name that is not UTF-8), event by event, that one refused alone.
 */
export function eventsOfRead(buffers: readonly Uint8Array[]): ReadEvent[] {
  closeEventDescriptors(buffers);
  return buffers.flatMap((bytes) => {
    try {
      const { events, offsets } = decodeFanotifyStream(bytes);
      return events.map((event, i) => ({ event, at: offsets[i]! }));
    } catch (error) {
      if (!(error instanceof FanlogError)) throw error;
      return decodeEach(bytes);
    }
  });
}

/** One event of a read: decoded, or why it could not be. */
export type ReadEvent = { event: FanotifyEvent; at: number } | { refusal: string };

/** The events of `bytes`, as they were written, each refused alone if it does not decode (the kernel never splits one). */
function decodeEach(bytes: Uint8Array): ReadEvent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: ReadEvent[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = at + METADATA_BYTES <= bytes.length ? view.getUint32(at, true) : 0;
    if (length < METADATA_BYTES || at + length > bytes.length) {
      out.push({ refusal: `ECORRUPT: fanotify read at byte ${at}: an event of ${length} bytes in a read of ${bytes.length}` });
      break;
    }
    try {
      out.push({ event: decodeFanotifyStream(bytes.subarray(at, at + length)).events[0]!, at });
    } catch (error) {
      if (!(error instanceof FanlogError)) throw error;
      out.push({ refusal: error.message });
    }
    at += length;
  }
  return out;
}

/** Closes every event descriptor `buffers` hold, read from the metadata alone, so that none leaks whatever the decoder says; throws the first failure once all are tried. */
function closeEventDescriptors(buffers: readonly Uint8Array[]): void {
  let failure: Error | null = null;
  for (const bytes of buffers) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let at = 0; at + METADATA_BYTES <= bytes.length;) {
      const fd = view.getInt32(at + 16, true);
      try {
        if (fd >= 0) closeDescriptor(fd);
      } catch (error) {
        failure ??= error as Error;
      }
      const length = view.getUint32(at, true);
      if (length < METADATA_BYTES) break;
      at += length;
    }
  }
  if (failure !== null) throw failure;
}

export class LiveRecords {
  readonly #mountFd: number | null;
  readonly #reportsTid: boolean;
  /** A directory's path by its handle, for the current read; null: it has none. */
  readonly #directories = new Map<string, string | null>();
  /** A thread's process, for the current read. */
  readonly #processes = new Map<number, number>();

  private constructor(mountFd: number | null, reportsTid: boolean) {
    this.#mountFd = mountFd;
    this.#reportsTid = reportsTid;
  }

  /**
   * Records for a group that reports tids or not; with `watched` (a path on
   * the watched filesystem), with paths resolved through its mount. To be
   * made before the marks (see the header).
   */
  static open(watched: string | null, reportsTid: boolean): LiveRecords {
    if (watched === null) return new LiveRecords(null, reportsTid);
    const directory = statSync(watched).isDirectory() ? watched : path.dirname(watched);
    return new LiveRecords(openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY), reportsTid);
  }

  /** Forgets what the last read resolved: paths and processes are found again, as they are now. */
  newRead(): void {
    this.#directories.clear();
    this.#processes.clear();
  }

  /** The event record of `event`, checked by checkFanotifyEvent first. */
  recordOf(event: FanotifyEvent, time: bigint): EngineRecord {
    const record = recordOfFanotifyEvent(event, time) as EventRecord;
    record.source = 'fanotify';
    if (this.#reportsTid && event.pid > 0) {
      record.tid = event.pid;
      record.pid = this.#processOf(event.pid);
    }
    if (this.#mountFd !== null) this.#addPaths(record, event);
    return record;
  }

  /** Closes the mount descriptor. */
  close(): void {
    if (this.#mountFd !== null) closeSync(this.#mountFd);
  }

  #processOf(tid: number): number {
    let pid = this.#processes.get(tid);
    if (pid === undefined) {
      pid = tid;
      try {
        const found = TGID.exec(readFileSync(`/proc/${tid}/status`, 'latin1'));
        if (found !== null) pid = Number(found[1]);
      } catch {
        // The thread is gone: its tid stands for its process (see the header).
      }
      this.#processes.set(tid, pid);
    }
    return pid;
  }

  #addPaths(record: EventRecord, event: FanotifyEvent): void {
    const entry = event.dir ?? event.newDir;
    let found: string | null;
    if (entry !== undefined) found = entry.name === '.' ? this.#directoryPath(entry.handle) : this.#entryPath(entry.handle, entry.name);
    else found = event.handle === undefined ? null : this.#objectPath(event.handle);
    if (found !== null) record.path = found;
    if (event.oldDir !== undefined) {
      const old = this.#entryPath(event.oldDir.handle, event.oldDir.name);
      if (old !== null) record.oldPath = old;
    }
  }

  #entryPath(directory: FileHandle, name: string): string | null {
    const parent = this.#directoryPath(directory);
    if (parent === null) return null;
    return parent === '/' ? `/${name}` : `${parent}/${name}`;
  }

  #directoryPath(handle: FileHandle): string | null {
    const key = keyOf(handle);
    let found = this.#directories.get(key);
    if (found === undefined) {
      found = this.#resolve(handle, false);
      this.#directories.set(key, found);
    }
    return found;
  }

  /** An object's path by its own handle: kept only if lstat of it is that object (a file's dentry may be disconnected from its parents). */
  #objectPath(handle: FileHandle): string | null {
    return this.#resolve(handle, true);
  }

  #resolve(handle: FileHandle, check: boolean): string | null {
    let fd: number | null;
    try {
      fd = openByHandleAt(this.#mountFd!, handle, O_PATH | O_CLOEXEC);
    } catch {
      // A path is given where the kernel allows it, never at the cost of the changelog: under a storm of deletes, ext4 answers ENOMEM for an inode being evicted.
      return null;
    }
    if (fd === null) return null;
    try {
      let found: string;
      try {
        found = utf8Fatal.decode(readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' }));
      } catch {
        return null;
      }
      if (!found.startsWith('/')) return null;
      // The kernel marks an object with no name left by this suffix; fstat tells it from a name that merely ends so.
      if (!check && !found.endsWith(DELETED)) return found;
      const stat = fstatSync(fd);
      if (stat.nlink === 0) return null;
      return !check || sameObject(found, stat) ? found : null;
    } finally {
      closeDescriptor(fd);
    }
  }
}

/** A handle as a map key: its type and its bytes (a loop of fromCharCode costs a fraction of a hex string). */
function keyOf(handle: FileHandle): string {
  let key = `${handle.type}:`;
  for (const byte of handle.bytes) key += String.fromCharCode(byte);
  return key;
}

function sameObject(where: string, stat: { ino: number; dev: number }): boolean {
  try {
    const there = lstatSync(where);
    return there.ino === stat.ino && there.dev === stat.dev;
  } catch {
    return false;
  }
}
