/**
 * `importFanotifyEvents(engine, bytes)` (and `fanlog import --format
 * fanotify FILE`): a captured fanotify event stream replayed into an
 * engine's changelog as event records of op `external`, with no operation
 * of the simulated filesystem behind them (its state does not change).
 *
 * Each event becomes one record: its mask, pid, object fid, parent fid
 * and name (DFID_NAME, or a rename's NEW_DFID_NAME, with OLD_DFID_NAME as
 * the old parent and name) and range; a handle that is not ext4's
 * FILEID_INO32_GEN (8 bytes: u32 inode, u32 generation) is kept as the
 * kernel gave it, type and bytes, in `handle`, `parentHandle` or
 * `oldParentHandle` in place of the fid (record format 9); a DFID_NAME named '.', which is how
 * the kernel reports an event on a directory itself, is that directory's
 * fid, with no parent or name; the time is the engine's clock at
 * the import. A pre-access flagged as a write (FANLOG_WRITE, what
 * `linuxOnly` writes) is journaled as FAN_PRE_MODIFY again; an FS_ERROR
 * event's error and count are kept as the record's `value` (internal:
 * consumers see the mask), so that the stream exports back whole. A stream
 * carries names, not paths, so mount marks and path-prefix filters do not
 * select imported records; filesystem marks and masks do. Events are
 * journaled `ENTRY_EVENTS` to an entry, each entry atomic.
 *
 * All or nothing: the whole stream is decoded and every event checked
 * before anything is journaled, and a stream with one event fanlog cannot
 * journal is refused whole, naming the byte offset in the input:
 *   damage (decodeFanotifyEvents)                     ECORRUPT
 *   a RANGE offset, count or end past 2^53 - 1        EFBIG
 *   mask 0 (no kernel writes an event with no bit)    ECORRUPT
 *   a negative pid (the kernel's pid is never one)    ECORRUPT
 *   no event bit fanlog knows (FAN_ALL_EVENTS): a
 *     newer kernel's event alone, or flags alone      EINVAL
 *   an entry event (CREATE, DELETE, MOVED_*, RENAME)
 *     with no DFID_NAME: FAN_REPORT_FID alone gives
 *     the directory's FID and no name                 EINVAL
 *   a file handle of no bytes, or more than
 *     MAX_HANDLE_SZ (128): no kernel gives one        EINVAL
 * Bits fanlog does not know beside one it does stay in the record's mask.
 * The count resolved is what was journaled: an event the engine's
 * changelog mask leaves out is not journaled, and not counted.
 */
import type { EngineCore } from '../engine/engine.js';
import type { EngineRecord, Fid } from '../engine/record/record.js';
import { FAN_ALL_EVENTS, FAN_DIRENT_EVENTS, FAN_PRE_ACCESS, FAN_PRE_MODIFY, maskNames } from '../engine/notify/masks.js';
import { MAX_HANDLE_BYTES } from '../engine/record/fields.js';
import { decodeFanotifyStream, errorBody, type FanotifyEvent, type FileHandle, fidOfHandle, streamError } from './fanotify-events.js';

const ENTRY_EVENTS = 1000;

/**
 * The fields a handle becomes in a record, for one role (the object, its
 * parent, a rename's old parent): a fid where the handle is
 * FILEID_INO32_GEN's 8 bytes (ext4), else the handle itself, opaque
 * (record format 9: xfs, btrfs, tmpfs).
 */
function place(record: EngineRecord, role: 'fid' | 'parentFid' | 'oldParentFid', handle: FileHandle): void {
  const fid = fidOfHandle(handle);
  const fields = record as Partial<Record<typeof role | (typeof HANDLE_ROLES)[typeof role], Fid | FileHandle>>;
  if (fid !== null) fields[role] = fid;
  else fields[HANDLE_ROLES[role]] = handle;
}
const HANDLE_ROLES = { fid: 'handle', parentFid: 'parentHandle', oldParentFid: 'oldParentHandle' } as const;

/** The event record of one decoded event (checked first by checkFanotifyEvent); live kernel events are journaled by it too. */
export function recordOfFanotifyEvent(event: FanotifyEvent, time: bigint): EngineRecord {
  const mask = event.write === true && (event.mask & FAN_PRE_ACCESS) !== 0n ? (event.mask & ~FAN_PRE_ACCESS) | FAN_PRE_MODIFY : event.mask;
  const record: EngineRecord = { kind: 'event', op: 'external', time, mask, pid: event.pid };
  if (event.handle !== undefined) place(record, 'fid', event.handle);
  const dir = event.dir ?? event.newDir;
  if (event.dir?.name === '.') {
    // The kernel's event on a directory itself: the directory, with no FID record, and no parent it knows.
    if (event.handle === undefined) place(record, 'fid', event.dir.handle);
  } else if (dir !== undefined) {
    place(record, 'parentFid', dir.handle);
    record.name = dir.name;
  }
  if (event.oldDir !== undefined) {
    place(record, 'oldParentFid', event.oldDir.handle);
    record.oldName = event.oldDir.name;
  }
  if (event.range !== undefined) record.range = event.range;
  if (event.error !== undefined) record.value = errorBody(event.error);
  return record;
}

/** Refuses the event that starts at byte `at` if fanlog cannot journal it (see the header). */
export function checkFanotifyEvent(event: FanotifyEvent, at: number): void {
  if (event.mask === 0n) throw streamError('ECORRUPT', at + 8, 'an event with mask 0 (no kernel writes one)');
  if (event.pid < 0) throw streamError('ECORRUPT', at + 20, `an event of pid ${event.pid} (no process has one)`);
  if ((event.mask & FAN_ALL_EVENTS) === 0n) {
    throw streamError('EINVAL', at + 8, `an event of mask 0x${event.mask.toString(16)}, with no event bit fanlog knows: it would be journaled as no event`);
  }
  if ((event.mask & FAN_DIRENT_EVENTS) !== 0n && event.dir === undefined && event.newDir === undefined) {
    // FAN_REPORT_FID alone (or FAN_REPORT_DIR_FID) reports the directory and no name: journaled, its FID would read as the entry.
    throw streamError(
      'EINVAL',
      at + 8,
      `an entry event (${maskNames(event.mask).join('|')}) with no DFID_NAME: a group with FAN_REPORT_FID alone reports the directory, not the entry, and no name; capture with FAN_REPORT_DFID_NAME`,
    );
  }
  for (const handle of [event.handle, event.dir?.handle, event.oldDir?.handle, event.newDir?.handle]) {
    if (handle !== undefined && (handle.bytes.length === 0 || handle.bytes.length > MAX_HANDLE_BYTES)) {
      throw streamError('EINVAL', at, `an event with a file handle of ${handle.bytes.length} bytes: the kernel gives 1 to ${MAX_HANDLE_BYTES} (MAX_HANDLE_SZ)`);
    }
  }
}

/** Journals the stream's events (all or none: see the header); resolves, once durable, with how many it journaled. */
export async function importFanotifyEvents(engine: EngineCore, bytes: Uint8Array): Promise<number> {
  const { events, offsets } = decodeFanotifyStream(bytes);
  for (let i = 0; i < events.length; i++) checkFanotifyEvent(events[i]!, offsets[i]!);
  let journaled = 0;
  for (let at = 0; at < events.length; at += ENTRY_EVENTS) {
    const time = engine.now();
    journaled += await engine.commit(null, () => events.slice(at, at + ENTRY_EVENTS).map((event) => recordOfFanotifyEvent(event, time)));
  }
  return journaled;
}
