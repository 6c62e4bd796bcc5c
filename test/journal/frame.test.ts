/**
 * Frames: an encoded frame checks as sound, and any single flipped bit or
 * impossible length is caught before payloads are trusted.
 */
import { describe, expect, it } from 'vitest';
import { checkFrame, encodePurgeFrame, encodeRecordsFrame, FRAME_HEADER_BYTES, forEachRecord, readFrameHeader } from '../../journal/frame.js';
import { text, untext } from '../helpers.js';

describe('frame', () => {
  it('round-trips records with their sequence numbers', () => {
    const frame = encodeRecordsFrame(41n, [text('alpha'), new Uint8Array(0), text('gamma')]);
    expect(checkFrame(frame, 0, frame.length)).toBe(frame.length);
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
      expect(checkFrame(damaged, 0, damaged.length), `bit ${bit}`).not.toBe(frame.length);
    }
  });

  it('reports a length shorter than a header or beyond the available bytes', () => {
    const frame = encodeRecordsFrame(1n, [text('x')]);
    const short = frame.slice();
    new DataView(short.buffer).setUint32(0, 3, true);
    expect(checkFrame(short, 0, short.length)).toBe('impossible length');
    expect(checkFrame(frame, 0, frame.length - 1)).toBe('incomplete frame');
    expect(checkFrame(frame.subarray(0, 10), 0, 10)).toBe('incomplete header');
  });

  it('reads a frame in the middle of a larger buffer', () => {
    const frame = encodeRecordsFrame(5n, [text('middle')]);
    const buffer = new Uint8Array(frame.length + 20);
    buffer.set(frame, 13);
    expect(checkFrame(buffer, 13, frame.length)).toBe(frame.length);
    const payloads: string[] = [];
    forEachRecord(buffer, 13, (_seq, payload) => payloads.push(untext(payload)));
    expect(payloads).toEqual(['middle']);
  });

  it('encodes a purge mark as a bare, checked header', () => {
    const frame = encodePurgeFrame(99n);
    expect(frame.length).toBe(FRAME_HEADER_BYTES);
    expect(checkFrame(frame, 0, frame.length)).toBe(FRAME_HEADER_BYTES);
    expect(readFrameHeader(frame, 0)).toMatchObject({ kind: 2, recordCount: 0, seq: 99n });
  });
});
