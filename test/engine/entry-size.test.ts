/**
 * An operation whose entry is larger than `segmentBytesMax` (long paths
 * in every event, a 64 KiB xattr value) is journaled in a segment of its
 * own: the call succeeds, the engine stays usable, and a crash and reopen
 * recover it. One oversized call must never fail the engine.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { MemoryIo } from '../../testing.js';

describe('entries larger than a segment', () => {
  it('journals an operation bigger than a segment, keeps working, and recovers it', async () => {
    const io = new MemoryIo();
    const options = { io, store: 'files', segmentBytesMax: 4096 } as const;
    const engine = await Engine.open('/e', options);
    const deep = `/${'d'.repeat(250)}`;
    await engine.fs.mkdir(deep);
    const value = new Uint8Array(65536).fill(3);
    await engine.fs.create(`${deep}/f`);
    await engine.fs.setxattr(`${deep}/f`, 'user.big', value);
    await engine.fs.rename(`${deep}/f`, `${deep}/${'g'.repeat(255)}`);
    expect(engine.failed).toBe(false);
    await engine.fs.mkdir('/after');
    io.crash(5, 'drop');
    const reopened = await Engine.open('/e', options);
    expect(await reopened.fs.readdir(deep)).toEqual(['g'.repeat(255)]);
    expect(await reopened.fs.readdir('/')).toEqual(['after', 'd'.repeat(250)]);
    await reopened.fs.mkdir('/again');
    await reopened.close();
  });
});
