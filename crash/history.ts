/**
 * The crash campaign's record of what was appended: every record the engine
 * wrote into a segment, by seq, and which seqs ended an entry. It is built
 * from TraceIo's mirrors of the segment files with a parser of its own,
 * deliberately not the journal's: a bug in the journal's framing or
 * recovery must not be able to hide in the model it is checked against.
 *
 * The parser needs only the parts of the format it reads (segment.ts and
 * frame.ts own the format): a 40-byte segment header, then frames of
 * { u32 frameBytes, u32 crc, u8 kind, u24 batchDelta, u32 recordCount, u64 seq }
 * followed, for kind 1, by recordCount times { u32 payloadBytes, payload }.
 * The checksum is seeded with the journal's salt (the journal id in the
 * header at 16, its two halves XORed, 0 read as 1), or 0 for a frame
 * written before salts.
 * The mirrors hold the bytes whose write resolved, and after a power cut
 * what survived of them (which may end in torn garbage), so the parser
 * stops at the first frame that does not fit, whose checksum (CRC-32 over
 * the frame but its own four bytes) fails, or whose records overrun it.
 *
 * Power cuts make timelines: the bytes not yet durable are lost and the
 * next epoch appends other records under the same seqs. `absorb` merges an
 * epoch in: from the first seq whose payload differs, the older timeline is
 * dropped.
 */

import { crc32 } from '../journal/checksum.js';

const SEGMENT_HEADER_BYTES = 40;
const FRAME_HEADER_BYTES = 24;
const KIND_RECORDS = 1;

export class History {
  readonly payloads = new Map<bigint, Uint8Array>();
  /** Seqs that ended an entry: the only places a recovered journal may end. */
  readonly entryEnds = new Set<bigint>([0n]);

  /** Merges the records the mirrors hold now into the history. */
  absorb(segments: Iterable<Uint8Array>): void {
    const parsed = new Map<bigint, { payload: Uint8Array; endsEntry: boolean }>();
    for (const bytes of segments) parseSegment(bytes, parsed);
    const seqs = [...parsed.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const seq of seqs) {
      const { payload, endsEntry } = parsed.get(seq)!;
      const known = this.payloads.get(seq);
      if (known !== undefined && !sameBytes(known, payload)) this.#dropFrom(seq);
      this.payloads.set(seq, payload);
      if (endsEntry) this.entryEnds.add(seq);
    }
  }

  #dropFrom(seq: bigint): void {
    for (const known of [...this.payloads.keys()]) if (known >= seq) this.payloads.delete(known);
    for (const end of [...this.entryEnds]) if (end >= seq) this.entryEnds.delete(end);
  }
}

function parseSegment(bytes: Uint8Array, into: Map<bigint, { payload: Uint8Array; endsEntry: boolean }>): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < SEGMENT_HEADER_BYTES) return;
  const salt = (view.getUint32(16, true) ^ view.getUint32(20, true)) >>> 0 || 1;
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + FRAME_HEADER_BYTES <= bytes.length) {
    const frameBytes = view.getUint32(offset, true);
    if (frameBytes < FRAME_HEADER_BYTES || offset + frameBytes > bytes.length) return;
    const frame = bytes.subarray(offset, offset + frameBytes);
    const stored = view.getUint32(offset + 4, true);
    const sound = (seed: number): boolean => crc32(frame.subarray(8), crc32(frame.subarray(0, 4), seed)) === stored;
    if (!sound(salt) && !sound(0)) return;
    const kind = view.getUint8(offset + 8);
    const recordCount = view.getUint32(offset + 12, true);
    const firstSeq = view.getBigUint64(offset + 16, true);
    if (kind === KIND_RECORDS) {
      const records: { payload: Uint8Array; endsEntry: boolean }[] = [];
      let at = offset + FRAME_HEADER_BYTES;
      for (let i = 0; i < recordCount; i++) {
        if (at + 4 > offset + frameBytes) return;
        const payloadBytes = view.getUint32(at, true);
        if (at + 4 + payloadBytes > offset + frameBytes) return;
        records.push({ payload: bytes.slice(at + 4, at + 4 + payloadBytes), endsEntry: i === recordCount - 1 });
        at += 4 + payloadBytes;
      }
      records.forEach((record, i) => into.set(firstSeq + BigInt(i), record));
    }
    offset += frameBytes;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
