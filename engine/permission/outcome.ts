/**
 * The `outcome` record (record format 7): how a guarded operation that
 * asked ends when it journals no entry of its own. Every such operation
 * whose last request was allowed must end with a record naming it (its
 * entry, or this), durable before its caller hears, or recovery takes it
 * for unfinished and runs it again (broker.ts `resurrect`). Two places end
 * one without an entry: its performer (engine/fs/fs-guarded.ts: it failed,
 * or wrote nothing) and the broker (the object went while it was asking).
 */
import type { EngineRecord } from '../record/record.js';
import type { Intent } from './intent.js';

/** The outcome record of `intent`'s operation: its mask is the union of the operation's permission events. */
export function outcomeRecord(intent: Intent, operationSeq: bigint, time: bigint): EngineRecord {
  let mask = 0n;
  for (const step of intent.steps) mask |= step.mask;
  return { kind: 'outcome', op: intent.op, time, mask, operationSeq, path: intent.path };
}

/**
 * Journals the outcome of an operation that failed with `error`, then
 * gives what its caller must hear: `error` once the outcome is durable;
 * if it cannot be journaled (the engine closed or failed), that failure,
 * since recovery may then run the operation again.
 */
export async function failedOutcome(
  append: (record: EngineRecord) => Promise<bigint>,
  intent: Intent,
  operationSeq: bigint | undefined,
  time: bigint,
  error: unknown,
): Promise<unknown> {
  if (operationSeq === undefined) return error;
  try {
    await append(outcomeRecord(intent, operationSeq, time));
    return error;
  } catch (failure) {
    return failure;
  }
}
