/**
 * The engine directory's marker (engine/engine-dir.ts): a damaged marker,
 * or one of a format this version does not read, is ECORRUPT naming the
 * file and the byte offset, never a guess at the store kind; and a marker
 * cut short while it was being written (its `.tmp`) is ignored.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { ENVELOPE_BYTES, seal } from '../../store/envelope.js';
import { rejection, tempDir } from '../helpers.js';

const MAGIC_BYTES = 8;

async function engineDir(): Promise<{ dir: string; marker: string }> {
  const dir = path.join(tempDir(), 'engine');
  const engine = await Engine.open(dir, { store: 'files' });
  await engine.fs.create('/a', { size: 1 });
  await engine.close();
  return { dir, marker: path.join(dir, 'FANLOG') };
}

describe('the engine marker', () => {
  it('refuses a flipped byte in the marker with ECORRUPT naming the file', async () => {
    const { dir, marker } = await engineDir();
    const bytes = readFileSync(marker);
    bytes[bytes.length - 3]! ^= 0x20;
    writeFileSync(marker, bytes);
    const error = await rejection(() => Engine.open(dir));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('ECORRUPT');
    expect(error.file).toBe(marker);
    expect(error.offset).toBe(MAGIC_BYTES);
  });

  it('refuses a sound marker of an unknown version with ECORRUPT at its payload', async () => {
    const { dir, marker } = await engineDir();
    const payload = new TextEncoder().encode(JSON.stringify({ version: 2, store: 'files' }));
    writeFileSync(marker, Buffer.concat([readFileSync(marker).subarray(0, MAGIC_BYTES), seal('FANLOG', payload)]));
    const error = await rejection(() => Engine.open(dir));
    expect(error.code).toBe('ECORRUPT');
    expect(error.message).toContain('marker version 2 unknown');
    expect(error.offset).toBe(MAGIC_BYTES + ENVELOPE_BYTES);
  });

  it('ignores a marker write cut short (FANLOG.tmp) and opens with the marker it has', async () => {
    const { dir, marker } = await engineDir();
    writeFileSync(`${marker}.tmp`, readFileSync(marker).subarray(0, 5));
    const engine = await Engine.open(dir);
    expect((await engine.fs.stat('/a')).size).toBe(1);
    await engine.close();
  });
});
