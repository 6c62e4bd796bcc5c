/**
 * Opening a journal directory, which `Journal.open` builds the journal on:
 * the options checked, the directory's lock taken, recovery run
 * (recovery.ts), the first segment made when recovery kept none, and the
 * newest segment opened for appends. Apart from journal.ts, so that the
 * journal's write path reads on its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FanlogError, fromIoError, reason } from '../errors.js';
import { checkHostPath, type Io, type IoFile, type IoLock } from './io.js';
import { type JournalOptions, type SyncPolicy, validateOptions } from './options.js';
import { recover, type RecoveryReport } from './recovery.js';
import { createSegment, type SegmentState } from './segment.js';
import type { JournalId } from './types.js';

/** A journal directory, open: what the journal appends to and reads from. */
export interface OpenDirectory {
  journalId: JournalId;
  io: Io;
  /** The directory's lock; null when opened read only (no lock is taken). */
  heldLock: IoLock | null;
  /** 'never' when opened read only: nothing is written to sync. */
  policy: SyncPolicy;
  syncIntervalMs: number;
  segmentBytesMax: number;
  readOnly: boolean;
  /** Every retained segment, oldest first; the last is the active one. */
  segments: SegmentState[];
  /** The active segment, open for appends (read only: for reading). */
  activeFile: IoFile;
  /** Its size: the data, then any zero tail the writer goes on into (zero-tail.ts); read only, the data. */
  activeFileBytes: number;
  /** What recovery found and repaired (read only: what it would repair). */
  recovery: RecoveryReport;
}

/**
 * Opens the journal in `dir`, creating it if empty, after recovering what a
 * crash left. Rejects with EBUSY while another open journal holds the
 * directory, ECORRUPT (with `file` and `offset`) on damage recovery must
 * not repair, EINVAL on bad options; releases the lock when it rejects.
 */
export async function openDirectory(dir: string, options: JournalOptions): Promise<OpenDirectory> {
  checkHostPath('dir', dir);
  const { sync, syncIntervalMs, segmentBytesMax, io, readOnly } = validateOptions(options);
  let lock: IoLock | null = null;
  try {
    if (!readOnly) {
      await io.mkdirp(dir);
      lock = await io.lock(dir);
    }
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EBUSY') {
      throw new FanlogError('EBUSY', `journal ${dir} is already open: ${reason(error)}`, { file: dir, cause: error });
    }
    throw fromIoError(error, dir);
  }
  try {
    const recovered = await recover(io, dir, { repair: !readOnly });
    let journalId = recovered.journalId;
    const segments = recovered.segments;
    if (journalId === null) {
      if (readOnly) throw new FanlogError('ENOENT', `no journal in ${dir}`, { file: dir });
      assert.equal(segments.length, 0, 'a new journal is made only where recovery kept no segment');
      journalId = randomBytes(8).readBigUInt64LE() || 1n;
      segments.push(await createSegment(io, dir, journalId, recovered.purgedThroughSeq + 1n));
    }
    const active = segments[segments.length - 1];
    if (active === undefined) assert.fail(`journal ${dir} opened with no segment`);
    const activeFile = await io.open(active.path, readOnly ? 'read' : 'readwrite');
    let activeFileBytes = active.bytes;
    if (!readOnly) {
      try {
        activeFileBytes = await activeFile.size();
        // A zero tail (zero-tail.ts) is written into only under 'always',
        // where every write is synced before the next: cut it otherwise.
        if (sync !== 'always' && activeFileBytes > active.bytes) {
          await activeFile.truncate(active.bytes);
          activeFileBytes = active.bytes;
        }
        // What a process that died wrote and never synced may still be only in
        // the page cache, and the writer counts every recovered record as
        // durable (durableSeq) from the start: sync the file now.
        await activeFile.datasync();
      } catch (error) {
        await activeFile.close().catch(() => undefined);
        throw error;
      }
    }
    const policy = readOnly ? 'never' : sync;
    return {
      journalId,
      io,
      heldLock: lock,
      policy,
      syncIntervalMs,
      segmentBytesMax,
      readOnly,
      segments,
      activeFile,
      activeFileBytes,
      recovery: recovered.report,
    };
  } catch (error) {
    await lock?.release().catch(() => undefined);
    // A failed assertion is a bug, and stays one: never disguised as an I/O error.
    if (error instanceof assert.AssertionError) throw error;
    throw fromIoError(error, dir);
  }
}
