/**
 * The record codec: every field round-trips, absent fields stay absent, and
 * what this version cannot read is rejected with ECORRUPT, not misread.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../interop/index.js';
import { type EngineRecord, FAN_MODIFY, FAN_ONDIR, FAN_XATTR } from '../../index.js';
import { viewRecord } from '../../engine/record/view.js';
import { rejectionSync } from '../helpers.js';

/** Every field at once, which no kind carries: the codec writes whatever a record holds. */
const full = {
  kind: 'event',
  time: 1_700_000_000_123_456_789n,
  op: 'rename',
  mask: FAN_MODIFY | FAN_XATTR | FAN_ONDIR,
  fid: { ino: 42, gen: 7 },
  parentFid: { ino: 1, gen: 1 },
  name: 'new name ✓',
  oldParentFid: { ino: 9, gen: 3 },
  oldName: 'old',
  path: '/data/new name ✓',
  oldPath: '/old/old',
  range: { offset: 2 ** 40, count: 4096 },
  stat: { ino: 42, mode: 0o100644, uid: 1000, gid: 100, size: 2 ** 35, nlink: 2, atime: 1n, mtime: 2n ** 62n, ctime: 3n },
  attrs: { mode: 0o600, gid: 5, atime: 10n },
  xattr: 'user.hsm',
  value: new Uint8Array([0, 1, 255]),
  target: '../elsewhere',
  offline: true,
  pid: 4000,
  tid: 4001,
  uid: 1000,
  gid: 100,
  source: 'mirror',
  config: '{"a":1}',
  operationSeq: 2n ** 60n,
  response: 0x05000002,
  timeout: true,
  consumer: 'backup',
  fromSeq: 5n,
  toSeq: 2n ** 63n,
  step: 1,
  steps: [{ mask: 0x1_0000n }, { mask: 0x8_0000n, range: { offset: 2 ** 33, count: 4096 } }],
  args: { flags: 'rw', exec: false, truncate: true, offset: 7, length: 2 ** 40, size: 0, write: true },
  handle: { type: 0x4d, bytes: new Uint8Array(20).fill(0xab) },
  parentHandle: { type: -1, bytes: new Uint8Array([1]) },
  oldParentHandle: { type: 0x81, bytes: new Uint8Array(128).fill(3) },
} as unknown as EngineRecord;

describe('record codec', () => {
  it('round-trips a record with every field', () => {
    expect(decodeRecord(encodeRecord(full))).toEqual(full);
  });

  it('refuses to write a file handle the format cannot hold: EINVAL naming it', () => {
    const cases: [string, unknown, RegExp][] = [
      ['129 bytes', { type: 1, bytes: new Uint8Array(129) }, /handle\.bytes of 129 bytes/],
      ['no bytes', { type: 1, bytes: new Uint8Array(0) }, /handle\.bytes of 0 bytes/],
      ['a type past s32', { type: 2 ** 31, bytes: new Uint8Array(8) }, /handle\.type 2147483648/],
      ['bytes that are not bytes', { type: 1, bytes: [1, 2] }, /handle\.bytes an object/],
    ];
    for (const [what, handle, message] of cases) {
      const error = rejectionSync(() => encodeRecord({ kind: 'event', op: 'external', time: 0n, mask: 1n, handle } as unknown as EngineRecord));
      expect(error.code, what).toBe('EINVAL');
      expect(error.message, what).toMatch(message);
    }
  });

  it("views a record's handles, past the presence bits, found by stepping", () => {
    const view = viewRecord(5n, encodeRecord(full));
    expect([view.handle, view.parentHandle, view.oldParentHandle]).toEqual([full.handle, full.parentHandle, full.oldParentHandle]);
    const bare = viewRecord(6n, encodeRecord({ kind: 'event', op: 'external', time: 0n, mask: 1n, gid: 3, parentHandle: full.parentHandle! }));
    expect([bare.handle, bare.parentHandle, bare.oldParentHandle, bare.gid]).toEqual([undefined, full.parentHandle, undefined, 3]);
  });

  it('views a record: seq and kind as properties, every delivered field on access, toJSON as the decoded record without the internal fields', () => {
    const view = viewRecord(77n, encodeRecord(full));
    expect(Object.keys(view)).toEqual(['seq', 'kind']);
    expect([view.seq, view.kind, view.op, view.mask, view.fid, view.path, view.oldPath, view.name]).toEqual([
      77n,
      'event',
      'rename',
      full.mask,
      full.fid,
      full.path,
      full.oldPath,
      full.name,
    ]);
    const { intent: _i, step: _s, steps: _t, args: _a, attrs: _b, value: _v, config: _c, ...delivered } = full as unknown as Record<string, unknown>;
    const plain = view.toJSON();
    expect(plain).toEqual({ ...delivered, seq: 77n });
    expect(Object.keys(plain)).toEqual([...Object.keys(decodeRecord(encodeRecord(full))).filter((key) => key in delivered), 'seq']);
    expect(structuredClone(plain)).toEqual(plain);
  });

  it('round-trips a minimal record and keeps absent fields absent', () => {
    const minimal: EngineRecord = { kind: 'op', time: 0n, op: 'hsmRelease' };
    const decoded = decodeRecord(encodeRecord(minimal));
    expect(decoded).toEqual(minimal);
    expect(Object.keys(decoded).sort()).toEqual(['kind', 'op', 'time']);
  });

  it('is compact: a typical event is well under 100 bytes', () => {
    const event: EngineRecord = {
      kind: 'event',
      time: 1_700_000_000_000_000_000n,
      op: 'write',
      mask: FAN_MODIFY,
      fid: { ino: 1234, gen: 1234 },
      parentFid: { ino: 12, gen: 12 },
      name: 'file.dat',
      path: '/data/file.dat',
      range: { offset: 0, count: 4096 },
      pid: 100,
      tid: 100,
      uid: 0,
    };
    expect(encodeRecord(event).length).toBeLessThan(70);
  });

  it('refuses to write the JSON intent of format 1, which it still reads', () => {
    expect(() => encodeRecord({ ...full, intent: '{}' } as EngineRecord)).toThrow(/read, never written/);
  });

  it('rejects another codec version, a tag its version did not have, unknown tags, out-of-order tags, truncation and bad UTF-8', () => {
    const bytes = encodeRecord(full);
    const cases: [string, Uint8Array][] = [
      ['version 0', Uint8Array.of(0, ...bytes.subarray(1))],
      ['version 10', Uint8Array.of(10, ...bytes.subarray(1))],
      ['a format 2 tag in a version 1 record', Uint8Array.of(1, ...bytes.subarray(1, 11), 29, 0)],
      ['a format 3 tag in a version 2 record', Uint8Array.of(2, ...bytes.subarray(1, 11), 32, 0)],
      ["tag 0, never given (its presence bit is tag 32's)", Uint8Array.of(...bytes.subarray(0, 11), 0, 1)],
      ['a format 9 tag in a version 8 record', Uint8Array.of(8, ...bytes.subarray(1, 11), 33, 1, 1, 0)],
      ['a tag after 35', Uint8Array.of(...bytes.subarray(0, 11), 36, 1)],
      ['a handle of no bytes', Uint8Array.of(...bytes.subarray(0, 11), 33, 1, 0)],
      ['a handle of 129 bytes', Uint8Array.of(...bytes.subarray(0, 11), 33, 1, 0x81, 1, ...new Uint8Array(129))],
      ['a handle type past 32 bits', Uint8Array.of(...bytes.subarray(0, 11), 33, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0)],
      ['a handle longer than its record', Uint8Array.of(...bytes.subarray(0, 11), 34, 1, 8, 1, 2)],
      ['handle tags out of order', Uint8Array.of(...bytes.subarray(0, 11), 34, 1, 1, 0, 33, 1, 1, 0)],
      ['a step range flag of 2', Uint8Array.of(...bytes.subarray(0, 11), 30, 1, 5, 2)],
      ['open flags code 3', Uint8Array.of(...bytes.subarray(0, 11), 31, 1, 3)],
      ['a boolean argument of 2', Uint8Array.of(...bytes.subarray(0, 11), 31, 2, 2)],
      ['argument presence past the fields', Uint8Array.of(...bytes.subarray(0, 11), 31, 0x80)],
      ['unknown kind', Uint8Array.of(1, 99, ...bytes.subarray(2))],
      ['unknown tag', Uint8Array.of(...bytes.subarray(0, 11), 99)],
      ['tag out of order', Uint8Array.of(...bytes.subarray(0, 11), 18, 1, 16, 1)],
      ['truncated', bytes.subarray(0, bytes.length - 3)],
      ['bad utf-8', Uint8Array.of(...bytes.subarray(0, 11), 4, 2, 0xc3, 0x28)],
    ];
    for (const [what, damaged] of cases) {
      const error = rejectionSync(() => decodeRecord(damaged));
      expect(error.code, what).toBe('ECORRUPT');
    }
  });
});
