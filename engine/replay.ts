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
import { decodeRecord } from './record/codec.js';
import { isAllowed } from './permission/rules.js';
import type { RequestRecord } from './record/record.js';

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
  const { state, seq } = checkpoint;
  const replayed: Replayed = { requests: new Map(), decisions: new Map(), completed: new Set(), replayedRecords: 0 };
  for await (const { seq: recordSeq, payload } of journal.read({ from: checkpoint.needsFromSeq })) {
    try {
      const record = decodeRecord(payload);
      if (record.kind === 'request') replayed.requests.set(recordSeq, record);
      else if (record.kind === 'decision') replayed.decisions.set(record.requestSeq!, record.response!);
      else if (record.operationSeq !== undefined) replayed.completed.add(record.operationSeq);
      if (recordSeq <= seq) continue;
      if (record.kind === 'op') state.apply(record);
    } catch (error) {
      throw new FanlogError('ECORRUPT', `${journal.dir}: record ${recordSeq} cannot be replayed: ${(error as Error).message}`, {
        file: journal.dir,
        seq: recordSeq,
        cause: error,
      });
    }
    replayed.replayedRecords++;
  }
  return replayed;
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
