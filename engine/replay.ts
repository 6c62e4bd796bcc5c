/**
 * Replay: from a loaded checkpoint to the journal's head, the one loop that
 * recovery (Engine.open) and `fanlog repair --rebuild-store` share.
 *
 * It reads the journal from the first record the checkpoint needs: records
 * up to the checkpoint's seq only tell it about permission requests (which
 * may be older than the checkpoint); the op records after it are applied
 * through `FsState.apply`, the same code live operations use. A record that
 * cannot be decoded or applied is ECORRUPT naming its seq: a journal whose
 * frames are sound but whose records contradict the state is damage (or a
 * bug), never an I/O error.
 */
import { FanlogError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { fieldAt, kindAt, scanRecord } from './record/bytes.js';
import { bigVarintAt, varintAt } from './record/values.js';
import { decodeScanned } from './record/codec.js';
import { TAG } from './record/fields.js';
import { OpCursor } from './record/op-cursor.js';
import type { FsState } from './model/fs-state.js';
import { isAllowed } from './permission/rules.js';
import type { RequestRecord } from './record/record.js';

/** Tag 21: an entry's operation seq, a decision's request seq; then a decision's response. */
const SEQ_TAG = TAG.operationSeq!;
const RESPONSE_TAG = TAG.response!;

export interface Replayed {
  /** Permission requests by seq, from the first record the checkpoint needs. */
  requests: Map<bigint, RequestRecord>;
  /** Journaled answers, by the seq of the request they answer. */
  decisions: Map<bigint, number>;
  /** Operations (by operation seq) whose own entry is in the journal. */
  completed: Set<bigint>;
  /** Records after the checkpoint. */
  replayedRecords: number;
}

/** Applies the journal after `checkpoint` to its state (in place); see the header. */
export async function replayJournal(journal: Journal, checkpoint: LoadedCheckpoint): Promise<Replayed> {
  const replayed: Replayed = { requests: new Map(), decisions: new Map(), completed: new Set(), replayedRecords: 0 };
  const { state, seq } = checkpoint;
  // Up to the checkpoint's seq, only what permissions need; after it, every op applied too.
  const from = checkpoint.needsFromSeq <= seq ? checkpoint.needsFromSeq : seq + 1n;
  if (from <= seq) await replayRange(journal, from, seq, replayed, null);
  await replayRange(journal, seq + 1n, undefined, replayed, state);
  // The checkpoint's window starts at or before the first request of every
  // operation pending when it was taken: an operation that began before the
  // window was over by then, whatever its later, answered requests say.
  // (Format 6 journaled no end for an allowed operation that failed or wrote
  // no entry.) An unanswered one is left for resurrect, which refuses it.
  for (const [requestSeq, record] of replayed.requests)
    if ((record.operationSeq ?? requestSeq) < from && replayed.decisions.has(requestSeq)) replayed.requests.delete(requestSeq);
  return replayed;
}

/**
 * Replays `[from, to]` from the records' bytes: a request is decoded whole
 * (it is kept); an op record is applied through one OpCursor over its
 * bytes (no object per record); of the rest only the fields replay needs (a
 * decision's request and response, an entry's operation seq) are read
 * where they lie. Every record is checked whole.
 */
async function replayRange(journal: Journal, from: bigint, to: bigint | undefined, replayed: Replayed, state: FsState | null): Promise<void> {
  const reader = journal.read(to === undefined ? { from } : { from, to });
  const op = new OpCursor();
  const visit = (b: Uint8Array, start: number, end: number): void => {
    const present = scanRecord(b, start, end);
    const kind = kindAt(b, start);
    if (kind === 'request') replayed.requests.set(reader.visitingSeq(), decodeScanned(b, start, end, present) as RequestRecord);
    else if (kind === 'decision') replayed.decisions.set(bigVarintAt(b, fieldAt(b, start, end, SEQ_TAG)), varintAt(b, fieldAt(b, start, end, RESPONSE_TAG)));
    else if ((present & (1 << SEQ_TAG)) !== 0) replayed.completed.add(bigVarintAt(b, fieldAt(b, start, end, SEQ_TAG)));
    if (state === null) return;
    if (kind === 'op') state.apply(op.point(b, start, end));
    replayed.replayedRecords++;
  };
  // What the journal itself reports (damage with file and offset, I/O) goes on as it is.
  await reader.each((b, start, end) => {
    try {
      visit(b, start, end);
    } catch (error) {
      const recordSeq = reader.visitingSeq();
      throw new FanlogError('ECORRUPT', `${journal.dir}: record ${recordSeq} cannot be replayed: ${(error as Error).message}`, {
        file: journal.dir,
        seq: recordSeq,
        cause: error,
      });
    }
    return true;
  });
}

/**
 * The first request of the oldest guarded operation the replayed journal
 * shows unfinished (its last request unanswered, or allowed and its own
 * entry missing), as PermissionBroker.resurrect judges it; undefined when none
 * is. A checkpoint that a rebuild writes needs the journal from there.
 */
export function oldestUnfinishedRequest(replayed: Replayed): bigint | undefined {
  const lastOf = new Map<bigint, bigint>();
  for (const [seq, record] of replayed.requests) {
    const operation = record.operationSeq ?? seq;
    const last = lastOf.get(operation);
    if (last === undefined || seq > last) lastOf.set(operation, seq);
  }
  let oldest: bigint | undefined;
  for (const [operation, last] of lastOf) {
    const response = replayed.decisions.get(last);
    const unfinished = response === undefined || (isAllowed(response) && !replayed.completed.has(operation));
    if (unfinished && (oldest === undefined || operation < oldest)) oldest = operation;
  }
  return oldest;
}
