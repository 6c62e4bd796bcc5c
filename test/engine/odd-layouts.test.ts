/**
 * `Engine.open` on engine directories whose layout is not what fanlog
 * made (issue 26): the journal gone or a file, the FANLOG marker a
 * directory, a segment a directory. Each open, read-write or read-only,
 * rejects with a FanlogError whose code is the errno's and whose `file`
 * and message name the very path that is wrong (not only the engine's
 * directory), and leaves that path as it found it: an open that fails
 * makes no journal in place of a lost one.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeMarker } from '../../engine/engine-dir.js';
import { Engine, FanlogError } from '../../index.js';
import { NodeIo } from '../../journal/node-io.js';
import { rejection, tempDir } from '../helpers.js';
import { kindAt, ODD_LAYOUTS, type OddLayout, oddLayoutEngine, segmentAsDirectory } from '../odd-layouts.js';

const { copy } = oddLayoutEngine();

/** The shared layouts, and the first segment too: an open reads it first. */
const layouts: OddLayout[] = [...ODD_LAYOUTS, ['the first segment a directory', segmentAsDirectory(0), 'EISDIR']];

describe.each(layouts)('Engine.open with %s', (_name, damage, code) => {
  it.each([false, true])('rejects with a FanlogError naming the path (readOnly %s), and leaves it as it was', async (readOnly) => {
    const dir = copy();
    const where = damage(dir);
    const before = kindAt(where);
    const error = await rejection(() => Engine.open(dir, { readOnly }));
    expect(error, String(error)).toBeInstanceOf(FanlogError);
    expect(error.code, error.message).toBe(code);
    expect(error.file, error.message).toBe(where);
    expect(error.message).toContain(where);
    expect(kindAt(where)).toBe(before);
  });
});

describe('Engine.open with no journal', () => {
  it('opens a directory whose store directory was made (or mounted) before the first open, and is empty', async () => {
    // A marker and an empty store directory: an open stopped between writing the marker and making the journal.
    const dir = path.join(tempDir(), 'engine');
    mkdirSync(path.join(dir, 'meta-lmdb', 'lost+found'), { recursive: true });
    await writeMarker(new NodeIo(), dir, 'lmdb');
    const engine = await Engine.open(dir);
    await engine.fs.create('/f', { size: 1 });
    await engine.close();
    expect(kindAt(path.join(dir, 'journal'))).toBe('dir');
  });
});
