/**
 * What a consumer must be delivered, worked out from the journal alone: the
 * model's side of invariant 4, shared by the workload's live check and the
 * check after recovery (checks.ts).
 */
import { decodeRecord } from '../engine/record/codec.js';
import type { Engine } from '../fanlog.js';

/** The seqs from `from` (through `to`, default the durable head) that a consumer with `mask` is delivered: every record but op records, and records with a mask only if it meets `mask`. */
export async function deliverableSeqs(engine: Engine, from: bigint, mask: bigint, to?: bigint): Promise<bigint[]> {
  const seqs: bigint[] = [];
  for await (const { seq, payload } of engine.journal.read(to === undefined ? { from } : { from, to })) {
    const record = decodeRecord(payload);
    if (record.kind !== 'op' && (record.mask === undefined || (record.mask & mask) !== 0n)) seqs.push(seq);
  }
  return seqs;
}
