/**
 * Expected failures carry the code a caller can branch on: an engine
 * directory the host cannot name is EINVAL (not EIO), a clock that throws
 * or returns something other than a bigint is EINVAL, and a call that
 * failed on the clock changed nothing.
 */
import { describe, expect, it } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { rejection, tempDir } from '../helpers.js';

describe('error codes', () => {
  it('refuses an engine directory with a NUL or a component over 255 bytes with EINVAL', async () => {
    for (const dir of [`${tempDir()}/a\0b`, `${tempDir()}/${'x'.repeat(256)}`, `${tempDir()}/${'é'.repeat(128)}`, `${tempDir()}/\uD800`]) {
      const error = await rejection(() => Engine.open(dir));
      expect(error, JSON.stringify(dir)).toBeInstanceOf(FanlogError);
      expect(error.code, JSON.stringify(dir)).toBe('EINVAL');
    }
  });

  it('refuses a clock that returns a number or throws with EINVAL, at open and at a call', async () => {
    const io = new MemoryIo();
    for (const clock of [
      () => 5 as unknown as bigint,
      () => -1n,
      (): bigint => {
        throw new Error('no time');
      },
    ]) {
      const error = await rejection(() => Engine.open('/e', { io, store: 'files', clock }));
      expect(error).toBeInstanceOf(FanlogError);
      expect(error.code).toBe('EINVAL');
    }
    let broken = false;
    const engine = await Engine.open('/e', {
      io,
      store: 'files',
      clock: () => {
        if (broken) throw new Error('the clock broke');
        return 1000n;
      },
    });
    await engine.fs.mkdir('/d');
    const head = engine.journal.headSeq;
    const fingerprint = engine.state.fingerprint();
    broken = true;
    const error = await rejection(() => engine.fs.mkdir('/e'));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('EINVAL');
    expect(engine.journal.headSeq).toBe(head);
    expect(engine.state.fingerprint()).toBe(fingerprint);
    expect(engine.failed).toBe(false);
    broken = false;
    await engine.fs.mkdir('/e');
    await engine.close();
  });
});
