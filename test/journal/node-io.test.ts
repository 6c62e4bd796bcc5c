/**
 * NodeIo's errors (issue 26): every failure of an `Io` call on the real
 * file system is a FanlogError with the errno's code (errors.ts
 * `fromIoError`) and the path it was about, so that what a caller
 * rethrows names the file even where Node's own error names none (a read
 * of a directory: "EISDIR: illegal operation on a directory, read").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FanlogError } from '../../errors.js';
import { NodeIo } from '../../journal/node-io.js';
import { Journal } from '../../journal/journal.js';
import { Engine } from '../../index.js';
import { rejection, tempDir } from '../helpers.js';

/** Expects `error` to be a FanlogError of `code` naming `file`, in `file` and in its message. */
function expectNamed(error: Error & { code?: string; file?: string }, code: string, file: string): void {
  expect(error, String(error)).toBeInstanceOf(FanlogError);
  expect(error.code, error.message).toBe(code);
  expect(error.file, error.message).toBe(file);
  expect(error.message).toContain(file);
}

describe('NodeIo', () => {
  const io = new NodeIo();

  it('names the file a read of a directory failed on', async () => {
    const dir = path.join(tempDir(), 'a-dir');
    mkdirSync(dir);
    const handle = await io.open(dir, 'read');
    try {
      expectNamed(await rejection(() => handle.read(new Uint8Array(8), 0)), 'EISDIR', dir);
    } finally {
      await handle.close();
    }
  });

  it('names the path of a failed open, readdir, unlink, rename and syncDir', async () => {
    const root = tempDir();
    const file = path.join(root, 'file');
    writeFileSync(file, 'x');
    const missing = path.join(root, 'missing');
    expectNamed(await rejection(() => io.open(missing, 'read')), 'ENOENT', missing);
    expectNamed(await rejection(() => io.open(file, 'create')), 'EEXIST', file);
    expectNamed(await rejection(() => io.readdir(file)), 'ENOTDIR', file);
    expectNamed(await rejection(() => io.unlink(missing)), 'ENOENT', missing);
    expectNamed(await rejection(() => io.rename(missing, path.join(root, 'to'))), 'ENOENT', missing);
    expectNamed(await rejection(() => io.syncDir(missing)), 'ENOENT', missing);
  });

  it('says ENOTDIR, naming it, when mkdirp meets a file where a directory should be', async () => {
    const root = tempDir();
    const file = path.join(root, 'journal');
    writeFileSync(file, 'x');
    expectNamed(await rejection(() => io.mkdirp(file)), 'ENOTDIR', file);
    expectNamed(await rejection(() => io.mkdirp(path.join(file, 'below'))), 'ENOTDIR', path.join(file, 'below'));
  });

  it('names the directory a lock is refused on, with EBUSY and the holder', async () => {
    const dir = tempDir();
    const lock = await io.lock(dir);
    try {
      const error = await rejection(() => io.lock(dir));
      expectNamed(error, 'EBUSY', dir);
      expect(error.message).toContain(`locked by process ${process.pid}`);
    } finally {
      await lock.release();
    }
  });
});

describe('NodeIo with blocking commits', () => {
  it('refuses options it does not know, or of the wrong type, with EINVAL', () => {
    expect(() => new NodeIo({ blockng: true } as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/blockng/) }));
    expect(() => new NodeIo({ blocking: 'yes' } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new NodeIo(null as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // Only a plain object's own fields: no array, no class instance, no inherited option.
    for (const odd of [[], new Map(), new Date(), Object.create({ blocking: true })]) {
      expect(() => new NodeIo(odd as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/plain object/) }));
    }
  });

  it('fails a write and a truncate as the thread pool does, naming the file', async () => {
    const file = path.join(tempDir(), 'file');
    writeFileSync(file, 'x');
    const failures = async (io: NodeIo): Promise<string[]> => {
      const handle = await io.open(file, 'read');
      try {
        const errors = [await rejection(() => handle.write(new Uint8Array(8), 0)), await rejection(() => handle.truncate(0))];
        for (const error of errors) expect(error.message).toContain(file);
        return errors.map((error) => `${error.code} ${String(error.file)}`);
      } finally {
        await handle.close();
      }
    };
    const pooled = await failures(new NodeIo());
    expect(pooled).toEqual([`EIO ${file}`, expect.stringContaining(file)]);
    expect(await failures(new NodeIo({ blocking: true }))).toEqual(pooled);
  });

  it('turns the event loop once after each commit, so callbacks run between awaited appends', async () => {
    const journal = await Journal.open(tempDir(), { io: new NodeIo({ blocking: true }) });
    try {
      for (let i = 0; i < 3; i++) {
        let turned = false;
        setImmediate(() => (turned = true));
        await journal.append(new Uint8Array(8));
        expect(turned, `append ${i}`).toBe(true);
      }
    } finally {
      await journal.close();
    }
  });
});

describe('NodeIo with inline small writes', () => {
  it('refuses an inlineWriteBytesMax that is not an integer >= 0, with EINVAL', () => {
    for (const odd of [-1, 1.5, Number.NaN, '64', 2 ** 53]) {
      expect(() => new NodeIo({ inlineWriteBytesMax: odd } as never), String(odd)).toThrow(
        expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/inlineWriteBytesMax/) }),
      );
    }
  });

  it('writes small and large writes alike, and fails a small one as the pool does, naming the file', async () => {
    const dir = tempDir();
    const io = new NodeIo({ inlineWriteBytesMax: 16 });
    const handle = await io.open(path.join(dir, 'file'), 'create');
    try {
      await handle.write(new Uint8Array(8).fill(1), 0); // inline
      await handle.write(new Uint8Array(32).fill(2), 8); // pooled
      const back = new Uint8Array(40);
      await handle.read(back, 0);
      expect([...back]).toEqual([...new Uint8Array(8).fill(1), ...new Uint8Array(32).fill(2)]);
    } finally {
      await handle.close();
    }
    const file = path.join(dir, 'read-only');
    writeFileSync(file, 'x');
    const readOnly = await io.open(file, 'read');
    try {
      const error = await rejection(() => readOnly.write(new Uint8Array(8), 0));
      expect(`${error.code} ${String(error.file)}`).toBe(`EIO ${file}`);
    } finally {
      await readOnly.close();
    }
  });

  it.each(['never', 'interval', 'always'] as const)(
    "lets timers run while an engine under sync '%s' commits as fast as it can, so that an interval's fdatasync is never held off",
    async (sync) => {
      const engine = await Engine.open(path.join(tempDir(), 'engine'), { sync, serve: false });
      try {
        let fired = 0;
        const timer = setInterval(() => fired++, 1);
        try {
          // Commits awaited one after another, with nothing else to turn the loop: a timer due each millisecond must still fire.
          // One commit may span several turns (a pooled fdatasync under 'always'), so the count may pass 3 between two checks.
          for (let i = 0; i < 20_000 && fired < 3; i++) await engine.fs.create(`/f${i}`);
        } finally {
          clearInterval(timer);
        }
        expect(fired).toBeGreaterThanOrEqual(3);
      } finally {
        await engine.close();
      }
    },
  );

  it('shares the loop between two engines of one process committing back to back: neither gets less than a fifth of the other', async () => {
    const root = tempDir();
    const open = (name: string): Promise<Engine> => Engine.open(path.join(root, name), { sync: 'never', serve: false, checkpointEveryRecords: 2 ** 40 });
    const engines = [await open('a'), await open('b')];
    try {
      const counts = [0, 0];
      // Each loop runs until the other has made 2,000 commits too: a loop held off stops the other's end, never the test's.
      await Promise.all(
        engines.map(async (engine, i) => {
          while (counts[1 - i]! < 2_000 || counts[i]! < 2_000) await engine.fs.create(`/f${counts[i]!++}`);
        }),
      );
      expect(Math.min(...counts) / Math.max(...counts), `commits ${counts.join(' and ')}`).toBeGreaterThan(0.2);
    } finally {
      for (const engine of engines) await engine.close();
    }
  });
});
