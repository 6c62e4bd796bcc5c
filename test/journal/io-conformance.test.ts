/**
 * The Io contract (journal/io.ts), written once and run on every
 * implementation: NodeIo on a real temporary directory and MemoryIo, the
 * simulated disk. Whatever fanlog does on one, it must see the same on the
 * other, or a crash test on MemoryIo proves nothing about NodeIo. What only
 * one can do is in the capability table, and is tested only there.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../journal/io.js';
import { MemoryIo } from '../../journal/memory-io.js';
import { NodeIo } from '../../journal/node-io.js';
import { rejection, tempDir, text, untext } from '../helpers.js';

interface Implementation {
  name: string;
  make(): { io: Io; root: string };
  /** Can lose what was not made durable, on demand. */
  crash: ((io: Io) => void) | null;
  /** Renames across directories (fanlog never does; MemoryIo refuses with EXDEV). */
  renameAcrossDirectories: boolean;
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'NodeIo', make: () => ({ io: new NodeIo(), root: tempDir() }), crash: null, renameAcrossDirectories: true },
  { name: 'NodeIo, blocking commits', make: () => ({ io: new NodeIo({ blocking: true }), root: tempDir() }), crash: null, renameAcrossDirectories: true },
  { name: 'MemoryIo', make: () => ({ io: new MemoryIo(), root: '/root' }), crash: (io) => (io as MemoryIo).crash(1, 'drop'), renameAcrossDirectories: false },
];

async function readAll(io: Io, file: string): Promise<string> {
  const handle = await io.open(file, 'read');
  const bytes = new Uint8Array(await handle.size());
  expect(await handle.read(bytes, 0)).toBe(bytes.length);
  await handle.close();
  return untext(bytes);
}

async function put(io: Io, file: string, value: string): Promise<void> {
  const handle = await io.open(file, 'create');
  await handle.write(text(value), 0);
  await handle.datasync();
  await handle.close();
  await io.syncDir(path.dirname(file));
}

for (const impl of IMPLEMENTATIONS) {
  describe(`Io contract: ${impl.name}`, () => {
    it('mkdirp makes every missing level, again without error, and readdir lists files and directories by name', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(path.join(root, 'a', 'b'));
      await io.mkdirp(path.join(root, 'a', 'b'));
      await put(io, path.join(root, 'a', 'f'), 'x');
      expect((await io.readdir(path.join(root, 'a'))).sort()).toEqual(['b', 'f']);
      expect(await io.readdir(path.join(root, 'a', 'b'))).toEqual([]);
    });

    it('is ENOENT for a directory that does not exist: readdir, syncDir, lock, and a file in it', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(root);
      const missing = path.join(root, 'missing');
      expect((await rejection(() => io.readdir(missing))).code).toBe('ENOENT');
      expect((await rejection(() => io.syncDir(missing))).code).toBe('ENOENT');
      expect((await rejection(() => io.lock(missing))).code).toBe('ENOENT');
      expect((await rejection(() => io.open(path.join(missing, 'f'), 'create'))).code).toBe('ENOENT');
    });

    it('opens by mode: create refuses an existing name, read and readwrite a missing one', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(root);
      const file = path.join(root, 'f');
      expect((await rejection(() => io.open(file, 'read'))).code).toBe('ENOENT');
      expect((await rejection(() => io.open(file, 'readwrite'))).code).toBe('ENOENT');
      await put(io, file, 'abc');
      expect((await rejection(() => io.open(file, 'create'))).code).toBe('EEXIST');
      const handle = await io.open(file, 'readwrite');
      await handle.write(text('Z'), 1);
      await handle.close();
      expect(await readAll(io, file)).toBe('aZc');
    });

    it('reads what was written, short at the end; a write past the end fills the gap with zeros; truncate sets the length', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(root);
      const handle = await io.open(path.join(root, 'f'), 'create');
      await handle.write(text('hello'), 0);
      await handle.write(text('!'), 8);
      expect(await handle.size()).toBe(9);
      const buffer = new Uint8Array(16);
      expect(await handle.read(buffer, 0)).toBe(9);
      expect([...buffer.subarray(5, 8)]).toEqual([0, 0, 0]);
      expect(await handle.read(buffer, 9)).toBe(0);
      expect(await handle.read(buffer, 100)).toBe(0);
      await handle.truncate(2);
      expect(await handle.size()).toBe(2);
      await handle.truncate(4);
      expect(await handle.size()).toBe(4);
      expect(await handle.read(buffer, 0)).toBe(4);
      expect(untext(buffer.subarray(0, 4))).toBe('he\0\0');
      await handle.datasync();
      await handle.close();
    });

    it('renames atomically over an existing name, and unlinks; both ENOENT for a missing name', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(root);
      await put(io, path.join(root, 'a'), 'new');
      await put(io, path.join(root, 'b'), 'old');
      await io.rename(path.join(root, 'a'), path.join(root, 'b'));
      expect((await io.readdir(root)).sort()).toEqual(['b']);
      expect(await readAll(io, path.join(root, 'b'))).toBe('new');
      await io.unlink(path.join(root, 'b'));
      expect(await io.readdir(root)).toEqual([]);
      expect((await rejection(() => io.rename(path.join(root, 'a'), path.join(root, 'c')))).code).toBe('ENOENT');
      expect((await rejection(() => io.unlink(path.join(root, 'a')))).code).toBe('ENOENT');
    });

    it('locks a directory once, with a LOCK file it never removes: EBUSY for a second holder until the first releases', async () => {
      const { io, root } = impl.make();
      await io.mkdirp(root);
      const lock = await io.lock(root);
      expect(await io.readdir(root)).toEqual(['LOCK']);
      expect((await rejection(() => io.lock(root))).code).toBe('EBUSY');
      await lock.release();
      await lock.release();
      const again = await io.lock(root);
      await again.release();
      expect(await io.readdir(root)).toEqual(['LOCK']);
    });

    it(`renames across directories ${impl.renameAcrossDirectories ? 'as it does within one' : 'never: EXDEV'}`, async () => {
      const { io, root } = impl.make();
      await io.mkdirp(path.join(root, 'other'));
      await put(io, path.join(root, 'a'), 'moved');
      const moving = io.rename(path.join(root, 'a'), path.join(root, 'other', 'a'));
      if (!impl.renameAcrossDirectories) {
        expect((await rejection(() => moving)).code).toBe('EXDEV');
        return;
      }
      await moving;
      expect(await readAll(io, path.join(root, 'other', 'a'))).toBe('moved');
    });

    if (impl.crash !== null) {
      const crash = impl.crash;
      it('keeps, through a crash, what datasync and syncDir made durable, and only that', async () => {
        const { io, root } = impl.make();
        await io.mkdirp(root);
        await put(io, path.join(root, 'durable'), 'kept');
        const loose = await io.open(path.join(root, 'loose'), 'create');
        await loose.write(text('lost'), 0);
        crash(io);
        expect(await io.readdir(root)).toEqual(['durable']);
        expect(await readAll(io, path.join(root, 'durable'))).toBe('kept');
      });
    }
  });
}
