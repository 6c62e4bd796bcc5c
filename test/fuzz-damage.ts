/**
 * Random damage to the segment files of a journal directory on MemoryIo,
 * shared by the journal and engine fuzz tests: bit flips, truncations,
 * splices, huge length fields, duplicated, deleted and swapped files, and
 * garbage appended.
 */
import path from 'node:path';
import type { MemoryIo, Prng } from '../testing.js';

async function writeRaw(io: MemoryIo, file: string, bytes: Uint8Array): Promise<void> {
  const handle = await io.open(file, 'readwrite');
  await handle.truncate(0);
  await handle.write(bytes, 0);
  await handle.datasync();
  await handle.close();
}

async function copyFile(io: MemoryIo, from: string, to: string): Promise<void> {
  const handle = await io.open(to, 'create');
  await handle.write(io.fileBytes(from), 0);
  await handle.datasync();
  await handle.close();
}

/** Damages one segment file of the journal in `dir` (or the set of files); says what it did. */
export async function damageSegments(io: MemoryIo, dir: string, prng: Prng): Promise<string> {
  const names = (await io.readdir(dir)).filter((name) => name.endsWith('.seg')).sort();
  const file = path.join(dir, prng.pick(names));
  const bytes = io.fileBytes(file);
  const kind = prng.int(8);
  switch (kind) {
    case 0: {
      for (let i = prng.between(1, 8); i > 0; i--) bytes[prng.int(bytes.length)]! ^= 1 << prng.int(8);
      await writeRaw(io, file, bytes);
      return `bit flips in ${file}`;
    }
    case 1:
      await writeRaw(io, file, bytes.subarray(0, prng.int(bytes.length)));
      return `truncated ${file}`;
    case 2: {
      const at = prng.int(bytes.length);
      const spliced = Buffer.concat([bytes.subarray(0, at), prng.bytes(prng.int(200)), bytes.subarray(at + prng.int(200))]);
      await writeRaw(io, file, spliced);
      return `splice in ${file}`;
    }
    case 3: {
      // A frame length field set to something huge.
      const at = 40 + prng.int(Math.max(1, bytes.length - 44));
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(Math.min(at, bytes.length - 4), prng.pick([0xffffffff, 0x7fffffff, 2 ** 30, 25]), true);
      await writeRaw(io, file, bytes);
      return `huge length in ${file}`;
    }
    case 4:
      await copyFile(io, file, path.join(dir, `${String(prng.between(1, 10_000)).padStart(20, '0')}.seg`)).catch(() => undefined);
      return `duplicated ${file}`;
    case 5:
      await io.unlink(file);
      await io.syncDir(dir);
      return `deleted ${file}`;
    case 6: {
      const other = path.join(dir, prng.pick(names));
      const otherBytes = io.fileBytes(other);
      await writeRaw(io, file, otherBytes);
      await writeRaw(io, other, bytes);
      return `swapped ${file} and ${other}`;
    }
    default:
      await writeRaw(io, file, Buffer.concat([bytes, prng.bytes(prng.between(1, 500))]));
      return `garbage appended to ${file}`;
  }
}
