/**
 * `importFanotifyEvents(engine, bytes)` (and `fanlog import --format
 * fanotify FILE`): a captured fanotify event stream replayed into an
 * engine's changelog as event records of op `external`, with no operation
 * of the simulated filesystem behind them (its state does not change).
 *
 * Each event becomes one record: its mask, pid, object fid, parent fid
 * and name (DFID_NAME, or a rename's NEW_DFID_NAME, with OLD_DFID_NAME as
 * the old parent and name) and range; the time is the engine's clock at
 * the import. A pre-access flagged as a write (FANLOG_WRITE, what
 * `linuxOnly` writes) is journaled as FAN_PRE_MODIFY again; an FS_ERROR
 * event's error and count are kept as the record's `value` (internal:
 * consumers see the mask), so that the stream exports back whole. A stream carries names, not paths, so mount marks and
 * path-prefix filters do not select imported records; filesystem marks and
 * masks do. Events are journaled `ENTRY_EVENTS` to an entry, each entry
 * atomic; the whole stream is decoded (ECORRUPT with the byte offset)
 * before anything is journaled.
 */
import type { EngineCore } from '../engine/engine.js';
import type { EngineRecord } from '../engine/record/record.js';
import { FAN_PRE_ACCESS, FAN_PRE_MODIFY } from '../engine/notify/masks.js';
import { decodeFanotifyEvents, errorBody, type FanotifyEvent } from './fanotify-events.js';

const ENTRY_EVENTS = 1000;

function recordOf(event: FanotifyEvent, time: bigint): EngineRecord {
  const mask = event.write === true && (event.mask & FAN_PRE_ACCESS) !== 0n ? (event.mask & ~FAN_PRE_ACCESS) | FAN_PRE_MODIFY : event.mask;
  const record: EngineRecord = { kind: 'event', op: 'external', time, mask, pid: event.pid };
  if (event.fid !== undefined) record.fid = event.fid;
  const dir = event.dir ?? event.newDir;
  if (dir !== undefined) {
    record.parentFid = dir.fid;
    record.name = dir.name;
  }
  if (event.oldDir !== undefined) {
    record.oldParentFid = event.oldDir.fid;
    record.oldName = event.oldDir.name;
  }
  if (event.range !== undefined) record.range = event.range;
  if (event.error !== undefined) record.value = errorBody(event.error);
  return record;
}

/** Journals the stream's events; resolves with how many, once durable. */
export async function importFanotifyEvents(engine: EngineCore, bytes: Uint8Array): Promise<number> {
  const events = decodeFanotifyEvents(bytes);
  for (let at = 0; at < events.length; at += ENTRY_EVENTS) {
    const time = engine.now();
    await engine.commit(null, () => events.slice(at, at + ENTRY_EVENTS).map((event) => recordOf(event, time)));
  }
  return events.length;
}
