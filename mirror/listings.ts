/**
 * The disk side of a reconcile (reconcile.ts): the listings it works on,
 * and the problems met while making them.
 *
 *   whole     a scan lists the mirrored root and every directory below
 *             it; a hint batch lists a directory whole when the watcher
 *             named no name it could read (a name that is not UTF-8), and
 *             the reconcile lists each directory it finds new, with its
 *             subtree
 *   partial   a hint batch looks at the names the watcher named, each
 *             lstat'ed now: the directory's other entries are as they were
 *
 * Every listing leaves out what is ignored. A directory is watched before
 * it is listed (the mirror's `beforeList`), so a change made in it after
 * the listing began is hinted; one whose listing was cut short (it moved
 * away meanwhile) is not `listedWhole`, and the reconcile lists it where
 * it finds it. What cannot be listed, or held by the
 * engine (disk.ts), is a problem naming its disk path and where the
 * engine's tree may differ because of it (`enginePath`); a directory that
 * cannot be read is reported once per reconcile and its mirrored entries
 * are left as they were.
 */
import { dirKeyAt, isUnmirrorable, type DiskEntry, type Listing, listDir, lstatEntry, type Unmirrorable } from './disk.js';
import { join } from './tree.js';

/** A path the mirror could not read or apply, and why. */
export interface MirrorProblem {
  /** On disk (a name that is not UTF-8 with its bad bytes as `\xNN`). */
  path: string;
  /** EPERM (not readable), EILSEQ (a name or symlink target that is not UTF-8), EFBIG (a size past 2^53 - 1), EMLINK (a file with links outside the tree), ENOENT (the mirrored directory gone), ENOSPC (no inotify watch left), or the code of a change the engine refused. */
  code: string;
  /** `CODE: path: what`. */
  message: string;
  /** Where the engine's tree may differ from the disk because of it (at and below): the path of its loss note. */
  enginePath: string;
}

/** What the reconciler tells its mirror. */
export interface ReconcileHooks {
  /** What to leave out, by rel path. */
  ignored: (rel: string) => boolean;
  /** Before a directory is listed (its watch begins): its disk identity, null when it cannot be watched. */
  beforeList?: (rel: string) => string | null;
  /** A mirrored directory of this disk identity left the tree (its watch ends). */
  removedDir?: (key: string) => void;
}

/** A hint batch: the names to look at in each directory, or all its entries. */
export type Hinted = ReadonlyMap<string, ReadonlySet<string> | 'all'>;

/** What a reconcile counts while it lists. */
export interface Listed {
  entries: number;
  changes: number;
  problems: MirrorProblem[];
}

export class Lister {
  /** The identities of the directories listed whole after their watch began: a hint is heard for all that changes in them. */
  readonly listedWhole = new Set<string>();
  #listed: Listed = { entries: 0, changes: 0, problems: [] };
  /** Directories this reconcile could not list: reported once. */
  #unreadable = new Set<string>();

  readonly #root: string;
  readonly #enginePath: (rel: string) => string;
  readonly #hooks: ReconcileHooks;
  constructor(
    /** The real directory. */
    root: string,
    /** The engine path of a rel path. */
    enginePath: (rel: string) => string,
    hooks: ReconcileHooks,
  ) {
    this.#hooks = hooks;
    this.#enginePath = enginePath;
    this.#root = root;
  }

  /** Starts a reconcile's counts, which the reconcile goes on filling. */
  begin(): Listed {
    this.#unreadable = new Set();
    this.#listed = { entries: 0, changes: 0, problems: [] };
    return this.#listed;
  }

  /** Lists `top` and every directory below it. One that went meanwhile has no listing: its parent's, or the next hint, shows that. */
  async collect(top: string, onListed?: (entries: number) => void): Promise<Map<string, Listing>> {
    const listings = new Map<string, Listing>();
    const queue = [top];
    for (let at = 0; at < queue.length; at++) {
      const rel = queue[at]!;
      if (this.#unreadable.has(rel)) continue; // reported once
      const listing = await this.list(rel);
      if (listing === null) continue;
      listings.set(rel, listing);
      this.#listed.entries += listing.entries.size;
      onListed?.(this.#listed.entries);
      for (const [name, entry] of listing.entries) if (entry.type === 'dir') queue.push(join(rel, name));
    }
    return listings;
  }

  /** The listings of a hint batch. */
  async hinted(hinted: Hinted): Promise<Map<string, Listing>> {
    const listings = new Map<string, Listing>();
    for (const [dir, named] of hinted) {
      const listing = named === 'all' ? await this.list(dir) : this.#lookAt(dir, named);
      if (listing === null) continue;
      listings.set(dir, listing);
      this.#listed.entries += listing.entries.size;
    }
    return listings;
  }

  /** A directory's listing (watched first); null if it is gone; a problem (and null) if it cannot be read. */
  async list(rel: string): Promise<Listing | null> {
    try {
      const key = this.#hooks.beforeList === undefined ? dirKeyAt(this.#diskPath(rel)) : this.#hooks.beforeList(rel);
      const listing = await listDir(this.#diskPath(rel));
      if (key !== null) this.listedWhole.add(key);
      for (const name of [...listing.entries.keys()]) if (this.#hooks.ignored(join(rel, name))) listing.entries.delete(name);
      for (const [name, what] of listing.unmirrorable ?? []) {
        if (this.#hooks.ignored(join(rel, name))) listing.unmirrorable!.delete(name);
        else this.#unmirrorable(join(rel, name), what);
      }
      return listing;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (rel !== '' && (code === 'ENOENT' || code === 'ENOTDIR')) return null;
      if (rel === '') throw error;
      this.#unreadable.add(rel);
      this.problem(rel, error);
      return null;
    }
  }

  /** A partial listing of `dir`: the names given, each lstat'ed now. */
  #lookAt(dir: string, named: ReadonlySet<string>): Listing {
    const only = new Set([...named].filter((name) => !this.#hooks.ignored(join(dir, name))));
    const entries = new Map<string, DiskEntry>();
    for (const name of only) {
      const path = join(dir, name);
      try {
        const entry = lstatEntry(`${this.#root}/${path}`);
        if (isUnmirrorable(entry)) {
          this.#unmirrorable(path, entry);
          only.delete(name);
        } else if (entry !== null) {
          entries.set(name, entry);
        }
      } catch (error) {
        // A parent that is now a file: as good as gone. Anything else: said, and the entry left as it was.
        if ((error as { code?: string }).code === 'ENOTDIR') continue;
        this.problem(path, error);
        only.delete(name);
      }
    }
    return { entries, only };
  }

  /** A failure at `rel` (an error whose message starts with its code and the path). */
  problem(rel: string, error: unknown): void {
    const code = (error as { code?: string }).code ?? 'EIO';
    this.#listed.problems.push({
      path: this.#diskPath(rel),
      code,
      message: error instanceof Error ? error.message : String(error),
      enginePath: this.#enginePath(rel),
    });
  }

  /** A file of `nlink` links with only `inside` names in the tree (reconcile.ts). */
  linkedOutside(rel: string, nlink: number, inside: number): void {
    const path = this.#diskPath(rel);
    const message = `EMLINK: ${path}: a file of ${nlink} links, ${inside} of them in the mirrored tree: it may change through a link outside the tree, unheard until a scan`;
    this.#listed.problems.push({ path, code: 'EMLINK', message, enginePath: this.#enginePath(rel) });
  }

  #unmirrorable(rel: string, what: Unmirrorable): void {
    const path = this.#diskPath(rel);
    this.#listed.problems.push({
      path,
      code: what.unmirrorable,
      message: `${what.unmirrorable}: ${path}: ${what.why}: not mirrored`,
      enginePath: this.#enginePath(rel),
    });
  }

  #diskPath(rel: string): string {
    return rel === '' ? this.#root : `${this.#root}/${rel}`;
  }
}
