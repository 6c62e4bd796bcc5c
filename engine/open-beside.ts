/**
 * A read-only open beside the process that holds the engine (issue 30).
 *
 * Which stores can be read so. An lmdb store is read from its data file,
 * lock-free, in one consistent read (store/store-snapshot.ts), and the
 * journal opens read-only beside a live writer (journal/recovery.ts,
 * `writtenSince`): a read-only open of an lmdb engine takes no lock at all.
 * A level store cannot be (LevelDB's LOCK admits one process, and its
 * read-only open writes), nor can a files store (it is consistent only
 * under the engine's lock: its holder compacts it and purges what it
 * compacted), so a read-only open of those takes the engine's lock, and
 * beside a holder is EBUSY saying why and what works instead.
 *
 * The order that makes a lock-free open consistent: the store first, then
 * the journal. The holder commits a fact to the store (a cursor, a
 * checkpoint's seq, the high-water mark) only once the journal holds the
 * records it refers to, and a journal only grows at its head, so a journal
 * read after the store holds everything that store refers to, as long as
 * the holder purged nothing the store read still needs.
 *
 * The race that remains: the holder commits a newer checkpoint or cursor
 * after the store was read and purges the segments the older one needed,
 * or deletes a segment while recovery or replay reads it. The open then
 * meets what looks like damage: a checkpoint whose records are gone
 * (ECORRUPT), a segment gone under a read (ENOENT, EPURGED), a cursor the
 * journal no longer covers. None of those is trusted while the holder
 * moved: the store's commit id and the journal's segment names are read
 * before each attempt, and an attempt that failed so while either changed
 * is made again, from the store; EAGAIN after OPEN_TRIES. A failure while
 * neither changed is the engine's own, and is reported as it is: a purge
 * follows a store commit or deletes a segment, and either changes them.
 */
import path from 'node:path';
import { FanlogError, reason } from '../errors.js';
import type { Io } from '../journal/io.js';
import { parseSegmentFileName } from '../journal/segment.js';
import { metaStoreDir, type StoreKind } from '../store/meta-store.js';

/** How many times a lock-free open starts over when its holder overtook it, before EAGAIN. */
const OPEN_TRIES = 16;

/** Codes an attempt the holder overtook can fail with (see the header); any other failure is reported at once. */
const OVERTAKEN_CODES = new Set(['ECORRUPT', 'ENOENT', 'EPURGED', 'EAGAIN']);

/** Whether the holder moved since the attempt began: it committed to its store, or made or deleted a segment. */
export type HolderMoved = () => Promise<boolean>;

/**
 * Runs `attempt` (an open, which closes what it opened when it fails) and,
 * for a read-only open, runs it again while it fails as an attempt its
 * holder overtook does (see the header).
 */
export async function retryOvertaken<T>(io: Io, dir: string, readOnly: boolean, attempt: (moved: HolderMoved) => Promise<T>): Promise<T> {
  if (!readOnly) return attempt(async () => false);
  let last: FanlogError | null = null;
  for (let tries = 1; tries <= OPEN_TRIES; tries++) {
    const before = await holderMark(io, dir);
    const moved = async (): Promise<boolean> => (await holderMark(io, dir)) !== before;
    try {
      return await attempt(moved);
    } catch (error) {
      if (!(error instanceof FanlogError && OVERTAKEN_CODES.has(error.code)) || !(await moved())) throw error;
      last = error;
    }
  }
  throw new FanlogError(
    'EAGAIN',
    `engine ${dir}: its holder committed or purged under each of ${OPEN_TRIES} read-only opens (the last: ${last === null ? '' : reason(last)}); try again`,
    { file: dir, cause: last },
  );
}

/** The holder's progress, as a string to compare: its lmdb store's newest commit, and the journal's segment names. */
async function holderMark(io: Io, dir: string): Promise<string> {
  const parts: string[] = [];
  if ((await listing(io, dir)).includes(path.basename(metaStoreDir(dir, 'lmdb')))) {
    // Loaded only for an lmdb store, as the store itself is (store/meta-store.ts).
    const { lmdbCommitId } = await import('../store/store-snapshot.js');
    parts.push(`lmdb ${await lmdbCommitId(metaStoreDir(dir, 'lmdb'))}`);
  }
  parts.push(...(await listing(io, path.join(dir, 'journal'))).filter((name) => parseSegmentFileName(name) !== null).sort());
  return parts.join('\n');
}

/** The names in `dir`; none when it cannot be listed (the open says why). */
async function listing(io: Io, dir: string): Promise<string[]> {
  try {
    return await io.readdir(dir);
  } catch {
    return [];
  }
}

/**
 * For a lock-free open, once its readers are loaded: the journal must hold
 * every record from the retention bound on (what the checkpoint, a pending
 * request and every live cursor need). It always does at a moment the
 * holder was in; a journal that starts later was purged after the store
 * was read, by a holder that committed since: EAGAIN, which makes the open
 * start over.
 */
export async function checkCovered(journal: { firstSeq: bigint; dir: string }, retainedThrough: bigint, moved: HolderMoved): Promise<void> {
  if (journal.firstSeq <= retainedThrough + 1n || !(await moved())) return;
  throw new FanlogError(
    'EAGAIN',
    `journal ${journal.dir} starts at ${journal.firstSeq}, but the store read before it needs records from ${retainedThrough + 1n}: the holder purged them since`,
    { file: journal.dir },
  );
}

/** EBUSY for a read-only open of an engine whose store cannot be read beside its holder (see the header). */
export function busyBeside(dir: string, store: Exclude<StoreKind, 'lmdb'>, error: unknown): FanlogError {
  const why =
    store === 'level'
      ? `its level store cannot be read beside its holder (LevelDB's LOCK admits one process, and its read-only open writes)`
      : `its files store cannot be read beside its holder (it is consistent only under the engine's lock: the holder compacts it)`;
  return new FanlogError(
    'EBUSY',
    `engine ${dir} is open elsewhere (${reason(error)}), and ${why}. Beside it, fanlog stat, consumers list and tail read the journal lock-free; what only the holder knows, ask the holder (through its socket, where it serves one)`,
    { file: dir, cause: error },
  );
}
