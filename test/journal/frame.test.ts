/**
 * Frames: an encoded frame checks as sound, and any single flipped bit or
 * impossible length is caught before payloads are trusted.
 */
import { describe, expect, it } from 'vitest';
import { checkFrame, encodePurgeFrame, encodeRecordsFrame, FRAME_HEADER_BYTES, forEachRecord, frameSalt, readFrameHeader } from '../../journal/frame.js';
import { text, untext } from '../helpers.js';

/** Frames as format 1 wrote them (seed 0), checked as every reader checks them. */
const UNSALTED = { salt: 7, saltedOnly: false };

describe('frame', () => {
  it('round-trips records with their sequence numbers', () => {
    const frame = encodeRecordsFrame(41n, [text('alpha'), new Uint8Array(0), text('gamma')]);
    expect(checkFrame(frame, 0, frame.length, UNSALTED)).toBe(frame.length);
    const header = readFrameHeader(frame, 0);
    expect(header).toEqual({ frameBytes: frame.length, kind: 1, recordCount: 3, seq: 41n, batchDelta: 0 });
    const seen: [bigint, string][] = [];
    forEachRecord(frame, 0, (seq, payload) => seen.push([seq, untext(payload)]));
    expect(seen).toEqual([
      [41n, 'alpha'],
      [42n, ''],
      [43n, 'gamma'],
    ]);
  });

  it('detects every single flipped bit', () => {
    const frame = encodeRecordsFrame(7n, [text('one'), text('two')]);
    for (let bit = 0; bit < frame.length * 8; bit++) {
      const damaged = frame.slice();
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      expect(checkFrame(damaged, 0, damaged.length, UNSALTED), `bit ${bit}`).not.toBe(frame.length);
    }
  });

  it('reports a length shorter than a header or beyond the available bytes', () => {
    const frame = encodeRecordsFrame(1n, [text('x')]);
    const short = frame.slice();
    new DataView(short.buffer).setUint32(0, 3, true);
    expect(checkFrame(short, 0, short.length, UNSALTED)).toBe('impossible length');
    expect(checkFrame(frame, 0, frame.length - 1, UNSALTED)).toBe('incomplete frame');
    expect(checkFrame(frame.subarray(0, 10), 0, 10, UNSALTED)).toBe('incomplete header');
  });

  it('reads a frame in the middle of a larger buffer', () => {
    const frame = encodeRecordsFrame(5n, [text('middle')]);
    const buffer = new Uint8Array(frame.length + 20);
    buffer.set(frame, 13);
    expect(checkFrame(buffer, 13, frame.length, UNSALTED)).toBe(frame.length);
    const payloads: string[] = [];
    forEachRecord(buffer, 13, (_seq, payload) => payloads.push(untext(payload)));
    expect(payloads).toEqual(['middle']);
  });

  it('encodes a purge mark as a bare, checked header', () => {
    const frame = encodePurgeFrame(99n);
    expect(frame.length).toBe(FRAME_HEADER_BYTES);
    expect(checkFrame(frame, 0, frame.length, UNSALTED)).toBe(FRAME_HEADER_BYTES);
    expect(readFrameHeader(frame, 0)).toMatchObject({ kind: 2, recordCount: 0, seq: 99n });
  });

  it('seeds the checksum with the salt: a salted frame checks under its salt only, an unsalted one everywhere but a salted-only check', () => {
    const salted = encodeRecordsFrame(3n, [text('salted')], frameSalt(0x1234_5678_9abc_def0n));
    const unsalted = encodeRecordsFrame(3n, [text('salted')]);
    const salt = frameSalt(0x1234_5678_9abc_def0n);
    expect(checkFrame(salted, 0, salted.length, { salt, saltedOnly: true })).toBe(salted.length);
    expect(checkFrame(salted, 0, salted.length, { salt: frameSalt(99n), saltedOnly: false })).toBe('checksum mismatch');
    expect(checkFrame(unsalted, 0, unsalted.length, { salt, saltedOnly: false })).toBe(unsalted.length);
    // The damage scan of a format 2 segment: bytes shaped like a frame without the journal's salt are no frame.
    expect(checkFrame(unsalted, 0, unsalted.length, { salt, saltedOnly: true })).toBe('checksum mismatch');
    expect(frameSalt(0n)).not.toBe(0);
  });
});
