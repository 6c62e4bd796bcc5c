/**
 * MemoryIo is the crash tests' model of a disk, so its model is tested on
 * its own: what survives a crash in each mode, directory entries, power
 * cuts, injected faults and locks.
 */
import { describe, expect, it } from 'vitest';
import { MemoryIo } from '../../testing.js';
import { rejection, text, untext } from '../helpers.js';

async function writeFile(io: MemoryIo, file: string, chunks: string[], sync: 'none' | 'data' | 'data+dir'): Promise<void> {
  const handle = await io.open(file, 'create');
  let position = 0;
  for (const chunk of chunks) {
    await handle.write(text(chunk), position);
    position += chunk.length;
  }
  if (sync !== 'none') await handle.datasync();
  if (sync === 'data+dir') await io.syncDir('/d');
}

const content = (io: MemoryIo, file: string): string => untext(io.fileBytes(file));

describe('MemoryIo', () => {
  it('keeps synced bytes and synced directory entries through a crash', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    await writeFile(io, '/d/f', ['hello'], 'data+dir');
    io.crash(1, 'drop');
    expect(content(io, '/d/f')).toBe('hello');
  });

  it('loses a new file whose directory entry was never synced, in drop mode', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    await writeFile(io, '/d/f', ['hello'], 'data');
    io.crash(1, 'drop');
    expect(await io.readdir('/d')).toEqual([]);
  });

  it('undoes an unlink that was never synced, in drop mode', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    await writeFile(io, '/d/f', ['hello'], 'data+dir');
    await io.unlink('/d/f');
    expect(await io.readdir('/d')).toEqual([]);
    io.crash(1, 'drop');
    expect(await io.readdir('/d')).toEqual(['f']);
  });

  it('keeps a prefix of unsynced directory operations, never a later one without an earlier one', async () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const io = new MemoryIo();
      await io.mkdirp('/d');
      for (const name of ['a', 'b', 'c']) await (await io.open(`/d/${name}`, 'create')).close();
      const names = (io.crash(seed, 'prefix'), await io.readdir('/d')).sort().join('');
      expect(['', 'a', 'ab', 'abc']).toContain(names);
      seen.add(names);
    }
    expect(seen.size).toBe(4);
  });

  it('keeps only a prefix of unsynced writes in prefix mode', async () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const io = new MemoryIo();
      await io.mkdirp('/d');
      await writeFile(io, '/d/f', ['base'], 'data+dir');
      const handle = await io.open('/d/f', 'readwrite');
      await handle.write(text('-one'), 4);
      await handle.write(text('-two'), 8);
      io.crash(seed, 'prefix');
      const survived = content(io, '/d/f');
      expect(['base', 'base-one', 'base-one-two']).toContain(survived);
      seen.add(survived);
    }
    expect(seen.size).toBe(3);
  });

  it('tears the next unsynced write into garbage or zeros in torn modes', async () => {
    for (const mode of ['torn-garbage', 'torn-zeros'] as const) {
      let tornSeen = false;
      for (let seed = 0; seed < 40; seed++) {
        const io = new MemoryIo();
        await io.mkdirp('/d');
        await writeFile(io, '/d/f', ['base'], 'data+dir');
        const handle = await io.open('/d/f', 'readwrite');
        await handle.write(text('ABCDEFGHIJ'), 4);
        io.crash(seed, mode);
        const bytes = io.fileBytes('/d/f');
        expect(untext(bytes.subarray(0, 4))).toBe('base');
        expect(bytes.length).toBe(14);
        const tail = bytes.subarray(4);
        const landed = tail.findIndex((byte, i) => byte !== text('ABCDEFGHIJ')[i]);
        if (landed >= 0) {
          tornSeen = true;
          if (mode === 'torn-zeros') expect([...tail.subarray(landed)].every((byte) => byte === 0)).toBe(true);
        }
      }
      expect(tornSeen, mode).toBe(true);
    }
  });

  it('lands an overwrite unit by unit in no order in scatter mode, and keeps a prefix of what grows the file', async () => {
    const UNIT = 4096;
    const patterns = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const io = new MemoryIo();
      await io.mkdirp('/d');
      const handle = await io.open('/d/f', 'create');
      await handle.write(new Uint8Array(4 * UNIT), 0);
      await handle.datasync();
      await io.syncDir('/d');
      // One write over four durable units of zeros, then one past the end.
      await handle.write(new Uint8Array(4 * UNIT).fill(7), 0);
      await handle.write(new Uint8Array(100).fill(9), 4 * UNIT);
      io.crash(seed, 'scatter');
      const bytes = io.fileBytes('/d/f');
      expect([4 * UNIT, 4 * UNIT + 100]).toContain(bytes.length);
      if (bytes.length > 4 * UNIT) expect([...bytes.subarray(4 * UNIT)].every((byte) => byte === 9)).toBe(true);
      // Each 512-byte sector is whole, old or new: never part of one.
      let pattern = '';
      for (let at = 0; at < 4 * UNIT; at += 512) {
        const sector = [...bytes.subarray(at, at + 512)];
        expect(sector.every((byte) => byte === sector[0])).toBe(true);
        pattern += sector[0] === 7 ? '1' : '0';
      }
      patterns.add(pattern);
    }
    // Landed units in no order: some later one landed where an earlier one did not.
    expect([...patterns].some((pattern) => /0.*1/.test(pattern))).toBe(true);
    expect(patterns.size).toBeGreaterThan(10);
  });

  it('cuts the power at an exact step: that call and all later ones fail without effect', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    const handle = await io.open('/d/f', 'create'); // step 1
    io.cutPowerAfter(1);
    await handle.write(text('ok'), 0); // step 2, the last allowed
    expect((await rejection(() => handle.write(text('lost'), 2))).code).toBe('EIO');
    expect((await rejection(() => handle.datasync())).code).toBe('EIO');
    expect(io.isPoweredOff).toBe(true);
    io.crash(0, 'prefix');
    expect(io.isPoweredOff).toBe(false);
  });

  it('fails the nth write or sync once with the injected code, leaving the data untouched', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    const handle = await io.open('/d/f', 'create');
    io.injectFault({ op: 'write', nth: 2, code: 'ENOSPC' });
    await handle.write(text('one'), 0);
    expect((await rejection(() => handle.write(text('two'), 3))).code).toBe('ENOSPC');
    await handle.write(text('three'), 3);
    expect(content(io, '/d/f')).toBe('onethree');
    io.injectFault({ op: 'sync', nth: 1, code: 'EIO' });
    expect((await rejection(() => handle.datasync())).code).toBe('EIO');
    expect(io.faultsFired).toBe(2);
  });

  it('holds a directory lock exclusively until released or until the holder dies in a crash', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    const lock = await io.lock('/d');
    expect((await rejection(() => io.lock('/d'))).code).toBe('EBUSY');
    await lock.release();
    await io.lock('/d');
    io.crash(0, 'drop');
    await io.lock('/d');
  });

  it('kills open handles in a crash', async () => {
    const io = new MemoryIo();
    await io.mkdirp('/d');
    const handle = await io.open('/d/f', 'create');
    io.crash(0, 'drop');
    expect((await rejection(() => handle.write(text('x'), 0))).code).toBe('EBADF');
  });
});
