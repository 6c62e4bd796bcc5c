/**
 * The mirrored directory itself: where it is (its real path), which
 * directory it is (its identity, see `MirroredRoot`), what the mirror
 * leaves out of it, and what a watcher's error on it means. Mirror
 * (mirror.ts) runs the scans and hints over it.
 */
import { realpath, stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import type { EngineCore } from '../engine/engine.js';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import { dirKeyAt } from './disk.js';
import { watchesRunOut } from './watch.js';

/**
 * The directory that was at the mirrored path when the mirror started:
 * the one it follows. Another directory made at the path later (after a
 * removal or a rename over it) is not it, so the mirror ends rather than
 * mirror the new one as if continuity had held.
 */
export class MirroredRoot {
  readonly path: string;
  readonly #key: string | null;

  /** Takes the identity of what is at `path` now. */
  constructor(path: string) {
    this.path = path;
    this.#key = dirKeyAt(path);
  }

  /** Whether the directory the mirror started on is no longer at its path. */
  gone(): boolean {
    return dirKeyAt(this.path) !== this.#key;
  }

  /** What ends the mirror once `gone()`: ENOENT naming the path. */
  goneError(): FanlogError {
    return new FanlogError(
      'ENOENT',
      `${this.path}: the mirrored directory is gone (removed, or replaced by another at its path): the mirror emptied its tree and stopped; start it again to follow what is there now`,
      { file: this.path },
    );
  }
}

/**
 * What a watcher's error means: ENOSPC (inotify's watches ran out) stops
 * watching, and saying so, naming the sysctl, is the only honest answer;
 * a directory that cannot be read is a scan's problem ('ignore'); any
 * other error may have lost events ('rescan').
 */
export function watcherErrorAction(error: unknown, root: string): FanlogError | 'rescan' | 'ignore' {
  const code = (error as { code?: string } | null)?.code;
  if (code === 'ENOSPC') return watchesRunOut(root, error);
  if (code === 'EACCES' || code === 'EPERM') return 'ignore';
  return 'rescan';
}

/**
 * Where a mirror of `dir` into `into` reads and writes, checked: `root`,
 * the directory's real path; `into`, an existing directory of the
 * engine's filesystem (no trailing slash); `engineDir`, the engine's own
 * real directory, which must not be `root` or hold it.
 */
export async function placesOf(engine: EngineCore, dir: string, into: string): Promise<{ root: string; into: string; engineDir: string }> {
  if (typeof into !== 'string' || !into.startsWith('/')) throw invalid(`into must be an absolute path of the engine's filesystem, got '${String(into)}'`);
  const intoStat = await engine.fs.stat(into);
  if ((intoStat.mode & 0o170000) !== 0o040000) throw new FanlogError('ENOTDIR', `mirror: '${into}' is not a directory of the engine's filesystem`);
  const root = await realDir(dir);
  const engineDir = await realpath(engine.dir);
  if (relative(root, engineDir) === '' || !relative(engineDir, root).startsWith('..'))
    throw invalid(`mirror: '${dir}' is the engine's own directory, or inside it`);
  return { root, into: into.length > 1 ? into.replace(/\/+$/, '') : into, engineDir };
}

/** The directory's real path; ENOENT or ENOTDIR naming it. */
async function realDir(dir: string): Promise<string> {
  try {
    const real = await realpath(dir);
    if (!(await stat(real)).isDirectory()) throw new FanlogError('ENOTDIR', `mirror: '${dir}' is not a directory`, { file: dir });
    return real;
  } catch (error) {
    if (error instanceof FanlogError) throw error;
    throw fromIoError(error, dir);
  }
}

/** The test of what to leave out: names, or the caller's test, and always the engine's own directory. */
export function ignoreTest(ignore: readonly string[] | ((rel: string) => boolean) | undefined, engineRel: string): (rel: string) => boolean {
  const own = engineRel.startsWith('..') ? null : engineRel.split(sep).join('/');
  const mine = (rel: string): boolean => own !== null && (rel === own || rel.startsWith(`${own}/`));
  if (ignore === undefined) return mine;
  if (typeof ignore === 'function') return (rel) => mine(rel) || ignore(rel);
  if (!Array.isArray(ignore) || !ignore.every((name) => typeof name === 'string' && name !== '' && !name.includes('/')))
    throw invalid('ignore must be names (no slash) or a function');
  const names = new Set(ignore);
  return (rel) => mine(rel) || rel.split('/').some((part) => names.has(part));
}
