/**
 * Replay applies op records through an OpCursor over their bytes
 * (engine/record/op-cursor.ts) where the live path applies decoded
 * records: both must build the same state, op by op, for every op the
 * filesystem journals; and the cursor must leave nothing of the journal's
 * memory in the state.
 */
import { describe, expect, it } from 'vitest';
import { decodeRecord } from '../../interop/index.js';
import { Engine } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { FsState } from '../../engine/model/fs-state.js';
import { scanRecord } from '../../engine/record/bytes.js';
import { OpCursor } from '../../engine/record/op-cursor.js';
import { OP_NAMES } from '../../engine/record/record.js';
import { text } from '../helpers.js';

/** Every op the filesystem journals, once or more; returns each record's bytes, in order. */
async function everyOp(): Promise<Uint8Array[]> {
  const io = new MemoryIo();
  const engine = await Engine.open('/e', { io, store: 'files' });
  const fs = engine.fs;
  await fs.mkdir('/d', { mode: 0o700 });
  await fs.create('/d/a', { size: 4096, uid: 7, gid: 8 });
  await fs.create('/d/stub', { size: 1 << 20, offline: true });
  await fs.hsmFill('/d/stub', 4096, 8192);
  await fs.hsmRelease('/d/stub');
  const fd = await fs.open('/d/a', 'rw');
  await fs.write(fd, 8000, 100);
  await fs.close(fd);
  await fs.truncate('/d/a', 10);
  await fs.symlink('/d/a', '/d/ln');
  await fs.link('/d/a', '/hard');
  await fs.chmod('/d/a', 0o600);
  await fs.chown('/d/a', 1, 2);
  await fs.utimes('/d/a', 5n, 6n);
  // A mirror's: a create with the times found on disk, and a sync.
  await engine.mirrored.mirrorCreate('/d/m', 'file', { mode: 0o600, uid: 3, gid: 4, size: 5, atime: 1n, mtime: 2n }).durable;
  await engine.mirrored.mirrorSync('/d/m', { mode: 0o640, size: 2, mtime: 99n }, true);
  await fs.setxattr('/d/a', 'user.k', text('v1'));
  await fs.setxattr('/d/a', 'user.j', text('v2'));
  await fs.removexattr('/d/a', 'user.k');
  await fs.mkdir('/e');
  await fs.rename('/d', '/e/d');
  await fs.rename('/hard', '/hard');
  await fs.create('/victim');
  const open = await fs.open('/victim', 'r');
  // Replacing an open file orphans it; its close releases it.
  await fs.rename('/e/d/a', '/victim');
  await fs.close(open);
  await fs.unlink('/e/d/ln');
  await fs.unlink('/victim');
  await fs.mkdir('/e/d/empty');
  await fs.rmdir('/e/d/empty');
  const bytes: Uint8Array[] = [];
  for await (const { payload } of engine.journal.read()) bytes.push(payload.slice());
  await engine.close();
  return bytes;
}

describe('OpCursor', () => {
  it('builds, op by op, the state that decoded records build, for every op the filesystem journals', async () => {
    const records = await everyOp();
    const decoded = new FsState(0n);
    const viewed = new FsState(0n);
    const cursor = new OpCursor();
    const seen = new Set<string>();
    for (const bytes of records) {
      const record = decodeRecord(bytes);
      if (record.kind !== 'op') continue;
      seen.add(record.op);
      decoded.apply(record);
      scanRecord(bytes, 0, bytes.length);
      viewed.apply(cursor.point(bytes, 0, bytes.length));
      expect(viewed.fingerprint(), `after ${record.op}`).toBe(decoded.fingerprint());
      expect([viewed.nextIno, viewed.nextGen]).toEqual([decoded.nextIno, decoded.nextGen]);
    }
    const mutating = OP_NAMES.filter(
      (op) => !['open', 'read', 'close', 'fault', 'group', 'consumer', 'external', 'scanBegin', 'scanEnd', 'loss', 'mark'].includes(op),
    );
    expect([...seen].sort()).toEqual([...mutating].sort());
  });

  it('copies xattr values out of the journal bytes it reads', async () => {
    const records = await everyOp();
    const state = new FsState(0n);
    const cursor = new OpCursor();
    for (const bytes of records) {
      if (decodeRecord(bytes).kind !== 'op') continue;
      state.apply(cursor.point(bytes, 0, bytes.length));
      bytes.fill(0xee);
    }
    const values = [...state.inodes.values()].flatMap((inode) => [...inode.xattrs.values()]);
    expect(values.map((value) => new TextDecoder().decode(value))).toEqual(['v2']);
  });

  it('is pointed only at op records', async () => {
    const records = await everyOp();
    const event = records.find((bytes) => decodeRecord(bytes).kind === 'event')!;
    expect(() => new OpCursor().point(event, 0, event.length)).toThrow(/not an op record/);
  });
});
