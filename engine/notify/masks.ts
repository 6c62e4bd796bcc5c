/**
 * Event masks and responses, 64-bit.
 *
 * The low 32 bits carry the Linux fanotify values exactly, so that a reader
 * who knows <linux/fanotify.h> is at home. The high 32 bits are fanlog's own
 * changelog events (docs/design.md, "Data model").
 */

/** A 64-bit event mask. */
export type Mask = bigint;

/** A file was read. */
export const FAN_ACCESS = 0x1n;
/** A file was written (or truncated). */
export const FAN_MODIFY = 0x2n;
/** Metadata changed: mode, owner, times, xattrs, link count. */
export const FAN_ATTRIB = 0x4n;
/** A file opened for writing was closed. */
export const FAN_CLOSE_WRITE = 0x8n;
/** A file opened read-only was closed. */
export const FAN_CLOSE_NOWRITE = 0x10n;
/** A file or directory was opened. */
export const FAN_OPEN = 0x20n;
/** An entry left this directory (rename). */
export const FAN_MOVED_FROM = 0x40n;
/** An entry arrived in this directory (rename). */
export const FAN_MOVED_TO = 0x80n;
/** An entry was created in this directory. */
export const FAN_CREATE = 0x100n;
/** An entry was deleted from this directory. */
export const FAN_DELETE = 0x200n;
/** The object itself was deleted (its last link went and it was released). */
export const FAN_DELETE_SELF = 0x400n;
/** The object itself was moved. */
export const FAN_MOVE_SELF = 0x800n;
/** A file was opened for execution. */
export const FAN_OPEN_EXEC = 0x1000n;
/** A group's queue overflowed: events were dropped (one such event stands for them). */
export const FAN_Q_OVERFLOW = 0x4000n;
/** A filesystem error (Linux's value; fanlog raises none). */
export const FAN_FS_ERROR = 0x8000n;
/** Permission: may this open go on? (content and pre-content groups) */
export const FAN_OPEN_PERM = 0x10000n;
/** Permission: may this read go on? (content and pre-content groups) */
export const FAN_ACCESS_PERM = 0x20000n;
/** Permission: may this open for execution go on? */
export const FAN_OPEN_EXEC_PERM = 0x40000n;
/** Pre-content permission, with the range about to be read: fill it, then answer (pre-content groups). */
export const FAN_PRE_ACCESS = 0x100000n;
/** Mark flag: events on a directory's children reach its inode mark. */
export const FAN_EVENT_ON_CHILD = 0x8000000n;
/** A rename, reported once on the old directory with both names. */
export const FAN_RENAME = 0x10000000n;
/** Flag: the object is a directory (in marks: report directories too). */
export const FAN_ONDIR = 0x40000000n;

/** fanlog's own: pre-content permission with the range about to be written or truncated. */
export const FAN_PRE_MODIFY = 1n << 32n;
/** fanlog's own: an extended attribute was set or removed. */
export const FAN_XATTR = 1n << 33n;
/** fanlog's own: a hard link was made. */
export const FAN_LINK = 1n << 34n;
/** fanlog's own: a symlink was made (its record carries the target). */
export const FAN_SYMLINK = 1n << 35n;
/** fanlog's own: a file's size was changed by truncate. */
export const FAN_TRUNCATE = 1n << 36n;
/** fanlog's own: an HSM filled a range or released a file's content. */
export const FAN_HSM = 1n << 37n;

/** Either close event. */
export const FAN_CLOSE = FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE;
/** Either move event. */
export const FAN_MOVE = FAN_MOVED_FROM | FAN_MOVED_TO;

/** Permission events: the operation waits for an answer. */
export const FAN_PERMISSION_EVENTS = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM;
/** Pre-content events: permission events that carry the range about to be accessed. */
export const FAN_PRE_CONTENT_EVENTS = FAN_PRE_ACCESS | FAN_PRE_MODIFY;

/** Events about a directory entry: reported on the directory, naming the child. */
export const FAN_DIRENT_EVENTS = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME | FAN_LINK | FAN_SYMLINK;

/** Every event bit a mark or the changelog can select (flags excluded). */
export const FAN_ALL_EVENTS =
  FAN_ACCESS |
  FAN_MODIFY |
  FAN_ATTRIB |
  FAN_CLOSE |
  FAN_OPEN |
  FAN_MOVE |
  FAN_CREATE |
  FAN_DELETE |
  FAN_DELETE_SELF |
  FAN_MOVE_SELF |
  FAN_OPEN_EXEC |
  FAN_Q_OVERFLOW |
  FAN_FS_ERROR |
  FAN_PERMISSION_EVENTS |
  FAN_PRE_CONTENT_EVENTS |
  FAN_RENAME |
  FAN_XATTR |
  FAN_LINK |
  FAN_SYMLINK |
  FAN_TRUNCATE |
  FAN_HSM;

/** Flags that modify a mark rather than name an event. */
export const FAN_MARK_FLAGS = FAN_EVENT_ON_CHILD | FAN_ONDIR;

/** Names of every bit, for logs and the CLI. */
export const MASK_NAMES: readonly (readonly [Mask, string])[] = [
  [FAN_ACCESS, 'ACCESS'],
  [FAN_MODIFY, 'MODIFY'],
  [FAN_ATTRIB, 'ATTRIB'],
  [FAN_CLOSE_WRITE, 'CLOSE_WRITE'],
  [FAN_CLOSE_NOWRITE, 'CLOSE_NOWRITE'],
  [FAN_OPEN, 'OPEN'],
  [FAN_MOVED_FROM, 'MOVED_FROM'],
  [FAN_MOVED_TO, 'MOVED_TO'],
  [FAN_CREATE, 'CREATE'],
  [FAN_DELETE, 'DELETE'],
  [FAN_DELETE_SELF, 'DELETE_SELF'],
  [FAN_MOVE_SELF, 'MOVE_SELF'],
  [FAN_OPEN_EXEC, 'OPEN_EXEC'],
  [FAN_Q_OVERFLOW, 'Q_OVERFLOW'],
  [FAN_FS_ERROR, 'FS_ERROR'],
  [FAN_OPEN_PERM, 'OPEN_PERM'],
  [FAN_ACCESS_PERM, 'ACCESS_PERM'],
  [FAN_OPEN_EXEC_PERM, 'OPEN_EXEC_PERM'],
  [FAN_PRE_ACCESS, 'PRE_ACCESS'],
  [FAN_EVENT_ON_CHILD, 'EVENT_ON_CHILD'],
  [FAN_RENAME, 'RENAME'],
  [FAN_ONDIR, 'ONDIR'],
  [FAN_PRE_MODIFY, 'PRE_MODIFY'],
  [FAN_XATTR, 'XATTR'],
  [FAN_LINK, 'LINK'],
  [FAN_SYMLINK, 'SYMLINK'],
  [FAN_TRUNCATE, 'TRUNCATE'],
  [FAN_HSM, 'HSM'],
];

/** The names of a mask's bits, in bit order, without the FAN_ prefix: `['CREATE', 'ONDIR']`. */
export function maskNames(mask: Mask): string[] {
  return MASK_NAMES.filter(([bit]) => (mask & bit) !== 0n).map(([, name]) => name);
}

/** Responses to permission events. */
export const FAN_ALLOW = 0x1;
export const FAN_DENY = 0x2;
/** A denial carrying the errno the operation fails with (pre-content groups only). */
export function FAN_DENY_ERRNO(errno: number): number {
  return FAN_DENY | ((errno & 0xff) << 24);
}
