/**
 * What changed since a seq, one entry per object: the incremental backup's
 * question (watchman's `since`, Windows' change journal read by a backup
 * tool), answered from the journal and the filesystem's state now.
 *
 * How. The event records after `since` are read, through the journal's
 * durable seq when the call starts (`seq` in the answer), from their bytes
 * (op records and the other kinds are stepped over unread). Each event's
 * object (its fid) gathers the union of its masks, the seq of its last
 * event, the paths it was reached by, and its (parent, name) places. Then,
 * with no await between, each object is looked up in the state now:
 *
 *   it exists          `exists: true`, its stat now, and its paths now:
 *                      a directory's from its parent links; a file's from
 *                      the places its events named that still hold it,
 *                      and, when those are fewer than its links (a link
 *                      made before `since`, or none named), from one walk
 *                      of the tree for the objects that need it
 *   it is gone         `exists: false`, and its last path
 *   it was created and is gone again
 *                      left out: it was not there at `since`, and is not now
 *
 * So a rename reports the object once, at its path now; a hard-linked
 * file once, with every path it has; and a renamed directory itself, not
 * what is below it (their paths changed with it, and their stats did not).
 * A name made or removed in a directory (CREATE, DELETE, MOVED_FROM,
 * MOVED_TO) changes the directory too, its entries and times, as Linux
 * reports those events to the directory: it is reported with those bits
 * and ONDIR.
 *
 * Consistency. The changes run through `seq`; an object's stat is its
 * state now, which may include changes after `seq` (an object changed
 * after `seq` is reported again by the next call, from `seq`): a backup
 * that copies what this says, and then asks from `seq`, misses nothing.
 *
 * `pathPrefix` keeps the objects one of whose paths (in the records read,
 * or now) is the prefix or below it, so an object moved out of the prefix
 * is reported (gone from it). `max` bounds the entries: the read stops
 * before the record that would add one more, `complete` is false, and
 * `seq` is where it stopped, for the next call to go on from.
 *
 * Records of a kernel's events (`source: 'fanotify'`) name objects by the
 * kernel's handles, not by this filesystem's fids: they are left out, and
 * counted (`external`), so that a caller is never told "nothing changed"
 * of a real filesystem's changelog.
 */
import type { Journal } from '../journal/journal.js';
import { FanlogError } from '../errors.js';
import { checkBigint, checkInteger, checkOptions, checkString } from '../validate.js';
import { headerKnown, kindAt, scanRecord } from './record/bytes.js';
import type { Fid, Stat } from './record/record.js';
import { LazyRecord, pathUnderAt } from './record/view.js';
import { FAN_ATTRIB, FAN_CREATE, FAN_DELETE, FAN_DELETE_SELF, FAN_MODIFY, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR, maskNames } from './notify/masks.js';
import type { FsState } from './model/fs-state.js';
import { type Inode, ROOT_INO, statOf } from './model/inode.js';
import { joinPath, parsePath } from './model/paths.js';

export interface ChangedObject {
  fid: Fid;
  /** Its paths now (every name of a hard-linked file, sorted); when it is gone, its last path. */
  paths: string[];
  exists: boolean;
  /** The union of the masks of its events after `since`. */
  mask: bigint;
  /** The seq of its last event. */
  lastSeq: bigint;
  /** Its stat now; null when it is gone. */
  stat: Stat | null;
}

export interface Changes {
  /** The seq asked from. */
  since: bigint;
  /** The changes run through this seq: ask from it next. */
  seq: bigint;
  /** False when `max` stopped the read before `seq` reached the durable seq of the call. */
  complete: boolean;
  /** One entry per object, in the order of their first change. */
  changes: ChangedObject[];
  /**
   * Records of a real filesystem's events (`source: 'fanotify'`, from
   * `engine.fanotify()`) read and left out: they name the kernel's objects,
   * not this engine's. Read those through a consumer. 0 when none.
   */
  external: number;
}

export interface ChangesOptions {
  /** Only objects one of whose paths is this one, or below it. */
  pathPrefix?: string;
  /** At most this many entries (default 100,000). */
  max?: number;
}

/** What changesSince needs of the engine. */
export interface ChangesSource {
  readonly journal: Journal;
  readonly readOnly: boolean;
  /** The events the changelog keeps: changesSince needs those of CHANGES_MASK. */
  readonly changelogMask: bigint;
  readonly state: FsState;
  readonly retainedFromSeq: bigint;
}

interface Gathered {
  fid: Fid;
  mask: bigint;
  lastSeq: bigint;
  /** The path of its deletion (DELETE or DELETE_SELF), its last when it is gone. */
  lastPath: string | undefined;
  /** Whether a path its records reached it by is under the prefix (always, without one). */
  inPrefix: boolean;
  /** The last place (parent, name) its records named, where its name is now unless it moved since. */
  parent: Fid | undefined;
  name: string | undefined;
  /** Whether its first event is its making (a create, mkdir or symlink): it did not exist at `since`. */
  born: boolean;
}

/** The events changesSince reads changes from: a changelog mask without one of them would hide changes. */
const CHANGES_MASK = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MODIFY | FAN_ATTRIB | FAN_DELETE_SELF;

/** Events that end an object, whose record's path is its last. */
const GONE_MASK = FAN_DELETE | FAN_DELETE_SELF;
/** Events that give an object a name. */
const NAMING_MASK = FAN_CREATE | FAN_MOVED_TO;
/** Events of a name made or removed in a directory: they change the directory too. */
const NAME_MASK = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO;

export async function changesSince(source: ChangesSource, since: bigint, options?: ChangesOptions): Promise<Changes> {
  checkBigint('since', since, 0n, 2n ** 64n - 1n);
  const opts = checkOptions<ChangesOptions>('options', options, ['pathPrefix', 'max']);
  const max = checkInteger('max', opts.max ?? 100_000, 1, 10_000_000);
  const prefix = opts.pathPrefix === undefined ? null : `/${parsePath(checkString('pathPrefix', opts.pathPrefix, 1, 4096), 'pathPrefix').join('/')}`;
  // The root holds everything: no prefix to test.
  const missing = CHANGES_MASK & ~source.changelogMask;
  if (missing !== 0n) {
    throw new FanlogError(
      'EINVAL',
      `the changelog keeps no ${maskNames(missing).join('|')} events (its changelog mask): changesSince would miss the changes they tell`,
    );
  }
  const prefixBytes = prefix === null || prefix === '/' ? null : new TextEncoder().encode(prefix);
  const { journal } = source;
  const durable = journal.durableSeq;
  if (since > durable) throw new FanlogError('EINVAL', `since ${since} is past the journal's durable seq ${durable}`);
  if (since + 1n < source.retainedFromSeq && since < durable) {
    throw new FanlogError(
      'EPURGED',
      `records from ${since + 1n} were purged (the oldest retained is ${source.retainedFromSeq}): changes since ${since} cannot be told; take a full backup`,
    );
  }
  const gatherer = new Gatherer(max, prefixBytes);
  let through = since;
  if (since < durable) {
    const reader = journal.read({ from: since + 1n, to: durable });
    try {
      await reader.each((b, start, end) => {
        const seq = reader.visitingSeq();
        if (!gatherer.visit(b, start, end, seq)) return false;
        through = seq;
        return true;
      });
    } finally {
      await reader.close();
    }
  }
  const changes = lookUp(source.state, gatherer.order, prefix);
  // The state looked at may hold operations not durable yet: the answer waits until they are, so that a crash cannot take back what it told.
  if (!source.readOnly && journal.headSeq > journal.durableSeq) await journal.sync();
  return { since, seq: through, complete: gatherer.complete, changes, external: gatherer.external };
}

/** The objects of the records read, in the order of their first change (see the header). */
class Gatherer {
  /** By inode number, the object of that number met first; another generation of the number (a reuse) by its fid. */
  readonly #byIno = new Map<number, Gathered>();
  readonly #reused = new Map<string, Gathered>();
  readonly order: Gathered[] = [];
  complete = true;
  /** Records of a kernel's events read and left out. */
  external = 0;

  constructor(
    readonly max: number,
    readonly prefixBytes: Uint8Array | null,
  ) {}

  /** Takes the record in; false (and not taken) when it would make one object more than max. */
  visit(b: Uint8Array, start: number, end: number, seq: bigint): boolean {
    if (!headerKnown(b, start, end)) scanRecord(b, start, end); // throws ECORRUPT saying why
    if (kindAt(b, start) !== 'event') return true;
    const record = new LazyRecord(seq, b, start, end, scanRecord(b, start, end));
    const fid = record.fid;
    if (record.source === 'fanotify') {
      this.external++;
      return true;
    }
    if (fid === undefined) return true;
    const mask = record.mask ?? 0n;
    let object = this.#find(fid);
    // A name made or removed in a directory changes the directory too (its entries, its times), as Linux reports it to the directory.
    const parent = object === undefined || object.parent === undefined || (mask & NAME_MASK) !== 0n ? record.parentFid : undefined;
    const directory = parent !== undefined && (mask & NAME_MASK) !== 0n ? parent : undefined;
    const adding = (object === undefined ? 1 : 0) + (directory !== undefined && this.#find(directory) === undefined ? 1 : 0);
    // A page takes its first record whatever it adds, so that every call makes progress.
    if (this.order.length + adding > this.max && this.order.length > 0) {
      this.complete = false;
      return false;
    }
    // Made here: its first event made it (CREATE, by any op but a link, which names one that exists).
    object ??= this.#add(fid, seq, (mask & FAN_CREATE) !== 0n && record.op !== 'link');
    if (mask !== object.mask) object.mask |= mask;
    object.lastSeq = seq;
    // Only a gone object's path is told from the records (its deletion's), and the prefix is tested on the bytes: nothing else is decoded.
    if ((mask & GONE_MASK) !== 0n) object.lastPath = record.path;
    if (!object.inPrefix) object.inPrefix = pathUnderAt(b, start, end, this.prefixBytes!);
    // A new name (made, moved to), or the first it was reached by: the place to look for it now.
    if (parent !== undefined && (object.parent === undefined || (mask & NAMING_MASK) !== 0n)) {
      object.parent = parent;
      object.name = record.name;
    }
    if (directory !== undefined) {
      const changed = this.#find(directory) ?? this.#add(directory, seq, false);
      changed.mask |= (mask & NAME_MASK) | FAN_ONDIR;
      changed.lastSeq = seq;
    }
    return true;
  }

  #find(fid: Fid): Gathered | undefined {
    const object = this.#byIno.get(fid.ino);
    return object === undefined || object.fid.gen === fid.gen ? object : this.#reused.get(`${fid.ino}:${fid.gen}`);
  }

  #add(fid: Fid, seq: bigint, born: boolean): Gathered {
    const object: Gathered = {
      fid,
      mask: 0n,
      lastSeq: seq,
      lastPath: undefined,
      inPrefix: this.prefixBytes === null,
      parent: undefined,
      name: undefined,
      born,
    };
    if (!this.#byIno.has(fid.ino)) this.#byIno.set(fid.ino, object);
    else this.#reused.set(`${fid.ino}:${fid.gen}`, object);
    this.order.push(object);
    return object;
  }
}

/** Each gathered object as it is now (see the header), in one synchronous pass over the state. */
function lookUp(state: FsState, gathered: Gathered[], prefix: string | null): ChangedObject[] {
  const places = new Places(state);
  const out: ChangedObject[] = [];
  for (const object of gathered) {
    const found = state.byFid(object.fid);
    // An object no name reaches (removed while a descriptor holds it open) is gone from the tree.
    const inode = found === undefined || !places.reachable(found) ? undefined : found;
    if (inode === undefined) {
      // Made after `since` and gone again: not there then, not there now.
      if (object.born || !object.inPrefix) continue;
      const paths = object.lastPath === undefined ? [] : [object.lastPath];
      out.push({ fid: object.fid, paths, exists: false, mask: object.mask, lastSeq: object.lastSeq, stat: null });
      continue;
    }
    const paths = places.pathsOf(inode, object);
    if (!object.inPrefix && !paths.some((path) => under(path, prefix!))) continue;
    out.push({ fid: object.fid, paths, exists: true, mask: object.mask, lastSeq: object.lastSeq, stat: statOf(inode) });
  }
  return out;
}

function under(path: string, prefix: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

/** Where objects are now: directories' paths (kept once found), and every name of every file, from one walk of the tree made on first need. */
class Places {
  readonly #state: FsState;
  readonly #directories = new Map<number, string | null>();
  #names: Map<number, string[]> | null = null;

  constructor(state: FsState) {
    this.#state = state;
  }

  /** Whether a name reaches `inode` from the root: false for an object removed while open, or one below a removed directory. */
  reachable(inode: Inode): boolean {
    if (inode.ino === ROOT_INO) return true;
    if (inode.type !== 'dir') return inode.nlink > 0;
    return this.#directory(inode) !== null;
  }

  /** The paths of `inode` now (see the header). */
  pathsOf(inode: Inode, object: Gathered): string[] {
    if (inode.type === 'dir') return [this.#directory(inode)!];
    const { parent, name } = object;
    // The last place its events named, when it holds its one name still: the common case, without a walk.
    if (inode.nlink === 1 && parent !== undefined) {
      const dir = this.#state.byFid(parent);
      const dirPath = dir?.entries?.get(name!) === inode.ino ? this.#directory(dir) : null;
      if (dirPath !== null) return [joinPath(dirPath, name!)];
    }
    return [...this.#walked(inode.ino)].sort();
  }

  /** A directory's path from its parent links, kept once found; null when no name reaches it (removed while open). */
  #directory(dir: Inode): string | null {
    if (dir.ino === ROOT_INO) return '/';
    const known = this.#directories.get(dir.ino);
    if (known !== undefined) return known;
    const parent = this.#state.get(dir.parent);
    let name: string | undefined;
    for (const [entry, ino] of parent?.entries ?? []) {
      if (ino === dir.ino) {
        name = entry;
        break;
      }
    }
    const parentPath = parent === undefined || name === undefined || parent.ino === dir.ino ? null : this.#directory(parent);
    const path = parentPath === null ? null : joinPath(parentPath, name!);
    this.#directories.set(dir.ino, path);
    return path;
  }

  #walked(ino: number): string[] {
    if (this.#names === null) {
      const names = new Map<number, string[]>();
      const walk = (dir: Inode, dirPath: string): void => {
        for (const [name, child] of dir.entries!) {
          const inode = this.#state.get(child)!;
          const path = joinPath(dirPath, name);
          if (inode.type === 'dir') walk(inode, path);
          else names.set(child, [...(names.get(child) ?? []), path]);
        }
      };
      walk(this.#state.get(ROOT_INO)!, '/');
      this.#names = names;
    }
    return this.#names.get(ino) ?? [];
  }
}
