/**
 * fanotify's event stream (interop/fanotify-events.ts): golden bytes
 * written by hand from <linux/fanotify.h>'s layout (metadata, info
 * headers, __kernel_fsid_t, struct file_handle of FILEID_INO32_GEN, the
 * range record), for a create, a rename, a pre-access with its range, an
 * overflow and a permission event; the stream of a whole demo journal
 * decodes and encodes back to the same bytes; and fuzzed input either
 * decodes or is ECORRUPT with an offset.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { decodeFanotifyEvents, decodeRecord, encodeFanotifyEvents, fileHandleOf, importFanotifyEvents, writeFanotifyEvents } from '../../interop/index.js';
import { Engine, FAN_CREATE, FAN_FS_ERROR, FAN_OPEN_PERM, FAN_PRE_ACCESS, FAN_PRE_MODIFY, FAN_Q_OVERFLOW, FAN_RENAME } from '../../index.js';
import { Prng } from '../../testing.js';
import type { RecordView } from '../../engine/record/record.js';
import { rejectionSync, tempDir } from '../helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const record = (mask: bigint, extra: Partial<RecordView> = {}): RecordView => ({
  kind: 'event',
  op: 'create',
  time: 0n,
  mask,
  pid: 7,
  fid: { ino: 42, gen: 7 },
  ...extra,
});

// Pieces, little-endian, from the header: metadata is event_len, vers 3, reserved, metadata_len 24, mask, fd -1, pid.
const metadata = (length: number, mask: string, pid = '07000000'): string =>
  `${length.toString(16).padStart(2, '0')}000000` + '03' + '00' + '1800' + mask + 'ffffffff' + pid;
const FSID = '00000000' + '00000000';
const HANDLE = (ino: string, gen: string): string => '08000000' + '01000000' + ino + gen; // handle_bytes 8, FILEID_INO32_GEN
const FID_42 = '01' + '00' + '1c00' + FSID + HANDLE('2a000000', '07000000'); // 28 bytes

it('writes a create with its parent and name (DFID_NAME) and its object (FID) as the kernel lays them out', () => {
  const dfidName = '02' + '00' + '2000' + FSID + HANDLE('01000000', '01000000') + '6100' + '0000'; // "a\0", padded to 32
  const expected = metadata(24 + 32 + 28, '0001000000000000') + dfidName + FID_42;
  const bytes = encodeFanotifyEvents([record(FAN_CREATE, { parentFid: { ino: 1, gen: 1 }, name: 'a' })]);
  expect(hex(bytes)).toBe(expected);
  expect(decodeFanotifyEvents(bytes)).toEqual([
    { mask: FAN_CREATE, fd: -1, pid: 7, fsid: [0, 0], dir: { handle: fileHandleOf({ ino: 1, gen: 1 }), name: 'a' }, handle: fileHandleOf({ ino: 42, gen: 7 }) },
  ]);
});

it('writes a rename with OLD_DFID_NAME and NEW_DFID_NAME', () => {
  const old = '0a' + '00' + '2000' + FSID + HANDLE('10000000', '03000000') + '6f6c6400'; // "old\0": 32 bytes
  const neu = '0c' + '00' + '2000' + FSID + HANDLE('11000000', '04000000') + '6e657700'; // "new\0"
  const expected = metadata(24 + 32 + 32 + 28, '0000001000000000') + old + neu + FID_42;
  const rename = record(FAN_RENAME, { op: 'rename', oldParentFid: { ino: 0x10, gen: 3 }, oldName: 'old', parentFid: { ino: 0x11, gen: 4 }, name: 'new' });
  expect(hex(encodeFanotifyEvents([rename]))).toBe(expected);
});

it('writes a pre-access with its RANGE, exact by default or page-aligned, and maps FAN_PRE_MODIFY under linuxOnly', () => {
  const range = (offset: string, count: string): string => '06' + '00' + '1800' + '00000000' + offset + count;
  const read = record(FAN_PRE_ACCESS, { kind: 'request', op: 'read', range: { offset: 5000, count: 100 } });
  expect(hex(encodeFanotifyEvents([read]))).toBe(metadata(24 + 28 + 24, '0000100000000000') + FID_42 + range('8813000000000000', '6400000000000000'));
  // Mainline Linux: PAGE_ALIGN_DOWN(5000) = 4096 to PAGE_ALIGN(5100) = 8192.
  expect(hex(encodeFanotifyEvents([read], { pageAlign: true }))).toBe(
    metadata(24 + 28 + 24, '0000100000000000') + FID_42 + range('0010000000000000', '0010000000000000'),
  );
  const write = record(FAN_PRE_MODIFY, { kind: 'request', op: 'write', range: { offset: 0, count: 8 } });
  expect(decodeFanotifyEvents(encodeFanotifyEvents([write]))[0]!.mask).toBe(FAN_PRE_MODIFY);
  expect(decodeFanotifyEvents(encodeFanotifyEvents([write], { linuxOnly: true }))[0]!.mask).toBe(FAN_PRE_ACCESS);
});

it('flags a write under linuxOnly in a private info record, which a reader skips and import turns back into FAN_PRE_MODIFY', async () => {
  const range = '06' + '00' + '1800' + '00000000' + '0000000000000000' + '0800000000000000';
  const WRITE = 'ff' + '00' + '0400'; // FANLOG_INFO_TYPE_WRITE: the header alone
  const write = record(FAN_PRE_MODIFY, { kind: 'request', op: 'write', range: { offset: 0, count: 8 } });
  const linux = encodeFanotifyEvents([write], { linuxOnly: true });
  expect(hex(linux)).toBe(metadata(24 + 28 + 24 + 4, '0000100000000000') + FID_42 + range + WRITE);
  expect(decodeFanotifyEvents(linux)).toEqual([
    { mask: FAN_PRE_ACCESS, fd: -1, pid: 7, fsid: [0, 0], handle: fileHandleOf({ ino: 42, gen: 7 }), range: { offset: 0, count: 8 }, write: true },
  ]);
  // A read is not flagged; without linuxOnly the mask says it and no flag is written.
  expect(hex(encodeFanotifyEvents([{ ...write, mask: FAN_PRE_ACCESS }], { linuxOnly: true }))).toBe(
    metadata(24 + 28 + 24, '0000100000000000') + FID_42 + range,
  );
  expect(hex(encodeFanotifyEvents([write]))).toBe(metadata(24 + 28 + 24, '0000000001000000') + FID_42 + range);
  const records = await importedRecords(linux);
  expect(records.map((imported) => imported.mask)).toEqual([FAN_PRE_MODIFY]);
  expect(hex(encodeFanotifyEvents(records, { linuxOnly: true }))).toBe(hex(linux));
});

it("keeps an FS_ERROR event's ERROR record through an import, and exports it back", async () => {
  const error = '05' + '00' + '0c00' + '05000000' + '03000000'; // error EIO, error_count 3
  const captured = metadata(24 + 28 + 12, '0080000000000000', '00000000') + FID_42 + error;
  const events = decodeFanotifyEvents(Buffer.from(captured, 'hex'));
  expect(events).toEqual([{ mask: FAN_FS_ERROR, fd: -1, pid: 0, fsid: [0, 0], handle: fileHandleOf({ ino: 42, gen: 7 }), error: { error: 5, count: 3 } }]);
  expect(hex(writeFanotifyEvents(events))).toBe(captured);
  const records = await importedRecords(Buffer.from(captured, 'hex'));
  expect(hex(encodeFanotifyEvents(records))).toBe(captured);
});

/** A stream imported into a new engine, and the records it journaled. */
async function importedRecords(stream: Uint8Array): Promise<RecordView[]> {
  const engine = await Engine.open(`${tempDir()}/imported`);
  expect(await importFanotifyEvents(engine, stream)).toBeGreaterThan(0);
  const records: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) records.push(decodeRecord(payload));
  await engine.close();
  return records.filter((imported) => imported.op === 'external');
}

it("writes a kernel request's own file handle on xfs, never one made from its placeholder fid, and no parent it does not know", () => {
  // What kernel/event-file.ts journals on a filesystem whose handles hold no fid: its inode as the fid, generation 0, the handle beside it.
  const xfs = { type: 0x81, bytes: Uint8Array.from(Buffer.from('830000000000000040a6574f', 'hex')) };
  const request = {
    kind: 'request',
    op: 'external',
    time: 1n,
    mask: FAN_PRE_ACCESS,
    fid: { ino: 0x83, gen: 0 },
    parentFid: { ino: 0x80, gen: 0 },
    name: 'stub.dat',
    path: '/mnt/stub.dat',
    pid: 7,
    handle: xfs,
  } as RecordView;
  const [event] = decodeFanotifyEvents(encodeFanotifyEvents([request]));
  expect(event!.handle).toEqual(xfs);
  expect(event!.dir).toBeUndefined();
  // The same request on ext4, whose fids are real, keeps its parent.
  const [ext4] = decodeFanotifyEvents(encodeFanotifyEvents([{ ...request, handle: undefined, fid: { ino: 0x83, gen: 9 }, parentFid: { ino: 2, gen: 1 } }]));
  expect([ext4!.handle, ext4!.dir]).toEqual([fileHandleOf({ ino: 0x83, gen: 9 }), { handle: fileHandleOf({ ino: 2, gen: 1 }), name: 'stub.dat' }]);
});

it('writes an overflow as 24 bytes of metadata and a permission event with FAN_NOFD', () => {
  expect(hex(writeFanotifyEvents([{ mask: FAN_Q_OVERFLOW, fd: -1, pid: 0 }]))).toBe(metadata(24, '0040000000000000', '00000000'));
  const ask = record(FAN_OPEN_PERM, { kind: 'request', op: 'open' });
  expect(hex(encodeFanotifyEvents([ask]))).toBe(metadata(24 + 28, '0000010000000000') + FID_42);
  // Decisions, op records and eviction notes are not events.
  expect(
    encodeFanotifyEvents([
      { ...ask, kind: 'decision', response: 1 },
      { kind: 'op', op: 'mkdir', time: 0n },
    ]),
  ).toEqual(new Uint8Array(0));
});

it('decodes the stream of a whole demo journal and writes it back to the same bytes', async () => {
  const dir = `${tempDir()}/demo`;
  expect(spawnSync(process.execPath, [CLI, 'demo', '--dir', dir, '--files', '30'], { encoding: 'utf8', timeout: 120_000 }).status).toBe(0);
  const engine = await Engine.open(dir, { readOnly: true });
  const records: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) records.push(decodeRecord(payload));
  await engine.close();
  const bytes = encodeFanotifyEvents(records);
  const events = decodeFanotifyEvents(bytes);
  expect(events.length).toBeGreaterThan(300);
  expect(hex(writeFanotifyEvents(events))).toBe(hex(bytes));
  expect(decodeFanotifyEvents(writeFanotifyEvents(events))).toEqual(events);
});

it('decodes fuzzed input or refuses it with ECORRUPT (EFBIG for a RANGE past 2^53 - 1) and an offset, over 3,000 seeded mutations', () => {
  const prng = new Prng(15);
  const base = encodeFanotifyEvents([
    record(FAN_CREATE, { parentFid: { ino: 1, gen: 1 }, name: 'naïve' }),
    record(FAN_RENAME, { oldParentFid: { ino: 2, gen: 2 }, oldName: 'x', parentFid: { ino: 3, gen: 3 }, name: 'y' }),
    record(FAN_PRE_ACCESS, { range: { offset: 1, count: 2 } }),
  ]);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const damaged = prng.chance(0.3) ? base.slice(0, prng.int(base.length)) : base.slice();
    if (damaged.length === base.length) for (let n = 1 + prng.int(3); n > 0; n--) damaged[prng.int(damaged.length)] = prng.int(256);
    try {
      decodeFanotifyEvents(damaged);
    } catch {
      const error = rejectionSync(() => decodeFanotifyEvents(damaged)) as { code?: string; offset?: number };
      expect(['ECORRUPT', 'EFBIG'], `mutation ${i}: ${error.code}`).toContain(error.code);
      expect(error.offset, `mutation ${i}`).toEqual(expect.any(Number));
      refused++;
    }
  }
  expect(refused).toBeGreaterThan(500);
});

it('fanlog export --format fanotify writes the stream of an engine directory, lock-free', async () => {
  const dir = `${tempDir()}/engine`;
  const engine = await Engine.open(dir, { store: 'lmdb' });
  await engine.fs.mkdir('/d');
  for (let i = 0; i < 5; i++) await engine.fs.create(`/d/f${i}`);
  const records: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) records.push(decodeRecord(payload));
  // The application still holds the engine.
  const out = `${tempDir()}/stream.bin`;
  const run = spawnSync(process.execPath, [CLI, 'export', '--format', 'fanotify', '--dir', dir, '--out', out], { encoding: 'utf8' });
  await engine.close();
  expect(run.status, run.stderr).toBe(0);
  const { readFileSync } = await import('node:fs');
  expect(hex(new Uint8Array(readFileSync(out)))).toBe(hex(encodeFanotifyEvents(records)));
  expect(
    decodeFanotifyEvents(new Uint8Array(readFileSync(out)))
      .filter((event) => event.mask === FAN_CREATE)
      .map((event) => event.dir?.name),
  ).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  expect(spawnSync(process.execPath, [CLI, 'export', '--format', 'xml', '--dir', dir], { encoding: 'utf8' }).stderr).toMatch(/^fanlog: EINVAL: /);
  // fanotify is the only format, so it is the default: --format may be left out.
  const bare = spawnSync(process.execPath, [CLI, 'export', '--dir', dir], { encoding: 'buffer' });
  expect(bare.status, bare.stderr.toString()).toBe(0);
  expect(bare.stdout.equals(readFileSync(out))).toBe(true);
});

it('fanlog import replays a captured stream as external event records, which export back to the same stream', async () => {
  const source = `${tempDir()}/demo`;
  expect(spawnSync(process.execPath, [CLI, 'demo', '--dir', source, '--files', '20'], { encoding: 'utf8', timeout: 120_000 }).status).toBe(0);
  const captured = `${tempDir()}/captured.bin`;
  expect(spawnSync(process.execPath, [CLI, 'export', '--format', 'fanotify', '--dir', source, '--out', captured]).status).toBe(0);
  const target = `${tempDir()}/imported`;
  expect(spawnSync(process.execPath, [CLI, 'init', '--dir', target]).status).toBe(0);
  const run = spawnSync(process.execPath, [CLI, 'import', '--format', 'fanotify', captured, '--dir', target], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const { readFileSync } = await import('node:fs');
  const events = decodeFanotifyEvents(new Uint8Array(readFileSync(captured)));
  expect(run.stdout).toMatch(new RegExp(`^imported ${events.length} events from `));
  // Through a consumer: op 'external', nothing else changed in the filesystem.
  const engine = await Engine.open(target);
  const consumer = await engine.consumers.register('reader');
  const delivered = await consumer.read({ max: 100_000 });
  expect(delivered.length).toBe(events.length);
  expect(new Set(delivered.map((record) => record.op))).toEqual(new Set(['external']));
  expect(await engine.fs.readdir('/')).toEqual([]);
  await engine.close();
  const again = `${tempDir()}/again.bin`;
  expect(spawnSync(process.execPath, [CLI, 'export', '--format', 'fanotify', '--dir', target, '--out', again]).status).toBe(0);
  expect(hex(new Uint8Array(readFileSync(again)))).toBe(hex(new Uint8Array(readFileSync(captured))));
  // Damaged input journals nothing.
  const damaged = `${tempDir()}/damaged.bin`;
  const bytes = new Uint8Array(readFileSync(captured));
  bytes[4] = 9;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(damaged, bytes);
  const refused = spawnSync(process.execPath, [CLI, 'import', '--format', 'fanotify', damaged, '--dir', target], { encoding: 'utf8' });
  expect(refused.stderr).toMatch(/^fanlog: ECORRUPT: fanotify stream at byte 4: metadata version 9/);
});
