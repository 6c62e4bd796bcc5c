/**
 * The changelog as `lfs changelog` prints Lustre's, byte for byte, so that
 * tools written for Lustre (Robinhood, lustre_rsync-style mirrors) read
 * fanlog's unchanged (`exportLfsChangelog`, `fanlog tail --format lfs`).
 *
 * The line, as lfs.c's lfs_changelog() prints it (times in UTC):
 *   %ju %02d%-5s %02d:%02d:%02d.%09d %04d.%02d.%02d 0x%x t=[%#llx:0x%x:0x%x]
 * then, where they apply: ` ef=0x1 u=<uid>:<gid>` (the extra flag
 * CLFE_UIDGID), ` p=[parent fid] <name>`, and for a rename
 * ` s=[fid] sp=[parent fid] <source name>`.
 *
 * FIDs: Lustre's are [seq:oid:ver]; fanlog's `{ ino, gen }` prints as seq
 * 0 (`%#llx` prints a zero as `0`), oid = ino, ver = gen. A kernel event's
 * object or parent known by its filesystem's own handle alone (record
 * format 9: xfs, btrfs, tmpfs) prints the zero FID, since a FID's 16 bytes
 * cannot hold a handle of up to 128; its name still prints.
 *
 * Record types, from each event's mask, in this order of precedence (one
 * line per event record; an event Lustre has no record for prints none):
 *   RENAME → 08RENME (MOVED_FROM, MOVED_TO, MOVE_SELF: none; the RENME
 *            covers them); LINK → 03HLINK (a hard link's event is
 *            CREATE | LINK); CREATE → 04SLINK for a symlink, 02MKDIR for a
 *            directory, else 01CREAT; DELETE → 07RMDIR or 06UNLNK
 *            (DELETE_SELF alone: none); TRUNCATE → 13TRUNC; HSM → 16HSM;
 *            XATTR → 15XATTR; ATTRIB → 17MTIME for a utimes, none for a
 *            link count's (of a link, unlink, rmdir or rename: Lustre's
 *            mdd_link, mdd_unlink and mdd_rename write their namespace
 *            record alone), else 14SATTR; MODIFY → 17MTIME; CLOSE_WRITE,
 *            CLOSE_NOWRITE → 11CLOSE; OPEN, OPEN_EXEC → 10OPEN; ACCESS →
 *            19ATIME.
 * A utimes is MTIME as Lustre picks an attribute change's type: the first
 * of TRUNC, SATTR (anything but times), MTIME, CTIME, ATIME that changed
 * (mdd_attr_set_changelog). Permission requests and decisions, eviction
 * and scan notes and op records have no Lustre type: they are left out.
 * Of Lustre's types, MARK (changelog bookkeeping), MKNOD (no device
 * nodes), RNMTO (the second half of an old-style rename), LYOUT, MIGRT,
 * FLRW, RESYNC (striping and mirroring), CTIME (fanlog raises no ctime
 * change alone), GXATR (a getxattr raises no event) and NOPEN (a denied
 * open: a decision, not an event) are never printed.
 *
 * Flags (the printed `0x%x` is cr_flags & CLF_FLAGMASK): UNLNK and RMDIR
 * set CLF_UNLINK_LAST (0x1) when the object's last link went; HSM carries
 * its event in bits 7-9 (CLF_HSM_EVENT: HE_RESTORE 1 for a fill,
 * HE_RELEASE 3 for a release). RENME's CLF_RENAME_LAST is not set: the
 * RENAME event does not say whether the rename replaced a last link, and
 * its t= is the zero FID (Lustre names the replaced object there).
 */
import type { RecordView } from '../engine/record/record.js';
import {
  FAN_ACCESS,
  FAN_ATTRIB,
  FAN_CLOSE_NOWRITE,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_HSM,
  FAN_LINK,
  FAN_MODIFY,
  FAN_ONDIR,
  FAN_OPEN,
  FAN_OPEN_EXEC,
  FAN_RENAME,
  FAN_SYMLINK,
  FAN_TRUNCATE,
  FAN_XATTR,
} from '../engine/notify/masks.js';
import type { Fid, OpName } from '../engine/record/record.js';

/** Lustre's changelog record types (enum changelog_rec_type), by the name `lfs changelog` prints (changelog_type2str). */
export const LUSTRE_RECORD_TYPES = {
  MARK: 0,
  CREAT: 1,
  MKDIR: 2,
  HLINK: 3,
  SLINK: 4,
  MKNOD: 5,
  UNLNK: 6,
  RMDIR: 7,
  RENME: 8,
  RNMTO: 9,
  OPEN: 10,
  CLOSE: 11,
  LYOUT: 12,
  TRUNC: 13,
  SATTR: 14,
  XATTR: 15,
  HSM: 16,
  MTIME: 17,
  CTIME: 18,
  ATIME: 19,
  MIGRT: 20,
  FLRW: 21,
  RESYNC: 22,
  GXATR: 23,
  NOPEN: 24,
} as const;
export type LustreRecordType = keyof typeof LUSTRE_RECORD_TYPES;

export const CLF_UNLINK_LAST = 0x1;
const CLF_HSM_EVENT_SHIFT = 7;
const HE_RESTORE = 1;
const HE_RELEASE = 3;
const CLFE_UIDGID = 0x1;

/** The operations whose FAN_ATTRIB is a link count's: the namespace record covers it. */
const LINK_COUNT_OPS: ReadonlySet<OpName> = new Set<OpName>(['link', 'unlink', 'rmdir', 'rename']);

/** The Lustre record type of an event record; null when Lustre has none for it. */
export function lustreType(record: RecordView): LustreRecordType | null {
  if (record.kind !== 'event' || record.mask === undefined) return null;
  const mask = record.mask;
  const has = (bits: bigint): boolean => (mask & bits) !== 0n;
  if (has(FAN_RENAME)) return 'RENME';
  if (has(FAN_LINK)) return 'HLINK';
  if (has(FAN_CREATE)) return has(FAN_SYMLINK) ? 'SLINK' : has(FAN_ONDIR) ? 'MKDIR' : 'CREAT';
  if (has(FAN_DELETE)) return has(FAN_ONDIR) ? 'RMDIR' : 'UNLNK';
  if (has(FAN_TRUNCATE)) return 'TRUNC';
  if (has(FAN_HSM)) return 'HSM';
  if (has(FAN_XATTR)) return 'XATTR';
  if (has(FAN_ATTRIB)) return LINK_COUNT_OPS.has(record.op) ? null : record.op === 'utimes' ? 'MTIME' : 'SATTR';
  if (has(FAN_MODIFY)) return 'MTIME';
  if (has(FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE)) return 'CLOSE';
  if (has(FAN_OPEN | FAN_OPEN_EXEC)) return 'OPEN';
  if (has(FAN_ACCESS)) return 'ATIME';
  return null;
}

/** `[%#llx:0x%x:0x%x]` of fanlog's fid: seq 0, oid = ino, ver = gen; the zero FID when there is none. */
export function lustreFid(fid: Fid | undefined): string {
  return fid === undefined ? '[0:0x0:0x0]' : `[0:0x${fid.ino.toString(16)}:0x${fid.gen.toString(16)}]`;
}

function flagsOf(type: LustreRecordType, record: RecordView): number {
  if (type === 'UNLNK' || type === 'RMDIR') return type === 'RMDIR' || (record.stat?.nlink ?? 1) <= 1 ? CLF_UNLINK_LAST : 0;
  if (type === 'HSM') return (record.op === 'hsmRelease' ? HE_RELEASE : HE_RESTORE) << CLF_HSM_EVENT_SHIFT;
  return 0;
}

const two = (value: number): string => String(value).padStart(2, '0');

/** The `lfs changelog` line of record `seq` (no newline); null for a record Lustre has no type for. */
export function lfsLine(seq: bigint, record: RecordView): string | null {
  const type = lustreType(record);
  if (type === null) return null;
  const seconds = record.time / 1_000_000_000n;
  const nanos = (record.time % 1_000_000_000n).toString().padStart(9, '0');
  const date = new Date(Number(seconds) * 1000);
  const clock = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${nanos}`;
  const day = `${String(date.getUTCFullYear()).padStart(4, '0')}.${two(date.getUTCMonth() + 1)}.${two(date.getUTCDate())}`;
  const renamed = type === 'RENME';
  let line = `${seq} ${two(LUSTRE_RECORD_TYPES[type])}${type.padEnd(5)} ${clock} ${day} 0x${flagsOf(type, record).toString(16)} t=${lustreFid(renamed ? undefined : record.fid)}`;
  if (record.uid !== undefined) line += ` ef=0x${CLFE_UIDGID.toString(16)} u=${record.uid}:${record.gid ?? 0}`;
  if ((record.parentFid ?? record.parentHandle) !== undefined && record.name !== undefined) line += ` p=${lustreFid(record.parentFid)} ${record.name}`;
  if (renamed && (record.oldParentFid ?? record.oldParentHandle) !== undefined && record.oldName !== undefined)
    line += ` s=${lustreFid(record.fid)} sp=${lustreFid(record.oldParentFid)} ${record.oldName}`;
  return line;
}

/** The changelog in `lfs changelog`'s text, a line per record Lustre has a type for, each ending in a newline. */
export function exportLfsChangelog(records: Iterable<RecordView & { seq: bigint }>): string {
  let out = '';
  for (const record of records) {
    const line = lfsLine(record.seq, record);
    if (line !== null) out += `${line}\n`;
  }
  return out;
}
