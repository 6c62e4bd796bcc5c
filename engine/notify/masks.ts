/**
 * Event masks and responses, 64-bit.
 *
 * The low 32 bits carry the Linux fanotify values exactly, so that a reader
 * who knows <linux/fanotify.h> is at home. The high 32 bits are fanlog's own
 * changelog events (docs/design.md, "Data model").
 */

export type Mask = bigint;

export const FAN_ACCESS = 0x1n;
export const FAN_MODIFY = 0x2n;
export const FAN_ATTRIB = 0x4n;
export const FAN_CLOSE_WRITE = 0x8n;
export const FAN_CLOSE_NOWRITE = 0x10n;
export const FAN_OPEN = 0x20n;
export const FAN_MOVED_FROM = 0x40n;
export const FAN_MOVED_TO = 0x80n;
export const FAN_CREATE = 0x100n;
export const FAN_DELETE = 0x200n;
export const FAN_DELETE_SELF = 0x400n;
export const FAN_MOVE_SELF = 0x800n;
export const FAN_OPEN_EXEC = 0x1000n;
export const FAN_Q_OVERFLOW = 0x4000n;
export const FAN_FS_ERROR = 0x8000n;
export const FAN_OPEN_PERM = 0x10000n;
export const FAN_ACCESS_PERM = 0x20000n;
export const FAN_OPEN_EXEC_PERM = 0x40000n;
export const FAN_PRE_ACCESS = 0x100000n;
export const FAN_EVENT_ON_CHILD = 0x8000000n;
export const FAN_RENAME = 0x10000000n;
export const FAN_ONDIR = 0x40000000n;

export const FAN_PRE_MODIFY = 1n << 32n;
export const FAN_XATTR = 1n << 33n;
export const FAN_LINK = 1n << 34n;
export const FAN_SYMLINK = 1n << 35n;
export const FAN_TRUNCATE = 1n << 36n;
export const FAN_HSM = 1n << 37n;

export const FAN_CLOSE = FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE;
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
