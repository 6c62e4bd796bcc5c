/**
 * Mirror: a real directory as an event source (`engine.mirror(dir)`).
 *
 * No watcher is exact (queues overflow, renames are not paired), so the
 * watcher here (chokidar) gives only hints of where to look, and the truth
 * is `lstat` (disk.ts), as Watchman does it: a full scan, then hints, then
 * a full scan again whenever continuity may be lost.
 *
 *   start      the watcher starts (its own walk done), then a full scan,
 *              reason 'start': whatever changed while no mirror ran is
 *              found by the diff
 *   hints      watcher events name paths; once none came for `settleMs`,
 *              the directories holding them are listed and reconciled
 *              (reconcile.ts), with no note
 *   rescans    a full scan on a watcher error ('watcher-error'), every
 *              `rescanEveryMs` ('periodic') and on `rescan()` ('manual')
 *
 * A full scan journals a `scanBegin` note (its reason) before its changes
 * and a `scanEnd` note after them: a consumer that sees a scanBegin knows
 * that continuity may have been lost before it, and that after the
 * scanEnd its records again describe the directory exactly, like
 * Watchman's `is_fresh_instance`. Every change is one atomic engine
 * operation, so a crash leaves the mirrored tree at some point of a scan,
 * and the next start's scan finishes the job.
 *
 * One scan or hint batch runs at a time (a chain of turns); `stop()` stops
 * the watcher and the timers, then waits for the turn in hand.
 */
import { readFileSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Stats } from 'node:fs';
import type { FSWatcher } from 'chokidar';
import type { EngineCore } from '../engine/engine.js';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import { type MirrorProblem, type ReconcileResult, Reconciler } from './reconcile.js';
import { splitRel } from './tree.js';

export type { MirrorProblem, ReconcileResult } from './reconcile.js';

export type ScanReason = 'start' | 'watcher-error' | 'periodic' | 'manual';

export interface MirrorOptions {
  /** Where in the engine's filesystem the directory is mirrored: an existing directory; default '/'. */
  into?: string;
  /** Names to leave out, with what is below them, or a test of each path (relative to the mirrored directory). The engine's own directory is always left out. */
  ignore?: readonly string[] | ((rel: string) => boolean);
  /** A full scan this often; default none (0). */
  rescanEveryMs?: number;
  /** Hints are applied once none came for this long; default 50 ms. */
  settleMs?: number;
  /** Watch for hints; default true. False: scans only (`fanlog mirror --once`). */
  watch?: boolean;
  /** Hears a scan's progress: entries listed so far. */
  onProgress?: (entries: number, reason: ScanReason) => void;
  /** Hears what stops the watcher (ENOSPC: too few inotify watches) and failed turns. */
  onError?: (error: FanlogError) => void;
}

export interface MirrorStats {
  /** Full scans done, and the last one. */
  scans: number;
  lastScan: { reason: ScanReason; entries: number; changes: number; ms: number } | null;
  /** Hint batches applied. */
  hintBatches: number;
  /** Engine operations journaled, in all. */
  changes: number;
  /** What the last scan, and the hints since, could not read or apply (the newest 1,000). */
  problems: MirrorProblem[];
  watching: boolean;
  lastError: FanlogError | null;
}

/** Problems `stats()` keeps: the newest. */
const PROBLEMS_KEPT = 1000;

/** A batch of hints waits at most this many settles (see #hint). */
const SETTLE_ROUNDS_MAX = 10;

const OPTION_NAMES = ['into', 'ignore', 'rescanEveryMs', 'settleMs', 'watch', 'onProgress', 'onError'] as const;

export class Mirror {
  readonly #engine: EngineCore;
  readonly #root: string;
  readonly #into: string;
  readonly #reconciler: Reconciler;
  readonly #options: MirrorOptions;
  readonly #ignored: (rel: string) => boolean;
  #watcher: FSWatcher | null = null;
  #turn: Promise<unknown> = Promise.resolve();
  #touched = new Set<string>();
  #settle: NodeJS.Timeout | null = null;
  /** When the first hint of the batch waiting for its settle came. */
  #batchSince = 0;
  #periodic: NodeJS.Timeout | null = null;
  #stopped = false;
  #detach: () => void = () => undefined;
  #stats: MirrorStats = { scans: 0, lastScan: null, hintBatches: 0, changes: 0, problems: [], watching: false, lastError: null };

  private constructor(engine: EngineCore, root: string, into: string, engineDir: string, options: MirrorOptions) {
    this.#engine = engine;
    this.#root = root;
    this.#into = into;
    this.#options = options;
    this.#ignored = ignoreTest(options.ignore, relative(root, engineDir));
    this.#reconciler = new Reconciler(engine, root, into, this.#ignored);
  }

  /** Checks the directory, starts watching, and resolves after the start scan. */
  static async start(engine: EngineCore, dir: string, options: MirrorOptions = {}): Promise<Mirror> {
    if (typeof dir !== 'string' || dir === '') throw invalid('dir must be a non-empty string');
    const checked = checkOptions<MirrorOptions>('options', options, OPTION_NAMES);
    if (checked.rescanEveryMs !== undefined) checkInteger('rescanEveryMs', checked.rescanEveryMs, 0, 2 ** 31 - 1);
    if (checked.settleMs !== undefined) checkInteger('settleMs', checked.settleMs, 0, 60_000);
    const into = checked.into ?? '/';
    if (typeof into !== 'string' || !into.startsWith('/')) throw invalid(`into must be an absolute path of the engine's filesystem, got '${String(into)}'`);
    const intoStat = await engine.fs.stat(into);
    if ((intoStat.mode & 0o170000) !== 0o040000) throw new FanlogError('ENOTDIR', `mirror: '${into}' is not a directory of the engine's filesystem`);
    const root = await realDir(dir);
    const engineDir = await realpath(engine.dir);
    if (relative(root, engineDir) === '' || !relative(engineDir, root).startsWith('..')) throw invalid(`mirror: '${dir}' is the engine's own directory, or inside it`);
    const mirror = new Mirror(engine, root, into.length > 1 ? into.replace(/\/+$/, '') : into, engineDir, checked);
    // Closing the engine stops the mirror first.
    mirror.#detach = engine.attachWork(() => mirror.stop());
    try {
      if (checked.watch !== false) await mirror.#watch();
      await mirror.rescan('start');
      const every = checked.rescanEveryMs ?? 0;
      if (every > 0) {
        mirror.#periodic = setInterval(() => void mirror.rescan('periodic').catch(() => undefined), every);
        mirror.#periodic.unref();
      }
    } catch (error) {
      await mirror.stop();
      throw error;
    }
    return mirror;
  }

  /** The mirrored directory, as its real path. */
  get root(): string {
    return this.#root;
  }

  /** A full scan, between a scanBegin and a scanEnd note; resolves with what it did. */
  rescan(reason: ScanReason = 'manual'): Promise<ReconcileResult> {
    return this.#inTurn(async () => {
      const started = performance.now();
      await this.#note('scanBegin', reason);
      // Hints gathered so far are covered by this scan.
      this.#touched.clear();
      const result = await this.#reconciler.scan((entries) => this.#options.onProgress?.(entries, reason));
      await this.#note('scanEnd', reason);
      this.#stats.scans++;
      this.#stats.lastScan = { reason, entries: result.entries, changes: result.changes, ms: Math.round(performance.now() - started) };
      this.#stats.changes += result.changes;
      this.#stats.problems = result.problems.slice(-PROBLEMS_KEPT);
      return result;
    });
  }

  stats(): MirrorStats {
    return { ...this.#stats, problems: [...this.#stats.problems], lastScan: this.#stats.lastScan === null ? null : { ...this.#stats.lastScan } };
  }

  /** Stops watching and scanning; resolves once the scan or hint batch in hand is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#detach();
    if (this.#settle !== null) clearTimeout(this.#settle);
    if (this.#periodic !== null) clearInterval(this.#periodic);
    const watcher = this.#watcher;
    this.#watcher = null;
    this.#stats.watching = false;
    await watcher?.close();
    await this.#turn.catch(() => undefined);
  }

  async #note(op: 'scanBegin' | 'scanEnd', reason: ScanReason): Promise<void> {
    await this.#engine.appendRecord({ kind: 'note', op, time: this.#engine.now(), path: this.#into, reason });
  }

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.#stopped) return Promise.reject(new FanlogError('ECLOSED', 'the mirror is stopped'));
    const turn = this.#turn.catch(() => undefined).then(work);
    this.#turn = turn;
    turn.catch((error: unknown) => this.#failed(error));
    return turn;
  }

  #failed(error: unknown): void {
    const failure = error instanceof FanlogError ? error : fromIoError(error, this.#root);
    this.#stats.lastError = failure;
    this.#options.onError?.(failure);
  }

  // ---- hints --------------------------------------------------------------

  async #watch(): Promise<void> {
    const { watch } = await import('chokidar');
    const root = this.#root;
    const rel = (path: string): string => relative(root, path).split(sep).join('/');
    // Directories only: an inotify watch on a directory reports its
    // entries' changes (the raw events), so a file needs no watch of its own.
    const watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      ignored: (path: string, stats?: Stats) => path !== root && ((stats !== undefined && !stats.isDirectory()) || this.#ignored(rel(path))),
    });
    this.#watcher = watcher;
    watcher.on('raw', (_event: string, name: string | null, details: unknown) => {
      const dir = (details as { watchedPath?: string } | undefined)?.watchedPath;
      if (dir === undefined) return;
      const path = rel(name === null || name === '' ? dir : join(dir, name));
      if (!path.startsWith('..') && !this.#ignored(path)) this.#hint(path);
    });
    for (const event of ['addDir', 'unlinkDir'] as const) watcher.on(event, (path: string) => this.#hint(rel(path)));
    watcher.on('error', (error: unknown) => this.#watcherError(error));
    await new Promise<void>((resolve) => watcher.once('ready', resolve));
    this.#stats.watching = true;
  }

  /**
   * Notes a touched path; the batch is applied once no hint came for
   * settleMs, but a batch is never held longer than SETTLE_ROUNDS_MAX
   * settles, so that changes that never pause are still followed.
   */
  #hint(rel: string): void {
    if (this.#stopped) return;
    this.#touched.add(rel);
    const settleMs = this.#options.settleMs ?? 50;
    const now = performance.now();
    if (this.#settle !== null) {
      if (now - this.#batchSince >= settleMs * SETTLE_ROUNDS_MAX) return;
      clearTimeout(this.#settle);
    } else {
      this.#batchSince = now;
    }
    this.#settle = setTimeout(() => {
      this.#settle = null;
      void this.#applyHints().catch(() => undefined);
    }, settleMs);
  }

  #applyHints(): Promise<void> {
    return this.#inTurn(async () => {
      if (this.#touched.size === 0) return;
      // Each touched path, as a name in its directory ('' itself: the root's own entry is a scan's).
      const names = new Map<string, Set<string>>();
      for (const rel of this.#touched) {
        if (rel === '') continue;
        const [dir, name] = splitRel(rel);
        names.set(dir, (names.get(dir) ?? new Set()).add(name));
      }
      this.#touched.clear();
      const result = await this.#reconciler.reconcileNames(names);
      this.#stats.hintBatches++;
      this.#stats.changes += result.changes;
      // The newest are kept: a directory that cannot be read reports again at every hint.
      this.#stats.problems = [...this.#stats.problems, ...result.problems].slice(-PROBLEMS_KEPT);
    });
  }

  #watcherError(error: unknown): void {
    const action = watcherErrorAction(error, this.#root);
    if (action instanceof FanlogError) {
      this.#failed(action);
      void this.#watcher?.close();
      this.#watcher = null;
      this.#stats.watching = false;
    } else if (action === 'rescan') {
      void this.rescan('watcher-error').catch(() => undefined);
    }
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
  if (code === 'ENOSPC') return new FanlogError('ENOSPC', `mirror: too few inotify watches for ${root}: raise the sysctl fs.inotify.max_user_watches (now ${inotifyWatches()})`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return 'ignore';
  return 'rescan';
}

function inotifyWatches(): string {
  try {
    return readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim();
  } catch {
    return 'unknown';
  }
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
function ignoreTest(ignore: MirrorOptions['ignore'], engineRel: string): (rel: string) => boolean {
  const own = engineRel.startsWith('..') ? null : engineRel.split(sep).join('/');
  const mine = (rel: string): boolean => own !== null && (rel === own || rel.startsWith(`${own}/`));
  if (ignore === undefined) return mine;
  if (typeof ignore === 'function') return (rel) => mine(rel) || ignore(rel);
  if (!Array.isArray(ignore) || !ignore.every((name) => typeof name === 'string' && name !== '' && !name.includes('/'))) throw invalid('ignore must be names (no slash) or a function');
  const names = new Set(ignore);
  return (rel) => mine(rel) || rel.split('/').some((part) => names.has(part));
}
