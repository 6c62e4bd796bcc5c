/**
 * `node dist/bench/checkpoint-bytes.js`: what inode pages cost a checkpoint
 * (README, "A checkpoint keeps its inodes in binary pages"). On a state of
 * 100,000 files in directories of 1,000, after K chmods of files drawn at
 * random (seeded), the bytes the next checkpoint puts, in pages, against
 * what one JSON value per changed inode (checkpoint header 2) would put.
 * The engine runs on MemoryIo with `sync: 'never'`: only the values are
 * measured, nothing is timed.
 */
import { captureCheckpoint, emptyLayout } from '../engine/checkpoint.js';
import type { Inode } from '../engine/model/inode.js';
import { Engine } from '../fanlog.js';
import { MemoryIo } from '../journal/memory-io.js';
import { Prng } from '../journal/prng.js';

const FILES = 100_000;
const DIRS = FILES / 1000;

/** The length of an inode as the version 2 layout stored it (engine/model/inode.ts). */
function jsonBytes(inode: Inode): number {
  const plain = {
    v: 1,
    ...inode,
    atime: String(inode.atime),
    mtime: String(inode.mtime),
    ctime: String(inode.ctime),
    xattrs: [...inode.xattrs],
    entries: inode.entries === null ? null : [...inode.entries],
    offline: inode.offline.toArray(),
  };
  return Buffer.byteLength(JSON.stringify(plain));
}

const engine = await Engine.open('/e', { io: new MemoryIo(), store: 'files', sync: 'never', checkpointEveryRecords: 2 ** 40 });
for (let d = 0; d < DIRS; d++) {
  await engine.fs.mkdir(`/d${d}`);
  await Promise.all(Array.from({ length: 999 }, (_, i) => engine.fs.create(`/d${d}/f${i}`)));
}
const layout = emptyLayout();
captureCheckpoint(engine.state, 1n, 1n, undefined, layout);
const prng = new Prng(20261129);
console.log(`${engine.state.inodes.size.toLocaleString('en-US')} inodes; bytes the next checkpoint puts after K random chmods:`);
for (const k of [10, 100, 1000, 10_000]) {
  for (let i = 0; i < k; i++) await engine.fs.chmod(`/d${prng.int(DIRS)}/f${prng.int(999)}`, 0o600);
  let json = 0;
  for (const ino of engine.state.dirty) json += jsonBytes(engine.state.get(ino)!);
  const changed = engine.state.dirty.size;
  const ops = captureCheckpoint(engine.state, 1n, 1n, undefined, layout);
  const paged = ops.reduce((sum, op) => sum + (op.type === 'put' ? op.value.length : 0), 0);
  console.log(
    `  K = ${k.toLocaleString('en-US')} (${changed.toLocaleString('en-US')} inodes changed): pages ${paged.toLocaleString('en-US')} bytes in ${ops.length - 1} values, ` +
      `one JSON value per inode ${json.toLocaleString('en-US')} bytes (${(paged / json).toFixed(1)}x)`,
  );
}
await engine.close({ checkpoint: false });
