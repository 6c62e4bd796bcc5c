/**
 * The decoder, import and export against byte streams a real kernel wrote
 * (6.18, test/fanotify/stream-*.bin, made by stream.mjs from stream.c's
 * script on tmpfs and on ext4, one file per report mode): every stream
 * decodes and writes back to the kernel's bytes; an event on a directory
 * itself imports as that directory; a FAN_REPORT_FID-only stream, whose
 * entry events carry the directory and no name, is refused; a DFID_NAME
 * stream of either filesystem imports (tmpfs's handles, which no fid
 * holds, as they are) and exports back to the kernel's bytes; and
 * fanlog's own events on a directory itself export in the kernel's layout.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { decodeFanotifyEvents, decodeRecord, encodeFanotifyEvents, importFanotifyEvents, writeFanotifyEvents } from '../../interop/index.js';
import { Engine, FAN_ATTRIB, FAN_DELETE_SELF, FAN_DIRENT_EVENTS, FAN_MOVE_SELF, FAN_ONDIR, FanlogError } from '../../index.js';
import type { FanotifyEvent } from '../../interop/index.js';
import type { RecordView } from '../../engine/record/record.js';
import { rejection, tempDir } from '../helpers.js';

const FILESYSTEMS = ['tmpfs', 'ext4'] as const;
const MODES = ['dfid-name-fid', 'dfid-name-target', 'fid'] as const;
const captured = (fs: string, mode: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fanotify/stream-${fs}-${mode}.bin`, import.meta.url)));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function withEngine<T>(work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(`${tempDir()}/engine`);
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

async function externalRecords(engine: Engine): Promise<RecordView[]> {
  const records: RecordView[] = [];
  for await (const { payload } of engine.journal.read()) records.push(decodeRecord(payload));
  return records.filter((record) => record.op === 'external');
}

it.each(FILESYSTEMS.flatMap((fs) => MODES.map((mode) => [fs, mode])))(
  'decodes the %s stream of mode %s, handles as opaque bytes with their type, and writes it back to the same bytes',
  (fs, mode) => {
    const bytes = captured(fs, mode);
    const events = decodeFanotifyEvents(bytes);
    expect(events.length).toBeGreaterThanOrEqual(5);
    // tmpfs encodes type 1 in 12 bytes (generation, inode low, inode high), ext4 FILEID_INO32_GEN's 8.
    const handle = events[0]!.dir?.handle ?? events[0]!.handle;
    expect(handle).toEqual({ type: 1, bytes: expect.any(Uint8Array) });
    expect(handle!.bytes.length).toBe(fs === 'tmpfs' ? 12 : 8);
    expect(hex(writeFanotifyEvents(events))).toBe(hex(bytes));
  },
);

it('imports a tmpfs stream with its handles as the kernel gave them, type 1 of 12 bytes, where no fid holds them', async () => {
  const bytes = captured('tmpfs', 'dfid-name-fid');
  const events = decodeFanotifyEvents(bytes);
  const records = await withEngine(async (engine) => {
    expect(await importFanotifyEvents(engine, bytes)).toBe(events.length);
    return externalRecords(engine);
  });
  // The first event names d in tmpfs's root.
  expect(records[0]!.parentHandle).toEqual(events[0]!.dir!.handle);
  expect(records[0]!.name).toBe(events[0]!.dir!.name);
  expect(records[0]!.handle).toEqual(events[0]!.handle);
  for (const record of records) {
    expect([record.fid, record.parentFid, record.oldParentFid]).toEqual([undefined, undefined, undefined]);
    expect(record.handle ?? record.parentHandle).toEqual({ type: 1, bytes: expect.any(Uint8Array) });
  }
});
it("imports an event on a directory itself (DFID_NAME named '.') as an event on that directory", async () => {
  const bytes = captured('ext4', 'dfid-name-fid');
  const events = decodeFanotifyEvents(bytes);
  const records = await withEngine(async (engine) => {
    await importFanotifyEvents(engine, bytes);
    return externalRecords(engine);
  });
  const self = records.filter((record) => {
    const mask = record.mask ?? 0n;
    return (mask & FAN_ONDIR) !== 0n && (mask & (FAN_ATTRIB | FAN_MOVE_SELF | FAN_DELETE_SELF)) !== 0n;
  });
  expect(self.map((record) => record.mask)).toEqual([FAN_ATTRIB | FAN_ONDIR, FAN_MOVE_SELF | FAN_DELETE_SELF | FAN_ONDIR]);
  const dots = events.filter((event) => event.dir?.name === '.');
  expect(dots.length).toBe(2);
  for (const [i, record] of self.entries()) {
    const handle = new DataView(dots[i]!.dir!.handle.bytes.buffer, dots[i]!.dir!.handle.bytes.byteOffset);
    expect(record.fid).toEqual({ ino: handle.getUint32(0, true), gen: handle.getUint32(4, true) });
    expect(record.parentFid).toBeUndefined();
    expect(record.name).toBeUndefined();
  }
});
it('refuses a FAN_REPORT_FID-only stream, whose entry events carry the directory and no name, and journals nothing', async () => {
  await withEngine(async (engine) => {
    const error = await rejection(() => importFanotifyEvents(engine, captured('ext4', 'fid')));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('EINVAL');
    expect(error.offset).toBe(8);
    expect(error.message).toMatch(/^EINVAL: fanotify stream at byte 8: an entry event \(MOVED_FROM\|CREATE\|ONDIR\) with no DFID_NAME/);
    expect(await externalRecords(engine)).toEqual([]);
  });
});
it.each(FILESYSTEMS.flatMap((fs) => MODES.filter((mode) => mode !== 'fid').map((mode) => [fs, mode])))(
  'imports the %s stream of mode %s and exports it back to the kernel bytes',
  async (fs, mode) => {
    const bytes = captured(fs, mode);
    const fsid = decodeFanotifyEvents(bytes)[0]!.fsid!;
    const records = await withEngine(async (engine) => {
      await importFanotifyEvents(engine, bytes);
      return externalRecords(engine);
    });
    expect(hex(encodeFanotifyEvents(records, { fsid }))).toBe(hex(bytes));
  },
);

/** An event's info records, by type, with the name of each *_NAME record. */
const layout = (event: FanotifyEvent): string[] => [
  ...(event.dir === undefined ? [] : [`DFID_NAME ${event.dir.name}`]),
  ...(event.oldDir === undefined ? [] : [`OLD_DFID_NAME ${event.oldDir.name}`]),
  ...(event.newDir === undefined ? [] : [`NEW_DFID_NAME ${event.newDir.name}`]),
  ...(event.handle === undefined ? [] : ['FID']),
];
const onDirectoryItself = (event: FanotifyEvent): boolean => (event.mask & FAN_ONDIR) !== 0n && (event.mask & FAN_DIRENT_EVENTS) === 0n;

it("exports fanlog's events on a directory itself as the kernel lays them out: one DFID_NAME of the directory, named '.'", async () => {
  const kernel = decodeFanotifyEvents(captured('ext4', 'dfid-name-target')).filter(onDirectoryItself);
  expect(kernel.map((event) => event.mask)).toEqual([FAN_ATTRIB | FAN_ONDIR, FAN_MOVE_SELF | FAN_DELETE_SELF | FAN_ONDIR]);
  // stream.c's script on fanlog's own filesystem.
  const records = await withEngine(async (engine) => {
    await engine.fs.mkdir('/d');
    await engine.fs.create('/d/f');
    await engine.fs.chmod('/d', 0o700);
    await engine.fs.mkdir('/s');
    await engine.fs.rename('/s', '/d/t');
    await engine.fs.rmdir('/d/t');
    const all: RecordView[] = [];
    for await (const { payload } of engine.journal.read()) all.push(decodeRecord(payload));
    return all;
  });
  const exported = decodeFanotifyEvents(encodeFanotifyEvents(records)).filter(onDirectoryItself);
  expect(exported.map((event) => event.mask)).toEqual([FAN_ATTRIB | FAN_ONDIR, FAN_MOVE_SELF | FAN_ONDIR, FAN_DELETE_SELF | FAN_ONDIR]);
  expect(new Set(exported.map((event) => layout(event).join(', ')))).toEqual(new Set(kernel.map((event) => layout(event).join(', '))));
});
