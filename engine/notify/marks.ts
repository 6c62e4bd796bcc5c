/**
 * Who gets which event: marks, and the matching rules of Linux fanotify.
 *
 * A mark has a scope (an inode, a mount = a directory's subtree by path, or
 * the whole filesystem), a mask and an ignore mask. For one event and one
 * group, the marks that apply are:
 *   - an inode mark on the event's object, for events about the object;
 *   - an inode mark on the object's parent directory: for dirent events
 *     (create, delete, moves, link, symlink: they happen to the directory)
 *     always (FAN_RENAME: the old and the new directory), for other events
 *     only with FAN_EVENT_ON_CHILD;
 *   - a mount mark whose directory contains the event's path (for
 *     FAN_RENAME, the old path too);
 *   - a filesystem mark.
 * The group receives the event's bits that any applicable mark asks for and
 * no applicable mark ignores. An event about a directory (FAN_ONDIR in its
 * mask) reaches a group only if an applicable mark has FAN_ONDIR.
 */
import { FAN_ALL_EVENTS, FAN_DIRENT_EVENTS, FAN_EVENT_ON_CHILD, FAN_ONDIR, FAN_RENAME, type Mask } from './masks.js';
import type { AnyRecordFields, Fid } from '../record/record.js';

export type MarkScope = 'inode' | 'mount' | 'filesystem';

export interface Mark {
  scope: MarkScope;
  /** Inode marks: the marked object. */
  fid?: Fid;
  /** Mount marks: the canonical path of the marked directory; inode marks: the path it was marked by. */
  path?: string;
  mask: Mask;
  ignore: Mask;
}

/** The key that identifies a mark within a group: adding to it ORs masks. */
export function markKey(mark: Pick<Mark, 'scope' | 'fid' | 'path'>): string {
  if (mark.scope === 'inode') return `inode:${mark.fid!.ino}:${mark.fid!.gen}`;
  if (mark.scope === 'mount') return `mount:${mark.path}`;
  return 'filesystem';
}

function sameFid(a: Fid | undefined, b: Fid | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.gen === b.gen;
}

function under(path: string | undefined, mountPath: string): boolean {
  if (path === undefined) return false;
  return mountPath === '/' || path === mountPath || path.startsWith(`${mountPath}/`);
}

/**
 * The bits of `event` that a group with `marks` receives (with FAN_ONDIR
 * kept when the event is about a directory), or 0n if none.
 */
export function matchMarks(marks: Iterable<Mark>, event: AnyRecordFields): Mask {
  const eventMask = event.mask ?? 0n;
  const bits = eventMask & FAN_ALL_EVENTS;
  const isDirent = (bits & FAN_DIRENT_EVENTS) !== 0n;
  const isDir = (eventMask & FAN_ONDIR) !== 0n;
  // FAN_RENAME is about both directories; every other event about one place.
  const isRename = (bits & FAN_RENAME) !== 0n;
  let wanted = 0n;
  let ignored = 0n;
  let ondir = false;
  for (const mark of marks) {
    let applies: boolean;
    if (mark.scope === 'filesystem') applies = true;
    else if (mark.scope === 'mount') applies = under(event.path, mark.path!) || (isRename && under(event.oldPath, mark.path!));
    else if (isDirent) applies = sameFid(mark.fid, event.parentFid) || (isRename && sameFid(mark.fid, event.oldParentFid));
    else applies = sameFid(mark.fid, event.fid) || (sameFid(mark.fid, event.parentFid) && (mark.mask & FAN_EVENT_ON_CHILD) !== 0n);
    if (!applies) continue;
    wanted |= mark.mask;
    ignored |= mark.ignore;
    if ((mark.mask & FAN_ONDIR) !== 0n) ondir = true;
  }
  if (isDir && !ondir) return 0n;
  const delivered = bits & wanted & ~ignored;
  if (delivered === 0n) return 0n;
  return isDir ? delivered | FAN_ONDIR : delivered;
}
