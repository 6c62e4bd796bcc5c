/**
 * What a restarted handler needs of the journal for an event its supervisor
 * sends again with a seq: the decision it journaled, if any.
 */
import type { EngineCore } from '../engine/engine.js';
import { decodeRecord } from '../engine/record/codec.js';

/**
 * The response journaled to request `seq`, if that request asks about
 * kernel event `kernelEvent`; null if the journal holds no such request, or
 * no decision on it (an event the supervisor sends again after the handler
 * died). It reads from `seq` on: the decision follows its request closely.
 */
export async function decisionOf(engine: EngineCore, seq: bigint, kernelEvent: string): Promise<number | null> {
  const { journal } = engine;
  if (seq < journal.firstSeq || seq > journal.durableSeq) return null;
  for await (const { seq: at, payload } of journal.read({ from: seq })) {
    const record = decodeRecord(payload);
    if (at === seq && (record.kind !== 'request' || record.kernelEvent !== kernelEvent)) return null;
    if (record.kind === 'decision' && record.requestSeq === seq) return record.response;
  }
  return null;
}
