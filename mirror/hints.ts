/**
 * A mirror's pending hints (mirror.ts): what the watcher heard (watch.ts),
 * by the identity of the directory it heard it in, until a batch applies
 * it.
 *
 * Placing a hint: the directory is looked for where the engine has the
 * mirrored directory of that identity now (a batch may just have moved
 * it), else where it was last watched or listed, and it is taken to be
 * there only if lstat finds that identity there now. A hint that cannot be
 * placed is for a directory the disk moved where the engine has not seen
 * it go yet: it is placed again after the batch's moves, then waits for
 * the next batches, at most PLACE_TRIES in all; after that the mirror
 * cannot say where its changes went: a gap, which a rescan closes.
 */
import { dirKeyAt } from './disk.js';
import type { Hinted } from './listings.js';
import type { WatchedDir } from './watch.js';

/** The hints heard in one directory. */
export interface Pending {
  dir: WatchedDir;
  names: Set<string>;
  /** A name that could not be read was heard: list the directory whole. */
  all: boolean;
  /** Batches that could not place it. */
  tries: number;
}

/** Batches a hint may wait to be placed. */
export const PLACE_TRIES = 3;

export class Hints {
  #pending = new Map<string, Pending>();

  get size(): number {
    return this.#pending.size;
  }

  add(dir: WatchedDir, name: string | null): void {
    let pending = this.#pending.get(dir.key);
    if (pending === undefined) this.#pending.set(dir.key, (pending = { dir, names: new Set(), all: false, tries: 0 }));
    if (name === null) pending.all = true;
    else pending.names.add(name);
  }

  /** Every pending hint, taken out. */
  take(): Pending[] {
    const taken = [...this.#pending.values()];
    this.#pending = new Map();
    return taken;
  }

  /** Keeps a hint that could not be placed for the next batch; false when it has waited its PLACE_TRIES. */
  putBack(pending: Pending): boolean {
    if (++pending.tries >= PLACE_TRIES) return false;
    const now = this.#pending.get(pending.dir.key);
    if (now === undefined) this.#pending.set(pending.dir.key, pending);
    else {
      for (const name of pending.names) now.names.add(name);
      now.all ||= pending.all;
    }
    return true;
  }

  clear(): void {
    this.#pending.clear();
  }
}

/** Where each hint's directory is now (see the header), as a hint batch; the hints that could not be placed. */
export function place(hints: readonly Pending[], root: string, relOf: (key: string) => string | undefined): { hinted: Hinted; unplaced: Pending[] } {
  const hinted = new Map<string, Set<string> | 'all'>();
  const unplaced: Pending[] = [];
  for (const hint of hints) {
    const rel = [relOf(hint.dir.key), hint.dir.rel].find(
      (candidate) => candidate !== undefined && dirKeyAt(candidate === '' ? root : `${root}/${candidate}`) === hint.dir.key,
    );
    if (rel === undefined) {
      unplaced.push(hint);
      continue;
    }
    hint.dir.rel = rel;
    const before = hinted.get(rel);
    if (hint.all || before === 'all') hinted.set(rel, 'all');
    else hinted.set(rel, before === undefined ? new Set(hint.names) : new Set([...before, ...hint.names]));
  }
  return { hinted, unplaced };
}
