/**
 * Values the record codec cannot hold (a size of 2^60 a mirror found on a
 * sparse tmpfs file, a time before 1970, an id past 2^53) are refused at
 * every entry point that hands one in, before anything is applied: each
 * call fails with a FanlogError of the table's code, the state and the
 * journal are as they were, the engine keeps working, and no promise is
 * left to reject unhandled. And if a bug lets one through anyway, commit
 * never leaves the state applied without its entry: an op record is
 * checked before it is applied, and an event that cannot be encoded after
 * its op was applied fails the engine, whose reopen replays the journal.
 */
import { AssertionError } from 'node:assert';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Engine, FAN_ATTRIB, FanlogError } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { FsState } from '../../engine/model/fs-state.js';
import { OP_RECORD_FIELDS, opFault, unencodable } from '../../engine/record/encodable.js';
import type { EngineRecord, OpRecord } from '../../engine/record/record.js';
import { rejection } from '../helpers.js';

const BIG = 2 ** 60;
const MAX = Number.MAX_SAFE_INTEGER;
const disk = { mode: 0o644, uid: 1000, gid: 100, size: 10, atime: 1n, mtime: 2n };

let io: MemoryIo;
let engine: Engine;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeEach(async () => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  io = new MemoryIo();
  engine = await Engine.open('/e', { io, store: 'files' });
  await engine.fs.mkdir('/d');
  await engine.fs.create('/d/f', { size: 100 });
  await engine.mirrored.mirrorCreate('/d/m', 'file', disk).durable;
});

afterEach(async () => {
  await engine.close();
  process.off('unhandledRejection', onUnhandled);
});

/** Runs `call` (a throw or a rejection), then one turn of the event loop, so that a rejection nobody handles is reported before the checks. */
async function outcome(call: () => unknown): Promise<unknown> {
  let result: unknown;
  try {
    result = await call();
  } catch (error) {
    result = error;
  }
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

/** The fid of the object at an absolute path of the engine's state. */
function fidOf(path: string): { ino: number; gen: number } {
  let inode = engine.state.get(1)!;
  for (const name of path.split('/').slice(1)) inode = engine.state.get(inode.entries!.get(name)!)!;
  return { ino: inode.ino, gen: inode.gen };
}

const mirrorCreate =
  (attrs: Partial<typeof disk>, type: 'file' | 'dir' | 'symlink' = 'file', target?: string) =>
  () =>
    engine.mirrored.mirrorCreate('/d/new', type, { ...disk, ...attrs }, target).durable;
const mirrorSync = (attrs: Partial<typeof disk>) => () => engine.mirrored.mirrorSync('/d/m', attrs, true);

const cases: [string, () => unknown, string][] = [
  ["a mirror's create of a 2^60-byte sparse file", mirrorCreate({ size: BIG }), 'EFBIG'],
  ["a mirror's create of a file of 2^53 bytes", mirrorCreate({ size: MAX + 1 }), 'EFBIG'],
  ["a mirror's create with a fractional size", mirrorCreate({ size: 1.5 }), 'EINVAL'],
  ["a mirror's create of a file last changed before 1970", mirrorCreate({ mtime: -1_000_000_000n }), 'EINVAL'],
  ["a mirror's create with an atime past 2^64", mirrorCreate({ atime: 2n ** 64n }), 'EINVAL'],
  ["a mirror's create with a uid past 2^53", mirrorCreate({ uid: BIG }), 'EINVAL'],
  ["a mirror's create with a negative gid", mirrorCreate({ gid: -1 }), 'EINVAL'],
  ["a mirror's create with a negative mode", mirrorCreate({ mode: -1 }), 'EINVAL'],
  ["a mirror's create of a directory with a time before 1970", mirrorCreate({ atime: -1n }, 'dir'), 'EINVAL'],
  ["a mirror's create of a symlink with a lone surrogate in its target", mirrorCreate({}, 'symlink', 'a\uD800b'), 'EINVAL'],
  ["a mirror's sync to a 2^60-byte size", mirrorSync({ size: BIG }), 'EFBIG'],
  ["a mirror's sync to an mtime before 1970", mirrorSync({ mtime: -5n }), 'EINVAL'],
  ["a mirror's sync to a uid past 2^53", mirrorSync({ uid: BIG }), 'EINVAL'],
  ["a mirror's sync to a mode that is not an integer", mirrorSync({ mode: 0.5 }), 'EINVAL'],
];

it.each(cases)('%s is refused before anything is applied', async (_, call, code) => {
  const before = engine.state.fingerprint();
  const head = engine.journal.headSeq;
  const result = await outcome(call);
  expect(unhandled).toEqual([]);
  expect(result).toBeInstanceOf(FanlogError);
  expect((result as FanlogError).code).toBe(code);
  expect(engine.state.fingerprint()).toBe(before);
  expect(engine.journal.headSeq).toBe(head);
  expect(engine.failed).toBe(false);
  await engine.fs.create('/d/after');
  expect((await engine.fs.stat('/d/after')).size).toBe(0);
});

it("keeps a mirror's largest exact size and times, and replays them", async () => {
  await engine.mirrored.mirrorCreate('/d/huge', 'file', { ...disk, size: MAX, atime: 2n ** 63n - 1n, mtime: 0n }).durable;
  await engine.mirrored.mirrorSync('/d/m', { size: MAX - 1, mtime: 2n ** 63n - 1n }, true);
  const live = engine.state.fingerprint();
  await engine.close({ checkpoint: false });
  engine = await Engine.open('/e', { io, store: 'files' });
  expect(engine.state.fingerprint()).toBe(live);
  expect((await engine.fs.stat('/d/huge')).size).toBe(MAX);
});

it('asserts, before applying it, an op record the codec cannot hold, and the engine goes on', async () => {
  const fid = fidOf('/d/f');
  const before = engine.state.fingerprint();
  const head = engine.journal.headSeq;
  const op = { kind: 'op', op: 'chmod', time: 1n, fid, attrs: { mode: BIG } } as EngineRecord;
  const result = await outcome(() => engine.commit(op, () => []));
  expect(unhandled).toEqual([]);
  expect(result).toBeInstanceOf(AssertionError);
  expect(String(result)).toMatch(/attrs\.mode/);
  expect(engine.state.fingerprint()).toBe(before);
  expect(engine.journal.headSeq).toBe(head);
  expect(engine.failed).toBe(false);
});

it('fails the engine when an event cannot be encoded after its op was applied, and the reopen replays the journal', async () => {
  const fid = fidOf('/d/f');
  const before = engine.state.fingerprint();
  const head = engine.journal.headSeq;
  const op = { kind: 'op', op: 'chmod', time: 1n, fid, attrs: { mode: 0o600 } } as EngineRecord;
  const event = { kind: 'event', op: 'chmod', time: 1n, mask: FAN_ATTRIB, fid, range: { offset: BIG, count: 1 } } as EngineRecord;
  const result = await outcome(() => engine.commit(op, () => [event]));
  expect(unhandled).toEqual([]);
  expect(result).toBeInstanceOf(AssertionError);
  expect(engine.journal.headSeq).toBe(head);
  // The state holds a change the journal does not: nothing may build on it.
  expect(engine.failed).toBe(true);
  expect((await rejection(() => engine.fs.create('/d/later'))).code).toBe('EFAILED');
  await engine.close();
  engine = await Engine.open('/e', { io, store: 'files' });
  expect(engine.state.fingerprint()).toBe(before);
});

it('rejects a record the codec cannot hold appended on its own, without a seq, and the engine goes on', async () => {
  const head = engine.journal.headSeq;
  const seqs: bigint[] = [];
  const note = { kind: 'note', op: 'scanBegin', time: 1n, path: '/d', reason: 'a\uDC00' } as EngineRecord;
  const result = await outcome(() => engine.appendRecord(note, (seq) => seqs.push(seq)));
  expect(unhandled).toEqual([]);
  expect(result).toBeInstanceOf(AssertionError);
  expect(seqs).toEqual([]);
  expect(engine.journal.headSeq).toBe(head);
  expect(engine.failed).toBe(false);
});

it('asserts, before changing anything, a write whose end is past 2^53 - 1 (replay makes it ECORRUPT naming the seq)', () => {
  const state = new FsState(0n);
  state.apply({ kind: 'op', op: 'create', time: 1n, parentFid: { ino: 1, gen: 1 }, name: 'f', fid: { ino: 2, gen: 2 }, attrs: { size: 10 } });
  const before = state.fingerprint();
  expect(() => state.apply({ kind: 'op', op: 'write', time: 2n, fid: { ino: 2, gen: 2 }, range: { offset: MAX, count: 5 } })).toThrow(AssertionError);
  expect(() => state.apply({ kind: 'op', op: 'hsmFill', time: 2n, fid: { ino: 2, gen: 2 }, range: { offset: MAX - 1, count: 2 } })).toThrow(AssertionError);
  expect(state.fingerprint()).toBe(before);
});

it("checks an op record's fields as the codec's table does, one by one (opFault, commit's unrolled check)", () => {
  const good: Record<(typeof OP_RECORD_FIELDS)[number], unknown> = {
    fid: { ino: 3, gen: 4 },
    parentFid: { ino: 1, gen: 1 },
    oldParentFid: { ino: MAX, gen: 0 },
    name: 'n',
    oldName: 'ö',
    oldPath: '/a/ö',
    xattr: 'user.x',
    target: '/t',
    range: { offset: MAX, count: 0 },
    attrs: { mode: 0o644, uid: 0, gid: 1, size: MAX, atime: 2n ** 64n - 1n, mtime: 0n },
    value: new Uint8Array(2),
    offline: true,
    orphan: false,
    pid: 1,
    tid: 2,
    uid: MAX,
    gid: 0,
    operationSeq: 2n ** 64n - 1n,
  };
  const bad: Record<(typeof OP_RECORD_FIELDS)[number], unknown[]> = {
    fid: [
      { ino: -1, gen: 1 },
      { ino: 1, gen: 0.5 },
    ],
    parentFid: [{ ino: BIG, gen: 1 }],
    oldParentFid: [{ ino: 1, gen: -1 }],
    name: ['a\uD800'],
    oldName: ['\uDC00'],
    oldPath: ['/\uD800'],
    xattr: ['user.\uDFFF'],
    target: ['\uD800x'],
    range: [
      { offset: BIG, count: 1 },
      { offset: 0, count: -1 },
      { offset: 0.5, count: 1 },
    ],
    attrs: [{ size: BIG }, { mode: -1 }, { uid: 1.5 }, { gid: BIG }, { atime: -1n }, { mtime: 2n ** 64n }],
    value: ['bytes'],
    offline: [1],
    orphan: ['yes'],
    pid: [-1],
    tid: [BIG],
    uid: [0.5],
    gid: [-2],
    operationSeq: [-1n, 2n ** 64n],
  };
  const op = (fields: Record<string, unknown>): OpRecord => ({ kind: 'op', op: 'create', time: 5n, ...fields });
  expect(opFault(op(good))).toBeNull();
  expect(unencodable(op(good))).toBeNull();
  for (const field of OP_RECORD_FIELDS) {
    for (const value of bad[field]) {
      const record = op({ ...good, [field]: value });
      expect(opFault(record), `${field} ${String(value)}`).not.toBeNull();
      expect(unencodable(record), `${field} ${String(value)}`).toMatch(new RegExp(`^${field}`));
    }
  }
  expect(opFault(op({ ...good, time: -1n }))).toBe('time');
});

it('names a size past 2^53 - 1 by its exact digits, as stat(1) shows it', async () => {
  const error = await rejection(async () => engine.mirrored.mirrorCreate('/d/huge', 'file', { ...disk, size: BIG }).durable);
  expect(error.message).toBe('EFBIG: /d/huge: size 1152921504606846976 is beyond the largest size fanlog records exactly (2^53 - 1 bytes)');
});
