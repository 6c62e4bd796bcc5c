/**
 * The consumer record: a consumer's durable state, stored in the MetaStore
 * under `consumer/<name>` (store/keys.ts) and sealed by the store's
 * envelope (store/envelope.ts: magic, version, CRC-32 over key and
 * payload).
 *
 * Payload (JSON, version 1):
 *
 *   field          value
 *   version        1
 *   mask           the consumer's mask, a decimal string (u64)
 *   cursor         the last acknowledged seq, a decimal string (u64)
 *   lagRecordsMax  evict past this many records behind the head; null: never
 *   idleMsMax      evict after this long without a read or ack; null: never
 *   filter         { name, argument } of the attached filter; null: none
 *   evicted        { fromSeq, toSeq } (decimal strings) of the records it
 *                  will never see, once evicted; null: not evicted
 *   lost           (optional) { fromSeq, toSeq } of every record never
 *                  delivered under this name, for a consumer registered in
 *                  place of an evicted one: from the first the evicted one
 *                  missed through the last before this one's first (older
 *                  readers ignore it); absent: none
 *
 * A record is checked before it is written (read back by the same decoder,
 * its cursor the one meant) and after it is read: a value of another
 * version, not JSON, or with a malformed cursor or mask, is ECORRUPT naming
 * the key, never a consumer.
 */
import assert from 'node:assert/strict';
import { FAN_MARK_FLAGS } from '../engine/notify/masks.js';
import { parseVersioned } from '../store/envelope.js';

export const CONSUMER_VERSION = 1;

export interface StoredConsumer {
  version: number;
  mask: string;
  cursor: string;
  lagRecordsMax: number | null;
  idleMsMax: number | null;
  filter: { name: string; argument: string } | null;
  evicted: { fromSeq: string; toSeq: string } | null;
  lost?: { fromSeq: string; toSeq: string };
}

export function encodeConsumer(stored: StoredConsumer): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(stored));
  // Our own reader accepts what is written, with the cursor meant (a JSON
  // round trip of plain values is exact, so no deep comparison is needed).
  const back = decodeConsumer(bytes, (what) => new assert.AssertionError({ message: `a consumer value this version cannot read: ${what}` }));
  if (back.cursor !== stored.cursor) assert.fail(`consumer value written with cursor ${back.cursor}, meant ${stored.cursor}`);
  return bytes;
}

/** A stored consumer, checked; `fail` reports what is wrong with it (ECORRUPT from the store). */
export function decodeConsumer(bytes: Uint8Array, fail: (what: string) => Error): StoredConsumer {
  const stored = parseVersioned<StoredConsumer>(bytes, 'consumer', CONSUMER_VERSION, fail);
  if (!/^\d+$/.test(String(stored.cursor)) || !/^\d+$/.test(String(stored.mask))) throw fail('consumer fields are malformed');
  return stored;
}

/**
 * The bits a consumer's mask selects records by: its events. FAN_ONDIR and
 * FAN_EVENT_ON_CHILD qualify a mark's events and select nothing on their
 * own, so a consumer mask holds neither (registration refuses them); a
 * mask stored before that keeps its events only. The default, every bit,
 * selects every record.
 */
export function selectingMask(stored: StoredConsumer): bigint {
  const mask = BigInt(stored.mask);
  return mask === 2n ** 64n - 1n ? mask : mask & ~FAN_MARK_FLAGS;
}
