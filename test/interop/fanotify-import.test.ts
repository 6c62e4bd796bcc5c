/**
 * Importing a fanotify stream (interop/fanotify-import.ts) journals what
 * it counts and counts what it journals, or refuses the whole stream
 * before anything is journaled: a RANGE past 2^53 - 1 (a value no record
 * holds exactly) is EFBIG, and an event fanlog could not journal as an
 * event (mask 0, only bits fanlog does not know, a negative pid) is
 * refused, each naming the byte offset in the input, from the library and
 * from `fanlog import` alike (`fanlog: CODE: message`, exit 1, no stack).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { decodeRecord, fileHandleOf, importFanotifyEvents, writeFanotifyEvents, type FanotifyEvent } from '../../interop/index.js';
import { Engine, FAN_ACCESS, FAN_ALL_EVENTS, FAN_CREATE, FAN_ONDIR, FAN_PRE_ACCESS, FanlogError } from '../../index.js';
import { rejection, tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const handle = fileHandleOf({ ino: 42, gen: 7 });
const create = (name: string): FanotifyEvent => ({ mask: FAN_CREATE, pid: 7, fd: -1, dir: { handle: fileHandleOf({ ino: 1, gen: 1 }), name }, handle });
/** A pre-access with a range: metadata (24 bytes), FID (28), then RANGE (24): its offset at byte 60, its count at 68. */
const preAccess = (): FanotifyEvent => ({ mask: FAN_PRE_ACCESS, pid: 7, fd: -1, handle, range: { offset: 0, count: 4096 } });
const RANGE_OFFSET_AT = 24 + 28 + 8;

/** The stream of `events`, then `patch` applied to its bytes (little-endian values at byte offsets). */
function stream(events: FanotifyEvent[], patch: (view: DataView) => void = () => undefined): Uint8Array {
  const bytes = writeFanotifyEvents(events);
  patch(new DataView(bytes.buffer, bytes.byteOffset, bytes.length));
  return bytes;
}

let engine: Engine;
let dir: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeEach(async () => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  dir = `${tempDir()}/engine`;
  engine = await Engine.open(dir);
});

afterEach(async () => {
  await engine.close();
  process.off('unhandledRejection', onUnhandled);
});

async function imported(): Promise<bigint[]> {
  const masks: bigint[] = [];
  for await (const { payload } of engine.journal.read()) {
    const record = decodeRecord(payload);
    if (record.op === 'external') masks.push(record.mask!);
  }
  return masks;
}

const refusals: [string, () => Uint8Array, string, number][] = [
  [
    'a RANGE offset of 2^53',
    () => stream([create('a'), preAccess()], (v) => v.setBigUint64(84 + RANGE_OFFSET_AT, 2n ** 53n, true)),
    'EFBIG',
    84 + RANGE_OFFSET_AT,
  ],
  ['a RANGE offset of 2^64 - 1', () => stream([preAccess()], (v) => v.setBigUint64(RANGE_OFFSET_AT, 2n ** 64n - 1n, true)), 'EFBIG', RANGE_OFFSET_AT],
  ['a RANGE count of 2^60', () => stream([preAccess()], (v) => v.setBigUint64(RANGE_OFFSET_AT + 8, 2n ** 60n, true)), 'EFBIG', RANGE_OFFSET_AT + 8],
  ['a RANGE ending past 2^53 - 1', () => stream([preAccess()], (v) => v.setBigUint64(RANGE_OFFSET_AT, 2n ** 53n - 100n, true)), 'EFBIG', RANGE_OFFSET_AT],
  ['an event of mask 0', () => stream([create('a'), { ...create('b'), mask: 0n }]), 'ECORRUPT', 84 + 8],
  ['an event of a bit fanlog does not know alone', () => stream([create('a'), { ...create('b'), mask: 1n << 24n }]), 'EINVAL', 84 + 8],
  ['an event of a flag alone', () => stream([{ ...create('b'), mask: FAN_ONDIR }]), 'EINVAL', 8],
  ['an event of a negative pid', () => stream([create('a'), { ...create('b'), pid: -3 }]), 'ECORRUPT', 84 + 20],
];

it.each(refusals)('refuses a stream with %s, naming its byte offset, and journals nothing', async (_, bytes, code, offset) => {
  const head = engine.journal.headSeq;
  const error = await rejection(() => importFanotifyEvents(engine, bytes()));
  await new Promise((resolve) => setImmediate(resolve));
  expect(unhandled).toEqual([]);
  expect(error).toBeInstanceOf(FanlogError);
  expect(error.code).toBe(code);
  expect(error.offset).toBe(offset);
  expect(error.message).toMatch(new RegExp(`^${code}: fanotify stream at byte ${offset}: `));
  expect(engine.journal.headSeq).toBe(head);
  expect(engine.failed).toBe(false);
});

it('keeps an unknown bit beside a known one in the mask, and the largest exact range', async () => {
  const last = 2n ** 53n - 1n;
  const bytes = stream([{ ...create('a'), mask: FAN_CREATE | (1n << 24n) }, preAccess()], (v) => v.setBigUint64(84 + RANGE_OFFSET_AT + 8, last - 4096n, true));
  expect(await importFanotifyEvents(engine, bytes)).toBe(2);
  expect(await imported()).toEqual([FAN_CREATE | (1n << 24n), FAN_PRE_ACCESS]);
});

it('counts what it journaled: not the events the changelog mask leaves out', async () => {
  await engine.close();
  engine = await Engine.open(dir, { changelogMask: FAN_ALL_EVENTS & ~FAN_ACCESS });
  const access = { ...create('x'), mask: FAN_ACCESS };
  expect(await importFanotifyEvents(engine, stream([create('a'), access, create('b'), access, create('c')]))).toBe(3);
  expect(await imported()).toEqual([FAN_CREATE, FAN_CREATE, FAN_CREATE]);
});

it('fanlog import prints the refusal as fanlog: CODE: message, exits 1 and journals nothing', async () => {
  await engine.close();
  const file = `${tempDir()}/huge-range.bin`;
  writeFileSync(
    file,
    stream([create('a'), preAccess()], (v) => v.setBigUint64(84 + RANGE_OFFSET_AT, 2n ** 60n, true)),
  );
  const run = spawnSync(process.execPath, [CLI, 'import', '--format', 'fanotify', file, '--dir', dir], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(new RegExp(`^fanlog: EFBIG: fanotify stream at byte ${84 + RANGE_OFFSET_AT}: `));
  expect(run.stderr).not.toMatch(/\n\s+at /);
  engine = await Engine.open(dir);
  expect(await imported()).toEqual([]);
});
