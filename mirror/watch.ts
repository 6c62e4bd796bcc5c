/**
 * The watcher of a mirror (mirror.ts): one inotify watch per mirrored
 * directory, through Node's `fs.watch`, whose events are hints of where to
 * look. Nothing here is trusted as truth; what it must do is never let a
 * change go unheard without saying so.
 *
 *   watch before list  the reconcile asks for a directory's watch just
 *                      before it lists the directory (listings.ts), so a
 *                      change in it is in the listing or hinted after it.
 *                      (chokidar, used before, listed a new directory and
 *                      only then watched it: files made meanwhile were
 *                      lost, 5 times in 5.)
 *   by identity        a watch belongs to the directory's disk identity
 *                      (disk.ts) and a hint names that identity and a name
 *                      in it; the mirror finds where the directory is when
 *                      it applies the hint (hints.ts). (Hints by the path
 *                      a directory had when it was watched lost every file
 *                      made in it just after a rename: 200 in 200.)
 *   names as bytes     a name that is not UTF-8 hints its whole directory,
 *                      whose listing reports it
 *   overflow           when the kernel's queue of the loop's inotify
 *                      instance is full (fs.inotify.max_queued_events,
 *                      16,384 by default) it drops events and queues one
 *                      IN_Q_OVERFLOW, which libuv drops in turn (its wd,
 *                      -1, has no watcher): Node never hears it. But libuv
 *                      reads that one inotify fd until EAGAIN and calls
 *                      back synchronously, so every event read in one poll
 *                      phase reaches `#heard` before the next check phase
 *                      (setImmediate) runs. A queue that overflowed held
 *                      max_queued_events events when the kernel dropped
 *                      one, and the drain that follows reads them all: a
 *                      drain of fewer events proves that the queue did not
 *                      overflow. A drain of at least half of that many is
 *                      taken for an overflow (the half leaves room for
 *                      events libuv drops because their watch was closed,
 *                      and for another fs.watch of this process, which
 *                      shares the queue): the mirror rescans. A false
 *                      alarm costs a rescan; a missed overflow, a loss no
 *                      one hears of.
 *   running out        a watch refused for want of watches (ENOSPC:
 *                      fs.inotify.max_user_watches) is thrown to the
 *                      mirror, which stops watching and says so; a watch
 *                      refused for another reason (EACCES: the listing
 *                      reports it; ENOENT: gone) is left out
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename } from 'node:path';
import { FanlogError } from '../errors.js';
import { decodeName, dirKeyAt } from './disk.js';

/** A watched directory. */
export interface WatchedDir {
  /** Its disk identity (disk.ts). */
  readonly key: string;
  /** Where it was when last watched or listed: where it is looked for when the mirror does not know it by identity. */
  rel: string;
}

export interface WatchListener {
  /** `name` changed in `dir`; null: a name that is not UTF-8 (list the whole directory). */
  hint(dir: WatchedDir, name: string | null): void;
  /** One drain of the queue read `events` events: the queue may have overflowed. */
  overflow(events: number): void;
  /** A watch failed after it was made. */
  error(error: unknown, dir: WatchedDir): void;
}

/** Attempts at a watch whose directory is replaced while it is made. */
const WATCH_ATTEMPTS = 3;

export class DirWatcher {
  readonly #watches = new Map<string, { dir: WatchedDir; handle: FSWatcher }>();
  /** Events heard since the last check phase: one drain of the queue. */
  #drain = 0;
  readonly #threshold: number;
  #closed = false;

  readonly #root: string;
  readonly #listener: WatchListener;
  constructor(
    /** The mirrored directory. */
    root: string,
    listener: WatchListener,
    queueMax = inotifyQueueMax(),
  ) {
    this.#listener = listener;
    this.#root = root;
    this.#threshold = Math.max(1, Math.ceil(queueMax / 2));
  }

  /** How many directories are watched. */
  get size(): number {
    return this.#watches.size;
  }

  /**
   * Watches the directory at `rel` (once per identity: a directory watched
   * already is only told where it is now); null when no directory is there
   * or it cannot be watched. Throws ENOSPC when inotify has no watch left.
   */
  watch(rel: string): WatchedDir | null {
    if (this.#closed) return null;
    const path = rel === '' ? this.#root : `${this.#root}/${rel}`;
    for (let attempt = 0; attempt < WATCH_ATTEMPTS; attempt++) {
      const key = dirKeyAt(path);
      if (key === null) return null;
      const known = this.#watches.get(key);
      if (known !== undefined) {
        known.dir.rel = rel;
        return known.dir;
      }
      const dir: WatchedDir = { key, rel };
      const self = basename(path);
      let handle: FSWatcher;
      try {
        handle = watch(path, { encoding: 'buffer', persistent: true }, (_event, name) => this.#heard(dir, name, self));
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOSPC') throw watchesRunOut(this.#root, error);
        return null;
      }
      // The watch is on whatever was at the path when it was made: the same directory, unless it was replaced meanwhile.
      if (dirKeyAt(path) === key) {
        handle.on('error', (error: unknown) => this.#listener.error(error, dir));
        this.#watches.set(key, { dir, handle });
        return dir;
      }
      handle.close();
    }
    return null;
  }

  /** Whether the directory of this identity is watched. */
  has(key: string): boolean {
    return this.#watches.has(key);
  }

  /** Stops watching the directory of this identity (it left the mirrored tree). */
  unwatch(key: string): void {
    this.#watches.get(key)?.handle.close();
    this.#watches.delete(key);
  }

  close(): void {
    this.#closed = true;
    for (const { handle } of this.#watches.values()) handle.close();
    this.#watches.clear();
  }

  #heard(dir: WatchedDir, name: Buffer | null, self: string): void {
    if (this.#drain++ === 0) setImmediate(() => this.#drained());
    if (this.#closed) return;
    // No name: the directory itself (Linux gives its watched name instead, which is looked at as an entry: harmless).
    const text = name === null ? self : decodeName(name);
    this.#listener.hint(dir, text);
  }

  #drained(): void {
    const events = this.#drain;
    this.#drain = 0;
    if (events >= this.#threshold && !this.#closed) this.#listener.overflow(events);
  }
}

/** ENOSPC naming the sysctl: the only honest answer when inotify's watches run out. */
export function watchesRunOut(root: string, cause: unknown): FanlogError {
  return new FanlogError(
    'ENOSPC',
    `mirror: too few inotify watches for ${root}: raise the sysctl fs.inotify.max_user_watches (now ${procValue('max_user_watches')})`,
    { cause },
  );
}

/** fs.inotify.max_queued_events (16,384 when it cannot be read). */
function inotifyQueueMax(): number {
  const value = Number(procValue('max_queued_events'));
  return Number.isSafeInteger(value) && value > 0 ? value : 16_384;
}

function procValue(name: string): string {
  try {
    return readFileSync(`/proc/sys/fs/inotify/${name}`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
