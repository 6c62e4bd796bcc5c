/**
 * Names round-trip exactly or are refused: a path, symlink target or xattr
 * name with a lone UTF-16 surrogate (which UTF-8 cannot hold) is EINVAL up
 * front, so two names can never collapse into one in the journal. Any
 * name that is well-formed, however unusual (astral characters, controls,
 * U+FFFD itself), comes back the same after a crash and a replay. And a
 * record that cannot be replayed is ECORRUPT naming its seq, never EIO.
 */
import { describe, expect, it } from 'vitest';
import { encodeRecord } from '../../interop/index.js';
import { Engine } from '../../index.js';
import { Journal } from '../../journal/index.js';
import { MemoryIo } from '../../testing.js';
import { rejection } from '../helpers.js';

const OPTIONS = { store: 'files' } as const;

describe('names', () => {
  it('refuses paths, symlink targets and xattr names with lone surrogates, with EINVAL, and changes nothing', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    await engine.fs.create('/f');
    const head = engine.journal.headSeq;
    const calls: [string, () => Promise<unknown>][] = [
      ['create, high surrogate', () => engine.fs.create('/a\uD800')],
      ['create, low surrogate', () => engine.fs.create('/a\uDC00')],
      ['mkdir, reversed pair', () => engine.fs.mkdir('/\uDC00\uD800')],
      ['rename target', () => engine.fs.rename('/f', '/g\uD83D')],
      ['symlink target', () => engine.fs.symlink('x\uDFFF', '/link')],
      ['xattr name', () => engine.fs.setxattr('/f', 'user.\uD800', new Uint8Array(1))],
      ['stat', () => engine.fs.stat('/f\uD800')],
    ];
    for (const [what, call] of calls) expect((await rejection(call)).code, what).toBe('EINVAL');
    expect(engine.journal.headSeq).toBe(head);
    io.crash(1, 'drop');
    const reopened = await Engine.open('/e', { io, ...OPTIONS });
    expect(await reopened.fs.readdir('/')).toEqual(['f']);
    await reopened.close();
  });

  it('keeps every well-formed name exactly across a crash and a replay', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS });
    const names = ['a\uFFFD', 'a\uD83D\uDE00', '\u0001\u007F', 'é', 'e\u0301', '\uFEFFbom', 'tab\there', '日本語'];
    for (const name of names) await engine.fs.create(`/${name}`);
    await engine.fs.symlink('\uD83D\uDE00/x', '/link');
    io.crash(2, 'drop');
    const reopened = await Engine.open('/e', { io, ...OPTIONS });
    expect(await reopened.fs.readdir('/')).toEqual([...names, 'link'].sort());
    await reopened.close();
  });

  it('reports a record that cannot be replayed as ECORRUPT with its seq', async () => {
    const io = new MemoryIo();
    const engine = await Engine.open('/e', { io, ...OPTIONS, checkpointEveryRecords: 1_000_000 });
    await engine.fs.create('/f');
    await engine.close({ checkpoint: false });
    // A valid record the state cannot take: a second /f in the root.
    const journal = await Journal.open('/e/journal', { io });
    const seq = await journal.append(
      encodeRecord({
        kind: 'op',
        op: 'create',
        time: 1n,
        parentFid: { ino: 1, gen: 1 },
        name: 'f',
        fid: { ino: 99, gen: 99 },
        attrs: { mode: 0o644, uid: 0, gid: 0, size: 0 },
      }),
    );
    await journal.close();
    const error = await rejection(() => Engine.open('/e', { io, ...OPTIONS }));
    expect(error.code).toBe('ECORRUPT');
    expect((error as { seq?: bigint }).seq).toBe(seq);
    expect(error.message).toContain(`record ${seq}`);
  });
});
