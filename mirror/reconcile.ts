/**
 * Reconciling the engine's filesystem with a real directory: what a scan
 * does, whole (a rescan) or for the directories a watcher's hints name.
 *
 * Input: listings of some directories of the disk, `rel` paths ('' is the
 * mirrored root, 'a/b' below it), each lstat'ed now (disk.ts): whole for a
 * scan; for hints, only the names the watcher named (a partial listing:
 * the directory's other entries are taken as they were, so a hint costs
 * what it names, not what its directory holds). For each listed directory
 * the engine's entries (those named, in a partial listing) are made equal
 * to the disk's, in four steps, each change one engine operation
 * (engine/fs/fs-mirror.ts):
 *
 *   1. identify  an engine object whose disk identity (disk.ts) is not
 *                known (after a restart, identities are known again only
 *                by path) takes the identity of what is at its path on
 *                disk, if the type matches and the identity is not taken
 *   2. move      an object whose identity left its path and appears at
 *                another listed path, as the same type, is renamed there
 *                (shallowest first, so a directory moves with its
 *                children)
 *   3. delete    what the disk no longer has, or has as another object,
 *                goes (deepest first; a directory's children before it)
 *   4. create    what the disk has and the engine does not is made: a
 *                hard link when its identity is already mirrored, else
 *                created, and a new directory's subtree walked and made
 *      and sync  what both have gets the disk's mode, owner, size and times
 *
 * Identities (engine ino ↔ disk key) and the last ctime and link
 * count seen are kept in memory: a restart rebuilds them by path, which is
 * why a rename made while no mirror ran is seen as a delete and a create.
 * A directory that cannot be listed keeps its mirrored entries as they
 * were and is reported (`problems`); so is an entry the engine cannot
 * hold (disk.ts: a name or symlink target that is not UTF-8, a size past
 * 2^53 - 1), and a change the engine refused for its path. Each problem
 * names where the engine may differ (`enginePath`): the mirror journals a
 * loss note there (mirror.ts). The rest goes on.
 *
 * A directory is watched before it is listed (`beforeList`, mirror.ts), so
 * that what changes in it after the listing is hinted; the watch ends when
 * the directory leaves the mirrored tree (`removedDir`).
 *
 * Each engine operation checks and applies at once and is durable later:
 * up to IN_FLIGHT_MAX of them are in flight, so that they share the
 * journal's fdatasyncs; a reconcile resolves once all are durable.
 */
import type { EngineCore } from '../engine/engine.js';
import type { Inode } from '../engine/model/inode.js';
import type { Fid } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import { type DiskEntry, isUnmirrorable, type Listing, lstatEntry } from './disk.js';
import { type Hinted, Lister, type MirrorProblem, type ReconcileHooks } from './listings.js';
import { join, MirroredTree, splitRel } from './tree.js';

export type { Hinted, MirrorProblem, ReconcileHooks } from './listings.js';

/** What one reconcile did. */
export interface ReconcileResult {
  /** Entries listed. */
  entries: number;
  /** Engine operations journaled. */
  changes: number;
  problems: MirrorProblem[];
}

const IN_FLIGHT_MAX = 512;

/** Failures of one path, reported and stepped over; any other error (the engine failed) stops the scan. */
const PATH_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EEXIST', 'EPERM', 'EINVAL', 'ENAMETOOLONG', 'EBUSY', 'ELOOP', 'EFBIG']);

const depth = (rel: string): number => (rel === '' ? 0 : rel.split('/').length);

/** What the mirror knows of a mirrored object (by engine ino): its disk identity, and what it last saw of it. */
interface Known {
  key: string;
  ctime: bigint;
  nlink: number;
  /** Where it was last seen (a hint: checked before use). */
  rel: string;
}

export class Reconciler {
  readonly #known = new Map<number, Known>();
  /** Disk identity to engine ino: the reverse of #known. */
  readonly #inoOf = new Map<string, number>();
  #result: ReconcileResult = { entries: 0, changes: 0, problems: [] };
  #inFlight: Promise<void>[] = [];

  readonly #hooks: ReconcileHooks;
  readonly #disk: Lister;

  readonly #engine: EngineCore;
  readonly #root: string;
  constructor(
    engine: EngineCore,
    /** The real directory. */
    root: string,
    /** Where it is mirrored in the engine's filesystem. */
    into: string,
    hooks: ReconcileHooks,
  ) {
    this.#root = root;
    this.#engine = engine;
    this.#tree = new MirroredTree(engine.state, into);
    this.#hooks = hooks;
    this.#disk = new Lister(root, (rel) => this.#tree.enginePath(rel), hooks);
  }

  readonly #tree: MirroredTree;

  /** Where the mirrored directory of this disk identity is now, by the engine's tree; undefined when it mirrors none. */
  relOf(key: string): string | undefined {
    const ino = this.#inoOf.get(key);
    const inode = ino === undefined ? undefined : this.#engine.state.get(ino);
    if (inode?.type !== 'dir') return undefined;
    const hint = this.#known.get(inode.ino)?.rel;
    return hint !== undefined && this.#tree.inodeAt(hint)?.ino === inode.ino ? hint : this.#tree.dirRel(inode);
  }

  /** Reconciles the whole tree (a scan); `onListed` hears how many entries were listed so far. */
  async scan(onListed?: (entries: number) => void): Promise<ReconcileResult> {
    this.#result = this.#disk.begin();
    const listings = await this.#disk.collect('', onListed);
    await this.#syncRoot();
    this.#linkedOutside(listings);
    return this.#run(listings, onListed);
  }

  /**
   * A file with more links than the names a scan listed in the tree has a
   * name outside it (or an ignored one), through which it may be written
   * or chmod'ed with no event in any watched directory: each of its names
   * in the tree is a problem, checked again at each scan.
   */
  #linkedOutside(listings: Map<string, Listing>): void {
    const names = new Map<string, { nlink: number; paths: string[] }>();
    for (const [rel, listing] of listings) {
      for (const [name, entry] of listing.entries) {
        if (entry.type === 'dir' || entry.nlink < 2) continue;
        const seen = names.get(entry.key);
        if (seen === undefined) names.set(entry.key, { nlink: entry.nlink, paths: [join(rel, name)] });
        else seen.paths.push(join(rel, name));
      }
    }
    for (const { nlink, paths } of names.values()) if (nlink > paths.length) for (const rel of paths) this.#disk.linkedOutside(rel, nlink, paths.length);
  }

  /** Reconciles the named entries of each directory, or all of them (a watcher's hints), each lstat'ed now. */
  async reconcileNames(hinted: Hinted): Promise<ReconcileResult> {
    this.#result = this.#disk.begin();
    const listings = await this.#disk.hinted(hinted);
    // A change of the root itself (chmod) is heard by its own watch alone, as a hint in '' (of the root's own name).
    if (hinted.has('')) await this.#syncRoot();
    return this.#run(listings);
  }

  /** Removes every mirrored entry (the mirrored directory is gone): what a scan of an empty directory does. */
  async empty(): Promise<ReconcileResult> {
    this.#result = this.#disk.begin();
    const top = this.#tree.intoInode();
    for (const name of [...(top?.entries?.keys() ?? [])]) await this.#removeTree(name);
    await this.#drain();
    return this.#result;
  }

  async #run(listings: Map<string, Listing>, onListed?: (entries: number) => void): Promise<ReconcileResult> {
    this.#identify(listings);
    await this.#move(listings);
    await this.#delete(listings);
    await this.#create(listings, onListed);
    await this.#drain();
    return this.#result;
  }

  // ---- identities ---------------------------------------------------------

  #map(inode: Inode, entry: DiskEntry, rel: string): void {
    this.#known.set(inode.ino, { key: entry.key, ctime: entry.ctime, nlink: entry.nlink, rel });
    this.#inoOf.set(entry.key, inode.ino);
  }

  /** A path the mirrored object has now: the one last seen if it still holds it, else found by a search. */
  #pathNow(inode: Inode): string | undefined {
    const hint = this.#known.get(inode.ino)?.rel;
    return hint !== undefined && this.#tree.inodeAt(hint)?.ino === inode.ino ? hint : this.#tree.somePath(inode);
  }

  #forgetIfGone(ino: number): void {
    if (this.#engine.state.get(ino) !== undefined) return;
    const key = this.#known.get(ino)?.key;
    this.#known.delete(ino);
    if (key !== undefined && this.#inoOf.get(key) === ino) this.#inoOf.delete(key);
  }

  /**
   * Starts one engine operation (it checks and applies at once) and keeps
   * its durability in flight; a failure of its path is a problem, stepped
   * over. Resolves when there is room for the next.
   */
  async #apply(rel: string, change: () => Promise<unknown>): Promise<void> {
    this.#inFlight.push(
      change().then(
        () => void this.#result.changes++,
        (error: unknown) => {
          if (!(error instanceof FanlogError) || !PATH_CODES.has(error.code)) throw error;
          this.#disk.problem(rel, error);
        },
      ),
    );
    // A rolling window: the oldest is waited for, the rest stay in flight.
    if (this.#inFlight.length >= IN_FLIGHT_MAX) await this.#inFlight.shift();
  }

  /** Waits until every operation started is durable (or failed: the engine's failure is thrown). */
  async #drain(): Promise<void> {
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    await Promise.all(inFlight);
  }

  // ---- the four steps -----------------------------------------------------

  /** The engine's entries of `dir` a listing speaks for: all of them, or the names a partial listing looked at. A copy: the steps change the directory. */
  #engineEntries(dir: Inode, listing: Listing): [string, number][] {
    const kept = listing.unmirrorable;
    if (listing.only === undefined) return kept === undefined ? [...dir.entries!] : [...dir.entries!].filter(([name]) => !kept.has(name));
    const named: [string, number][] = [];
    for (const name of listing.only) {
      const ino = dir.entries!.get(name);
      if (ino !== undefined) named.push([name, ino]);
    }
    return named;
  }

  #identify(listings: Map<string, Listing>): void {
    for (const [rel, listing] of listings) {
      const dir = this.#tree.inodeAt(rel);
      if (dir?.entries === null || dir === undefined) continue;
      for (const [name, ino] of this.#engineEntries(dir, listing)) {
        const inode = this.#engine.state.get(ino)!;
        const entry = listing.entries.get(name);
        if (this.#known.has(ino) || entry === undefined || entry.type !== inode.type) continue;
        const holder = this.#inoOf.get(entry.key);
        if (holder === undefined || this.#engine.state.get(holder) === undefined) this.#map(inode, entry, join(rel, name));
      }
    }
  }

  async #move(listings: Map<string, Listing>): Promise<void> {
    const at = new Map<string, string[]>(); // disk key and type -> listed paths
    const where = (key: string, type: string): string => `${type} ${key}`;
    for (const [rel, listing] of listings)
      for (const [name, entry] of listing.entries) at.set(where(entry.key, entry.type), [...(at.get(where(entry.key, entry.type)) ?? []), join(rel, name)]);
    const moves: { parent: number; name: string; ino: number; to: string }[] = [];
    for (const [rel, listing] of listings) {
      const dir = this.#tree.inodeAt(rel);
      if (dir?.entries === null || dir === undefined) continue;
      for (const [name, ino] of this.#engineEntries(dir, listing)) {
        const key = this.#known.get(ino)?.key;
        if (key === undefined || listing.entries.get(name)?.key === key) continue;
        // Never across types: a directory that took a deleted file's inode is not that file.
        const to = (at.get(where(key, this.#engine.state.get(ino)!.type)) ?? []).find((path) => this.#tree.inodeAt(path)?.ino !== ino);
        if (to !== undefined) moves.push({ parent: dir.ino, name, ino, to });
      }
    }
    moves.sort((a, b) => depth(a.to) - depth(b.to));
    for (const move of moves) {
      const parent = this.#engine.state.get(move.parent);
      const parentRel = parent === undefined ? undefined : this.#tree.dirRel(parent);
      if (parentRel === undefined || parent!.entries!.get(move.name) !== move.ino) continue;
      const [toDir, toName] = splitRel(move.to);
      const target = this.#tree.inodeAt(toDir);
      if (target?.type !== 'dir') continue;
      const occupant = this.#tree.inodeAt(move.to);
      const moving = this.#engine.state.get(move.ino)!;
      if (occupant !== undefined && (occupant.type !== moving.type || (occupant.entries?.size ?? 0) > 0)) await this.#removeTree(move.to);
      const from = join(parentRel, move.name);
      await this.#apply(move.to, () => this.#engine.mirrored.mirrorRename(this.#tree.enginePath(from), this.#tree.enginePath(move.to)));
      if (occupant !== undefined) this.#forgetIfGone(occupant.ino);
      // A rename moves the ctime on disk too: that is not a content change.
      const arrived = listings.get(toDir)?.entries.get(toName);
      if (arrived !== undefined && this.#tree.inodeAt(move.to)?.ino === move.ino) this.#map(this.#engine.state.get(move.ino)!, arrived, move.to);
    }
  }

  async #delete(listings: Map<string, Listing>): Promise<void> {
    const deepestFirst = [...listings.keys()].sort((a, b) => depth(b) - depth(a));
    for (const rel of deepestFirst) {
      const dir = this.#tree.inodeAt(rel);
      if (dir?.entries === null || dir === undefined) continue;
      const listing = listings.get(rel)!;
      for (const [name, ino] of this.#engineEntries(dir, listing)) {
        const inode = this.#engine.state.get(ino)!;
        const entry = listing.entries.get(name);
        const key = this.#known.get(ino)?.key;
        const same = entry !== undefined && entry.type === inode.type && (key === undefined ? this.#inoOf.get(entry.key) === undefined : key === entry.key);
        if (!same) await this.#removeTree(join(rel, name));
      }
    }
  }

  /** Removes what the engine has at `rel`, a directory's children first. */
  async #removeTree(rel: string): Promise<void> {
    const inode = this.#tree.inodeAt(rel);
    if (inode === undefined) return;
    if (inode.entries !== null) for (const name of [...inode.entries.keys()]) await this.#removeTree(join(rel, name));
    const key = this.#known.get(inode.ino)?.key;
    await this.#apply(rel, () => this.#engine.mirrored.mirrorRemove(this.#tree.enginePath(rel)));
    if (inode.type === 'dir' && key !== undefined && this.#engine.state.get(inode.ino) === undefined) {
      this.#disk.listedWhole.delete(key);
      this.#hooks.removedDir?.(key);
    }
    this.#forgetIfGone(inode.ino);
    if (this.#engine.state.get(inode.ino) !== undefined) await this.#lookAgain(inode);
  }

  /**
   * A file that keeps other names when one goes: a watcher hears a write
   * only in the directory of the name written through, so if that name is
   * gone by now, the file is looked at through a name left.
   */
  async #lookAgain(inode: Inode): Promise<void> {
    const rel = this.#pathNow(inode);
    const key = this.#known.get(inode.ino)?.key;
    if (rel === undefined || key === undefined) return;
    let entry: ReturnType<typeof lstatEntry>;
    try {
      entry = lstatEntry(`${this.#root}/${rel}`);
    } catch {
      return; // the next hint or scan
    }
    if (entry !== null && !isUnmirrorable(entry) && entry.key === key) await this.#sync(rel, inode, entry);
  }

  async #create(listings: Map<string, Listing>, onListed?: (entries: number) => void): Promise<void> {
    const queue = [...listings.keys()].sort((a, b) => depth(a) - depth(b));
    for (let i = 0; i < queue.length; i++) {
      const rel = queue[i]!;
      const dir = this.#tree.inodeAt(rel);
      if (dir?.type !== 'dir') continue;
      for (const [name, entry] of listings.get(rel)!.entries) {
        const path = join(rel, name);
        const inode = this.#tree.inodeAt(path);
        if (inode !== undefined) await this.#sync(path, inode, entry);
        else if (!(await this.#make(path, entry))) continue;
        // A directory a hint found new (its whole subtree is new), or one whose listing was cut short when it moved away: listed now, with its subtree.
        if (entry.type === 'dir' && !listings.has(path) && (inode === undefined || !this.#disk.listedWhole.has(entry.key))) {
          for (const [below, listing] of await this.#disk.collect(path, onListed)) {
            listings.set(below, listing);
            queue.push(below);
          }
        }
      }
    }
  }

  /** A hard link to the mirrored object of the same identity, or a new object; whether it was made. */
  async #make(rel: string, entry: DiskEntry): Promise<boolean> {
    const holder = this.#inoOf.get(entry.key);
    const linked = holder === undefined ? undefined : this.#engine.state.get(holder);
    const existing = linked !== undefined && linked.type === entry.type && entry.type !== 'dir' ? this.#pathNow(linked) : undefined;
    if (existing !== undefined) {
      await this.#apply(rel, () => this.#engine.mirrored.mirrorLink(this.#tree.enginePath(existing), this.#tree.enginePath(rel)));
      const linked = this.#tree.inodeAt(rel);
      // The object may have changed since it was last looked at, and this name may be all a watcher names (a write through it).
      if (linked !== undefined) await this.#sync(rel, linked, entry);
      return linked !== undefined;
    }
    let made: { fid: Fid; durable: Promise<void> };
    try {
      made = this.#engine.mirrored.mirrorCreate(this.#tree.enginePath(rel), entry.type, entry, entry.target);
    } catch (error) {
      await this.#apply(rel, async () => {
        throw error;
      });
      return false;
    }
    this.#map(this.#engine.state.byFid(made.fid)!, entry, rel);
    await this.#apply(rel, () => made.durable);
    return true;
  }

  /** The mirrored root's own mode and owner. */
  async #syncRoot(): Promise<void> {
    const entry = lstatEntry(this.#root);
    const inode = this.#tree.intoInode();
    if (entry !== null && !isUnmirrorable(entry) && entry.type === 'dir' && inode !== undefined) await this.#sync('', inode, entry);
  }

  async #sync(rel: string, inode: Inode, entry: DiskEntry): Promise<void> {
    const seen = this.#known.get(inode.ino);
    const owner = entry.mode !== inode.mode || entry.uid !== inode.uid || entry.gid !== inode.gid;
    // A ctime that moved with nothing else to show for it: content written with its mtime put back.
    const content = seen !== undefined && seen.ctime !== entry.ctime && seen.nlink === entry.nlink && !owner;
    const times = inode.type !== 'dir' && entry.mtime !== inode.mtime;
    const size = inode.type === 'file' && entry.size !== inode.size;
    if (owner || content || times || size) await this.#apply(rel, () => this.#engine.mirrored.mirrorSync(this.#tree.enginePath(rel), entry, content));
    this.#map(inode, entry, rel);
  }
}
