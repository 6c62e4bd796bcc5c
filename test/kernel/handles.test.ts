/**
 * Filesystems whose file handles hold no fid. ext4's handle is
 * FILEID_INO32_GEN (u32 inode, u32 generation), which a record's fid holds;
 * xfs's (type 0x81, 12 bytes) and btrfs's (type 0x4d, 20 bytes) are their
 * own layouts, kept as the kernel gave them (record format 9: `handle`,
 * `parentHandle`, `oldParentHandle`). As root, on an image of each
 * loop-mounted in a temp dir: a child's creates, writes, renames and
 * deletes are journaled with those handles (equal to name_to_handle_at's
 * for an object still there) and their paths, and no loss note; and on
 * xfs, which has pre-content events, a stub is filled through the event's
 * descriptor while the request and the queued event carry its handle.
 * Mounts and loop devices are released in a finally. Without root the
 * tests skip, and say so.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { type ImageType, makeStub, withImage } from '../../crash/fs-image.js';
import { Engine, FAN_ALLOW, FAN_CREATE, FAN_ONDIR, FAN_PRE_ACCESS, FAN_RENAME, type QueuedEvent } from '../../index.js';
import type { RecordView } from '../../engine/record/record.js';
import { handleOfDescriptor } from '../../kernel/syscalls.js';
import { cat, records, watchChanges } from './readers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/handles.test.ts: skipped, it needs root on Linux (it loop-mounts xfs and btrfs images and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

/** Each filesystem's handle type, as its kernel code encodes a handle without its parent. */
const TYPES: [ImageType, number, number][] = [
  ['xfs', 0x81, 12], // FILEID_INO32_GEN | XFS_FILEID_TYPE_64FLAG: u64 inode, u32 generation
  ['btrfs', 0x4d, 20], // FILEID_BTRFS_WITHOUT_PARENT: u64 objectid, u64 root, u32 generation
];

/** The handle name_to_handle_at gives for `file` now. */
function handleNow(file: string): { type: number; bytes: Uint8Array } | null {
  const fd = openSync(file, 'r');
  try {
    return handleOfDescriptor(fd);
  } finally {
    closeSync(fd);
  }
}

it.skipIf(!isRoot).each(TYPES)(
  "journals a real %s's events with the filesystem's own handles (type %i, %i bytes), paths resolved from them, and no loss",
  async (type, handleType, handleBytes) => {
    await withImage(type, async ({ mount, scratch }) => {
      const engine = await Engine.open(path.join(scratch, 'engine'));
      try {
        const { pid, stats } = await watchChanges(engine, mount);
        const all = (await records(engine)).map(({ record }) => record);
        expect(all.filter((record) => record.kind === 'note')).toEqual([]);
        expect(stats).toMatchObject({ overflows: 0, refused: 0 });
        const mine = all.filter((record) => record.pid === pid);
        const has = (bits: bigint, name: string): RecordView | undefined => mine.find((record) => (record.mask! & bits) === bits && record.name === name);
        // d is still there: its handle in the changelog is the one the kernel gives for it now.
        const d = has(FAN_CREATE | FAN_ONDIR, 'd');
        expect(d?.path).toBe(`${mount}/d`);
        expect(d?.handle).toEqual(handleNow(path.join(mount, 'd')));
        expect(d?.parentHandle).toEqual(handleNow(mount));
        for (const record of mine) {
          expect([record.fid, record.parentFid, record.oldParentFid], `no fid holds a ${type} handle`).toEqual([undefined, undefined, undefined]);
          for (const handle of [record.handle, record.parentHandle, record.oldParentHandle]) {
            if (handle === undefined) continue;
            expect(handle.type).toBe(handleType);
            expect(handle.bytes.length).toBe(handleBytes);
          }
        }
        const created = has(FAN_CREATE, 'a');
        expect(created?.path).toBe(`${mount}/d/a`);
        expect(created?.parentHandle).toEqual(d!.handle);
        const renamed = has(FAN_RENAME, 'b');
        expect([renamed?.oldName, renamed?.oldPath, renamed?.path]).toEqual(['a', `${mount}/d/a`, `${mount}/d/b`]);
        expect([renamed?.handle, renamed?.oldParentHandle, renamed?.parentHandle]).toEqual([created!.handle, d!.handle, d!.handle]);
      } finally {
        await engine.close();
      }
    });
  },
);

asRoot("fills a stub on xfs through the event's descriptor; the request and the queued event carry its handle", async () => {
  await withImage('xfs', async ({ mount, scratch }) => {
    const content = Buffer.from('from tape\n'.repeat(400));
    const file = path.join(mount, 'stub.dat');
    makeStub(file, content.length);
    const handle = handleNow(file);
    const engine = await Engine.open(path.join(scratch, 'engine'));
    try {
      await engine.groups.create('hsm', { class: 'pre-content' });
      const queue = engine.groups.get('hsm').openQueue();
      const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
      const reader = cat(file);
      let ended = false;
      void reader.then(() => (ended = true));
      const answered: QueuedEvent[] = [];
      while (!ended) {
        for (const event of await queue.read({ waitMs: 100 })) {
          if (answered.length === 0) writeSync(event.fd!, content, 0, content.length, 0);
          await queue.respond(event.id, FAN_ALLOW);
          answered.push(event);
        }
      }
      const result = await reader;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.equals(content)).toBe(true);
      await source.stop();
      expect(answered[0]!.handle).toEqual(handle);
      expect(answered[0]!.fid?.ino).toBe(answered[0]!.stat?.ino);
      const requests = (await records(engine)).filter(({ record }) => record.kind === 'request');
      expect(requests.length).toBe(answered.length);
      for (const { record } of requests) expect(record.handle).toEqual(handle);
    } finally {
      await engine.close();
    }
  });
});
