/**
 * A delivered record rebuilt from its encoded bytes, for the readers that
 * get a record's bytes from elsewhere than the journal: a Redis stream's
 * entry (replication/entry.ts) and the holder's socket
 * (serve/local-consumer.ts). A plain object with every field a consumer's
 * DeliveredRecord has, the fields only replay uses left out.
 */
import { decodeRecord } from '../engine/record/codec.js';
import { INTERNAL_FIELDS } from '../engine/record/fields.js';
import type { DeliveredRecord } from './consumer.js';

export function decodeDelivered(seq: bigint, bytes: Uint8Array): DeliveredRecord {
  const record = decodeRecord(bytes) as unknown as Record<string, unknown>;
  for (const name of INTERNAL_FIELDS) delete record[name];
  record.seq = seq;
  return record as unknown as DeliveredRecord;
}
