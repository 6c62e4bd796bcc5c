/**
 * What a mirror reads of a real directory: `lstat` of each entry (never
 * following a symlink), with times in nanoseconds, and directory listings.
 * This is the truth a mirror reconciles against; watcher events are only
 * hints of where to look (mirror.ts).
 *
 * An entry's identity is its `key`, `dev:ino:birth`: the same key at two
 * paths is a hard link, and a key that leaves one path and appears at
 * another is a rename. The birth time (statx's btime, which Node's bigint
 * lstat gives) tells an inode the filesystem reused from the object that
 * had it: ext4 hands a deleted file's inode to the next object made, at
 * once, and without it `rm a; mkdir b` would look like a rename of a onto
 * b. Where the filesystem has no birth time (0), the key is `dev:ino:0`
 * and the reconcile's other clue, the type (never matched across types,
 * reconcile.ts), is all there is.
 *
 * What the engine cannot hold as it is on disk is never dropped in
 * silence: it is `Unmirrorable`, which the reconcile reports.
 *
 *   EILSEQ  a name, or a symlink's target, that is not UTF-8 (names are
 *           read as bytes; a string would have turned the bad bytes into
 *           U+FFFD, and lstat of that name finds nothing). Shown with
 *           each byte that is not UTF-8 as `\xNN`.
 *   EFBIG   a file larger than 2^53 - 1 bytes (a sparse one: tmpfs allows
 *           2^60), beyond what fanlog records exactly
 *   EOPNOTSUPP  a FIFO, socket or device node: the simulated filesystem has
 *           no such objects
 */
import { type BigIntStats, lstatSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { MirrorType } from '../engine/fs/fs-mirror.js';
import type { Stat } from '../engine/record/record.js';
import { fromIoError } from '../errors.js';

/** An entry as lstat(2) gives it: stat's fields (the mode's permission bits only; a size for files alone), with its type and identity instead of the inode number. */
export interface DiskEntry extends Omit<Stat, 'ino'> {
  type: MirrorType;
  /** `dev:ino:birth` (see the header). */
  key: string;
  /** Symlinks: the target. */
  target?: string;
}

/** An entry the engine cannot hold as it is on disk (see the header). */
export interface Unmirrorable {
  unmirrorable: 'EILSEQ' | 'EFBIG' | 'EOPNOTSUPP';
  /** What it is, after the path (`a name that is not UTF-8`). */
  why: string;
}

/** A directory's entries by name (those of a type the mirror keeps). */
export interface Listing {
  entries: Map<string, DiskEntry>;
  /** A partial listing (a hint's): only these names were looked at; the directory's other entries are as they were. */
  only?: ReadonlySet<string>;
  /** Entries the engine cannot hold, by name (a name that is not UTF-8: escaped). The engine's entry of such a name, if any, is left as it was. */
  unmirrorable?: Map<string, Unmirrorable>;
}

/**
 * lstat runs synchronously, this many at a time, then the event loop gets
 * a turn: a synchronous lstat costs a third of a promised one (measured,
 * 160,000/s against 110,000/s), and a chunk blocks for about 2 ms.
 */
const CHUNK = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A name read as bytes, as a string: null when it is not UTF-8. */
export function decodeName(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Bytes as text for people: UTF-8 as it is, each other byte as `\xNN`. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  let from = 0;
  for (let at = 0; at < bytes.length;) {
    const length = utf8SequenceAt(bytes, at);
    if (length > 0) {
      at += length;
      continue;
    }
    out += new TextDecoder().decode(bytes.subarray(from, at)) + `\\x${bytes[at]!.toString(16).padStart(2, '0')}`;
    from = ++at;
  }
  return out + new TextDecoder().decode(bytes.subarray(from));
}

/** The length of the well-formed UTF-8 sequence at `at`, or 0. */
function utf8SequenceAt(b: Uint8Array, at: number): number {
  const lead = b[at]!;
  if (lead < 0x80) return 1;
  const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length === 0 || at + length > b.length) return 0;
  for (let i = 1; i < length; i++) if ((b[at + i]! & 0xc0) !== 0x80) return 0;
  const second = b[at + 1]!;
  // Overlong forms, surrogates and code points past U+10FFFF.
  if ((lead === 0xe0 && second < 0xa0) || (lead === 0xed && second > 0x9f) || (lead === 0xf0 && second < 0x90) || (lead === 0xf4 && second > 0x8f)) return 0;
  return length;
}

function typeOf(stats: BigIntStats): MirrorType | null {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  return null;
}

/** What a special file is, in words. */
function specialKind(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return 'special file';
}

/** A disk object's identity (see the header). Typed by the fields it reads, so that the public types need no @types/node. */
export function keyOf(stats: { dev: bigint; ino: bigint; birthtimeNs: bigint }): string {
  return `${stats.dev}:${stats.ino}:${stats.birthtimeNs}`;
}

/** The identity of the directory at `path`; null when no directory is there (or it cannot be looked at). */
export function dirKeyAt(path: string): string | null {
  try {
    const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    return stats?.isDirectory() === true ? keyOf(stats) : null;
  } catch {
    return null;
  }
}

/** The entry at `path`; null when nothing is there (or nothing the mirror keeps). Other failures are FanlogErrors naming the path. */
export function lstatEntry(path: string): DiskEntry | Unmirrorable | null {
  let stats: BigIntStats | undefined;
  try {
    stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    throw fromIoError(error, path);
  }
  if (stats === undefined) return null;
  const type = typeOf(stats);
  if (type === null) return { unmirrorable: 'EOPNOTSUPP', why: `a ${specialKind(stats)}, which the engine's filesystem has no type for` };
  if (type === 'file' && stats.size > BigInt(Number.MAX_SAFE_INTEGER)) return { unmirrorable: 'EFBIG', why: `a file of ${stats.size} bytes, beyond 2^53 - 1` };
  const entry: DiskEntry = {
    type,
    key: keyOf(stats),
    mode: Number(stats.mode & 0o7777n),
    uid: Number(stats.uid),
    gid: Number(stats.gid),
    size: type === 'file' ? Number(stats.size) : 0,
    nlink: Number(stats.nlink),
    atime: stats.atimeNs,
    mtime: stats.mtimeNs,
    ctime: stats.ctimeNs,
  };
  if (type === 'symlink') {
    let target: Buffer;
    try {
      target = readlinkSync(path, { encoding: 'buffer' });
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return null;
      throw fromIoError(error, path);
    }
    const text = decodeName(target);
    if (text === null) return { unmirrorable: 'EILSEQ', why: `a symlink whose target is not UTF-8 (${escapeBytes(target)})` };
    entry.target = text;
  }
  return entry;
}

export const isUnmirrorable = (entry: DiskEntry | Unmirrorable | null): entry is Unmirrorable => entry !== null && 'unmirrorable' in entry;

/** The entries of directory `path`, each lstat'ed. A directory that cannot be read is a FanlogError (EPERM, ENOENT, ENOTDIR) naming it. */
export async function listDir(path: string): Promise<Listing> {
  let names: Buffer[];
  try {
    names = await readdir(path, { encoding: 'buffer' });
  } catch (error) {
    throw fromIoError(error, path);
  }
  const entries = new Map<string, DiskEntry>();
  let unmirrorable: Map<string, Unmirrorable> | undefined;
  for (let at = 0; at < names.length; at++) {
    if (at % CHUNK === CHUNK - 1) await new Promise((resolve) => setImmediate(resolve));
    const bytes = names[at]!;
    const name = decodeName(bytes);
    const entry = name === null ? ({ unmirrorable: 'EILSEQ', why: 'a name that is not UTF-8' } as const) : lstatEntry(`${path}/${name}`);
    if (entry === null) continue;
    if (isUnmirrorable(entry)) (unmirrorable ??= new Map()).set(name ?? escapeBytes(bytes), entry);
    else entries.set(name!, entry);
  }
  return unmirrorable === undefined ? { entries } : { entries, unmirrorable };
}
