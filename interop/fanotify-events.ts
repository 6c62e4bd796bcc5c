/**
 * fanotify's binary event stream, as a reader gets it from read(2) on a
 * group with FAN_REPORT_DFID_NAME_TARGET and a filesystem mark (and the
 * pre-content range): `encodeFanotifyEvents(records)` writes fanlog's event records in
 * it, `decodeFanotifyEvents(bytes)` reads it back (a capture from a real
 * kernel too). Layouts from <linux/fanotify.h>, little-endian as on x86-64
 * and arm64:
 *
 *   struct fanotify_event_metadata (24 bytes)
 *     u32 event_len   this event, info records included
 *     u8  vers        3 (FANOTIFY_METADATA_VERSION)
 *     u8  reserved    0
 *     u16 metadata_len 24
 *     u64 mask
 *     s32 fd          FAN_NOFD (-1): an export has no descriptors
 *     s32 pid
 *   then info records, each: u8 info_type, u8 pad, u16 len (the record's
 *   bytes, padded with zeros to a multiple of 4), and:
 *     FID (1), DFID_NAME (2), OLD_DFID_NAME (10), NEW_DFID_NAME (12):
 *       __kernel_fsid_t (2 × s32), struct file_handle (u32 handle_bytes,
 *       s32 handle_type, then handle_bytes of f_handle), and for the
 *       *_NAME types the name, NUL-terminated
 *     RANGE (6): u32 pad, u64 offset, u64 count (each, and their end, at
 *       most 2^53 - 1, the largest a number holds exactly: EFBIG beyond)
 *     ERROR (5): s32 error, u32 error_count
 *     FANLOG_WRITE (255, fanlog's own): the header alone; see linuxOnly
 *   Other info types are skipped by their len.
 *
 * A decoded handle is opaque: its type and its bytes, as the kernel wrote
 * them. Their meaning is the filesystem's own (ext4 writes type 1,
 * FILEID_INO32_GEN, as 8 bytes, u32 ino then u32 gen; tmpfs writes type 1
 * as 12 bytes, gen then a 64-bit ino), so the decoder reads no inode out
 * of them. fanlog's fid `{ ino, gen }` is exported as FILEID_INO32_GEN's
 * 8 bytes (fileHandleOf), and only those 8 bytes read back as a fid
 * (fidOfHandle). The fsid is given (default 0:0).
 *
 * Which info records an event carries: a dirent event (a parent and a
 * name) DFID_NAME of the parent and name; a rename OLD_DFID_NAME and
 * NEW_DFID_NAME; every event with an object FID of it (an entry event's
 * target too, as FAN_REPORT_TARGET_FID has it), except an event on a
 * directory itself (FAN_ONDIR, no dirent bit), which is one DFID_NAME of
 * the directory named '.', as the kernel writes it; a pre-content event
 * with a range RANGE. Masks keep their 64 bits (fanlog's own high bits
 * are fanlog-only); `linuxOnly` drops them, mapping FAN_PRE_MODIFY to
 * FAN_PRE_ACCESS, as Linux reports a write's pre-content event, with the
 * write flagged by a FANLOG_WRITE record (Linux's own event says nothing of
 * it; a reader skips the type as it skips any it does not know). fanlog
 * raises no FAN_FS_ERROR; an imported one keeps its ERROR record's body in
 * the record's `value` (8 bytes, as the stream has them), and exports back
 * with it;
 * `pageAlign` widens ranges to whole pages, as mainline Linux reports them
 * (PAGE_ALIGN_DOWN(offset) to PAGE_ALIGN(offset + count)); by default the
 * exact range, as the pre-content series reports it.
 */
import type { Fid, FileHandle, Range, RecordView } from '../engine/record/record.js';
import { FAN_DIRENT_EVENTS, FAN_FS_ERROR, FAN_ONDIR, FAN_PRE_ACCESS, FAN_PRE_MODIFY, FAN_RENAME } from '../engine/notify/masks.js';
import { FanlogError } from '../errors.js';

export const FAN_EVENT_METADATA_LEN = 24;
export const FANOTIFY_METADATA_VERSION = 3;
export const FAN_EVENT_INFO_TYPE_FID = 1;
export const FAN_EVENT_INFO_TYPE_DFID_NAME = 2;
export const FAN_EVENT_INFO_TYPE_ERROR = 5;
export const FAN_EVENT_INFO_TYPE_RANGE = 6;
export const FAN_EVENT_INFO_TYPE_OLD_DFID_NAME = 10;
export const FAN_EVENT_INFO_TYPE_NEW_DFID_NAME = 12;
/** fanlog's own info type: the pre-content event is a write (written under linuxOnly, where FAN_PRE_MODIFY becomes FAN_PRE_ACCESS). */
export const FANLOG_INFO_TYPE_WRITE = 255;
export const FILEID_INO32_GEN = 1;
const INO32_GEN_BYTES = 8;
const PAGE = 4096;
/** The largest offset or count a number holds exactly, and a record. */
const EXACT_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const LINUX_BITS = 0xffffffffn;

/** A file handle as the kernel reports it (engine/record/record.ts): the filesystem's handle type and its bytes, opaque. */
export type { FileHandle };

/** A directory's handle and a name in it. */
export interface DirectoryEntry {
  handle: FileHandle;
  name: string;
}

/** fanlog's fid as a handle: FILEID_INO32_GEN, u32 ino then u32 gen. */
export function fileHandleOf(fid: Fid): FileHandle {
  const bytes = new Uint8Array(INO32_GEN_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, fid.ino, true);
  view.setUint32(4, fid.gen, true);
  return { type: FILEID_INO32_GEN, bytes };
}

/** The fid a handle holds if it is FILEID_INO32_GEN's 8 bytes; null for any other (a filesystem's own layout, which fanlog cannot read). */
export function fidOfHandle(handle: FileHandle): Fid | null {
  if (handle.type !== FILEID_INO32_GEN || handle.bytes.length !== INO32_GEN_BYTES) return null;
  const view = new DataView(handle.bytes.buffer, handle.bytes.byteOffset, INO32_GEN_BYTES);
  return { ino: view.getUint32(0, true), gen: view.getUint32(4, true) };
}

/** One event of the stream, decoded. */
export interface FanotifyEvent {
  mask: bigint;
  pid: number;
  fd: number;
  /** The object (FID). */
  handle?: FileHandle;
  /** The parent and name (DFID_NAME); on a directory itself, that directory and the name '.'. */
  dir?: DirectoryEntry;
  /** A rename's old and new parents and names. */
  oldDir?: DirectoryEntry;
  newDir?: DirectoryEntry;
  range?: Range;
  error?: { error: number; count: number };
  /** A pre-access that is a write (FANLOG_WRITE): FAN_PRE_MODIFY, as Linux reports it. */
  write?: true;
  /** The filesystem id of the handles ([0, 0] unless given). */
  fsid?: [number, number];
}

export interface FanotifyExportOptions {
  fsid?: [number, number];
  /** Drop fanlog's high 32 bits (FAN_PRE_MODIFY becomes FAN_PRE_ACCESS, flagged `write`). */
  linuxOnly?: boolean;
  /** Ranges widened to whole 4 KiB pages, as mainline Linux reports them. */
  pageAlign?: boolean;
}

/** The fanotify event of an event or request record; null for other kinds (and a mask left empty). */
export function fanotifyEventOf(record: RecordView, options: FanotifyExportOptions = {}): FanotifyEvent | null {
  if ((record.kind !== 'event' && record.kind !== 'request') || record.mask === undefined) return null;
  let mask = record.mask;
  const write = options.linuxOnly === true && (mask & FAN_PRE_MODIFY) !== 0n;
  if (options.linuxOnly === true) mask = (write ? FAN_PRE_ACCESS : 0n) | (mask & LINUX_BITS);
  if (mask === 0n) return null;
  const fsid = options.fsid ?? [0, 0];
  const event: FanotifyEvent = { mask, pid: record.pid ?? 0, fd: -1, fsid };
  if (write) event.write = true;
  // Each role's handle: the filesystem's own (record format 9), or its fid as FILEID_INO32_GEN. A record that holds the
  // filesystem's handles has fids only as placeholders (a kernel request's inode, generation 0): no handle is made of one.
  const own = record.handle !== undefined || record.parentHandle !== undefined || record.oldParentHandle !== undefined;
  const object = handleOf(record.fid, record.handle, own);
  const parent = handleOf(record.parentFid, record.parentHandle, own);
  const oldParent = handleOf(record.oldParentFid, record.oldParentHandle, own);
  if ((record.mask & FAN_RENAME) !== 0n && oldParent !== undefined && record.oldName !== undefined && parent !== undefined && record.name !== undefined) {
    event.oldDir = { handle: oldParent, name: record.oldName };
    event.newDir = { handle: parent, name: record.name };
  } else if ((mask & FAN_ONDIR) !== 0n && (mask & FAN_DIRENT_EVENTS) === 0n && object !== undefined) {
    // A filesystem mark's group gets an event on a directory itself as its DFID_NAME named '.', and no FID.
    event.dir = { handle: object, name: '.' };
    return finish(event, record, options);
  } else if (parent !== undefined && record.name !== undefined) {
    event.dir = { handle: parent, name: record.name };
  }
  if (object !== undefined) event.handle = object;
  return finish(event, record, options);
}

/** A role's handle in an event: the record's own handle, else its fid as FILEID_INO32_GEN's unless the record's fids are placeholders. */
function handleOf(fid: Fid | undefined, handle: FileHandle | undefined, placeholders: boolean): FileHandle | undefined {
  if (handle !== undefined) return handle;
  return fid === undefined || placeholders ? undefined : fileHandleOf(fid);
}

/** The range and error records an event carries besides its handles. */
function finish(event: FanotifyEvent, record: RecordView, options: FanotifyExportOptions): FanotifyEvent {
  const mask = event.mask;
  if (record.range !== undefined && ((record.mask ?? 0n) & (FAN_PRE_ACCESS | FAN_PRE_MODIFY)) !== 0n) {
    const { offset, count } = record.range;
    event.range =
      options.pageAlign === true
        ? { offset: Math.floor(offset / PAGE) * PAGE, count: Math.ceil((offset + count) / PAGE) * PAGE - Math.floor(offset / PAGE) * PAGE }
        : { offset, count };
  }
  if ((mask & FAN_FS_ERROR) !== 0n && record.value?.length === ERROR_BODY) event.error = errorOf(record.value);
  return event;
}

/** The records' events in the stream's layout. */
export function encodeFanotifyEvents(records: Iterable<RecordView>, options: FanotifyExportOptions = {}): Uint8Array {
  const events: FanotifyEvent[] = [];
  for (const record of records) {
    const event = fanotifyEventOf(record, options);
    if (event !== null) events.push(event);
  }
  return writeFanotifyEvents(events);
}

const utf8 = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

/** Events in the stream's layout. */
export function writeFanotifyEvents(events: readonly FanotifyEvent[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const event of events) {
    const infos: Uint8Array[] = [];
    const fsid = event.fsid ?? [0, 0];
    if (event.dir !== undefined) infos.push(fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, fsid, event.dir.handle, event.dir.name));
    if (event.oldDir !== undefined) infos.push(fidInfo(FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, fsid, event.oldDir.handle, event.oldDir.name));
    if (event.newDir !== undefined) infos.push(fidInfo(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, fsid, event.newDir.handle, event.newDir.name));
    if (event.handle !== undefined) infos.push(fidInfo(FAN_EVENT_INFO_TYPE_FID, fsid, event.handle, null));
    if (event.range !== undefined) infos.push(rangeInfo(event.range));
    if (event.error !== undefined) infos.push(errorInfo(event.error));
    if (event.write === true) infos.push(header(FANLOG_INFO_TYPE_WRITE, 4).bytes);
    const length = FAN_EVENT_METADATA_LEN + infos.reduce((total, info) => total + info.length, 0);
    const metadata = new Uint8Array(FAN_EVENT_METADATA_LEN);
    const view = new DataView(metadata.buffer);
    view.setUint32(0, length, true);
    metadata[4] = FANOTIFY_METADATA_VERSION;
    view.setUint16(6, FAN_EVENT_METADATA_LEN, true);
    view.setBigUint64(8, event.mask, true);
    view.setInt32(16, event.fd, true);
    view.setInt32(20, event.pid, true);
    chunks.push(metadata, ...infos);
  }
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function header(type: number, length: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(pad4(length));
  const view = new DataView(bytes.buffer);
  bytes[0] = type;
  view.setUint16(2, bytes.length, true);
  return { bytes, view };
}

function fidInfo(type: number, fsid: [number, number], handle: FileHandle, name: string | null): Uint8Array {
  const nameBytes = name === null ? null : utf8.encode(name);
  const { bytes, view } = header(type, 4 + 8 + 8 + handle.bytes.length + (nameBytes === null ? 0 : nameBytes.length + 1));
  view.setInt32(4, fsid[0], true);
  view.setInt32(8, fsid[1], true);
  view.setUint32(12, handle.bytes.length, true);
  view.setInt32(16, handle.type, true);
  bytes.set(handle.bytes, 20);
  if (nameBytes !== null) bytes.set(nameBytes, 20 + handle.bytes.length);
  return bytes;
}

function rangeInfo(range: Range): Uint8Array {
  const { bytes, view } = header(FAN_EVENT_INFO_TYPE_RANGE, 24);
  view.setBigUint64(8, BigInt(range.offset), true);
  view.setBigUint64(16, BigInt(range.count), true);
  return bytes;
}

function errorInfo(error: { error: number; count: number }): Uint8Array {
  const { bytes } = header(FAN_EVENT_INFO_TYPE_ERROR, 4 + ERROR_BODY);
  bytes.set(errorBody(error), 4);
  return bytes;
}

/** An ERROR record's body: s32 error, u32 error_count (what an imported FS_ERROR record keeps as its `value`). */
const ERROR_BODY = 8;

export function errorBody(error: { error: number; count: number }): Uint8Array {
  const bytes = new Uint8Array(ERROR_BODY);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, error.error, true);
  view.setUint32(4, error.count, true);
  return bytes;
}

function errorOf(body: Uint8Array): { error: number; count: number } {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  return { error: view.getInt32(0, true), count: view.getUint32(4, true) };
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/**
 * The events of a stream; ECORRUPT naming the byte offset of the first
 * thing that is not the layout above, EFBIG naming that of a RANGE offset,
 * count or end past 2^53 - 1 (a number holds no more exactly, and no
 * record either).
 */
export function decodeFanotifyEvents(bytes: Uint8Array): FanotifyEvent[] {
  return decodeFanotifyStream(bytes).events;
}

/** A stream's byte offset of `what`, in an error with `code`. */
export function streamError(code: 'ECORRUPT' | 'EFBIG' | 'EINVAL', offset: number, what: string): FanlogError {
  return new FanlogError(code, `fanotify stream at byte ${offset}: ${what}`, { offset });
}

/** decodeFanotifyEvents, with the byte offset where each event starts (an import names it when it refuses one). */
export function decodeFanotifyStream(bytes: Uint8Array): { events: FanotifyEvent[]; offsets: number[] } {
  if (!(bytes instanceof Uint8Array)) throw new FanlogError('EINVAL', 'bytes must be a Uint8Array');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = (offset: number, what: string): FanlogError => streamError('ECORRUPT', offset, what);
  const events: FanotifyEvent[] = [];
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length;) {
    if (bytes.length - at < FAN_EVENT_METADATA_LEN) throw bad(at, `${bytes.length - at} bytes, an event's metadata is 24`);
    const length = view.getUint32(at, true);
    if (bytes[at + 4] !== FANOTIFY_METADATA_VERSION) throw bad(at + 4, `metadata version ${bytes[at + 4]}, not 3`);
    const metadataLength = view.getUint16(at + 6, true);
    if (metadataLength !== FAN_EVENT_METADATA_LEN) throw bad(at + 6, `metadata_len ${metadataLength}, not 24`);
    if (length < FAN_EVENT_METADATA_LEN || length > bytes.length - at) throw bad(at, `event_len ${length} does not fit`);
    const event: FanotifyEvent = { mask: view.getBigUint64(at + 8, true), fd: view.getInt32(at + 16, true), pid: view.getInt32(at + 20, true) };
    for (let info = at + FAN_EVENT_METADATA_LEN; info < at + length;) {
      if (at + length - info < 4) throw bad(info, 'an info record shorter than its header');
      const type = bytes[info]!;
      const infoLength = view.getUint16(info + 2, true);
      if (infoLength < 4 || infoLength > at + length - info) throw bad(info + 2, `info record len ${infoLength} does not fit`);
      readInfo(bytes, view, info, type, infoLength, event, bad);
      info += infoLength;
    }
    events.push(event);
    offsets.push(at);
    at += length;
  }
  return { events, offsets };
}

/** The RANGE record at `at`: its offset and count, each and their end at most 2^53 - 1 (EFBIG naming where). */
function rangeAt(view: DataView, at: number): Range {
  const offset = view.getBigUint64(at + 8, true);
  const count = view.getBigUint64(at + 16, true);
  const tooBig = (where: number, what: string): FanlogError =>
    streamError('EFBIG', where, `a RANGE ${what} is beyond the largest size fanlog records exactly (2^53 - 1 bytes)`);
  if (offset > EXACT_MAX) throw tooBig(at + 8, `offset of ${offset}`);
  if (count > EXACT_MAX) throw tooBig(at + 16, `count of ${count}`);
  if (offset + count > EXACT_MAX) throw tooBig(at + 8, `from ${offset} for ${count} bytes ends at ${offset + count}, which`);
  return { offset: Number(offset), count: Number(count) };
}

function readInfo(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  type: number,
  length: number,
  event: FanotifyEvent,
  bad: (offset: number, what: string) => FanlogError,
): void {
  if (type === FAN_EVENT_INFO_TYPE_RANGE) {
    if (length < 24) throw bad(at, `a RANGE record of ${length} bytes`);
    event.range = rangeAt(view, at);
  } else if (type === FAN_EVENT_INFO_TYPE_ERROR) {
    if (length < 12) throw bad(at, `an ERROR record of ${length} bytes`);
    event.error = errorOf(bytes.subarray(at + 4, at + 12));
  } else if (type === FANLOG_INFO_TYPE_WRITE) {
    event.write = true;
  } else if ([FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME].includes(type)) {
    if (length < 20) throw bad(at, `a FID record of ${length} bytes`);
    const handleBytes = view.getUint32(at + 12, true);
    // The handle is the filesystem's, of any type: only its length must fit the record.
    if (20 + handleBytes > length) throw bad(at + 12, `a file handle of ${handleBytes} bytes in a record of ${length}`);
    const handle = { type: view.getInt32(at + 16, true), bytes: new Uint8Array(bytes.subarray(at + 20, at + 20 + handleBytes)) };
    event.fsid = [view.getInt32(at + 4, true), view.getInt32(at + 8, true)];
    if (type === FAN_EVENT_INFO_TYPE_FID) {
      event.handle = handle;
      return;
    }
    const nameAt = at + 20 + handleBytes;
    const end = bytes.indexOf(0, nameAt);
    if (end < 0 || end >= at + length) throw bad(nameAt, 'a name with no NUL in its record');
    let name: string;
    try {
      name = utf8Fatal.decode(bytes.subarray(nameAt, end));
    } catch {
      throw bad(nameAt, 'a name that is not UTF-8');
    }
    const dir = { handle, name };
    if (type === FAN_EVENT_INFO_TYPE_DFID_NAME) event.dir = dir;
    else if (type === FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) event.oldDir = dir;
    else event.newDir = dir;
  }
  // Any other info type is skipped by its len.
}
