/**
 * Mirror: a real directory as an event source (`engine.mirror(dir)`).
 *
 * No watcher is exact (queues overflow, renames are not paired), so the
 * watcher here (watch.ts: an inotify watch per directory) gives only hints
 * of where to look, and the truth is `lstat` (disk.ts), as Watchman does
 * it: a full scan, then hints, then a full scan again whenever continuity
 * may be lost.
 *
 *   start      a full scan, reason 'start', watching each directory just
 *              before it lists it: whatever changed while no mirror ran is
 *              found by the diff
 *   hints      watcher events name a directory (by identity) and a name in
 *              it; once none came for `settleMs`, each directory is found
 *              where it is now (hints.ts) and its named entries reconciled
 *              (reconcile.ts), with no note
 *   rescans    a full scan when the watcher's queue may have overflowed
 *              ('overflow'), when a hint cannot be placed ('gap'), on a
 *              watcher error ('watcher-error'), every `rescanEveryMs`
 *              ('periodic') and on `rescan()` ('manual')
 *
 * A full scan journals a `scanBegin` note (its reason) before its changes
 * and a `scanEnd` note after them: a consumer that sees a scanBegin knows
 * that continuity may have been lost before it, and that after the
 * scanEnd its records again describe the directory exactly, like
 * Watchman's `is_fresh_instance` (but for what loss notes name). What the
 * mirror cannot mirror (a directory it may not read, a name or symlink
 * target that is not UTF-8, a size past 2^53 - 1, a change the engine
 * refused, watching stopped for want of inotify watches) is a problem in
 * `stats()` and a `loss` note naming where the tree may differ, journaled
 * in the scan (before its scanEnd) or the hint batch that met it; a scan
 * notes again whatever it still cannot mirror, so the loss notes since the
 * last scanBegin say where the tree is not the disk. Every change is one
 * atomic engine operation, so a crash leaves the mirrored tree at some
 * point of a scan, and the next start's scan finishes the job.
 *
 * The mirror follows the directory that was at its path when it started
 * (its identity). A scan that finds it gone (removed, or replaced by
 * another) empties the mirrored tree, notes a loss over it (ENOENT), and
 * ends the mirror (`ended`): the disk has nothing there, and what is made
 * there later is not followed.
 *
 * One scan or hint batch runs at a time (a chain of turns); `stop()` stops
 * the watcher and the timers, then waits for the turn in hand.
 */
import { relative } from 'node:path';
import type { EngineCore } from '../engine/engine.js';
import { FanlogError, fromIoError, invalid } from '../errors.js';
import { dirKeyAt } from './disk.js';
import { Hints, place } from './hints.js';
import { type MirrorOptions, type MirrorStats, type ScanReason, checkMirrorOptions } from './options.js';
import { type MirrorProblem, type ReconcileResult, Reconciler } from './reconcile.js';
import { MirroredRoot, ignoreTest, placesOf, watcherErrorAction } from './root.js';
import { DirWatcher, type WatchedDir } from './watch.js';

export type { MirrorProblem, ReconcileResult } from './reconcile.js';
export type { MirrorOptions, MirrorStats, ScanReason } from './options.js';

/** Problems `stats()` keeps: the newest. */
const PROBLEMS_KEPT = 1000;

/** A batch of hints waits at most this many settles (see #heard). */
const SETTLE_ROUNDS_MAX = 10;

export class Mirror {
  readonly #engine: EngineCore;
  readonly #root: string;
  /** The directory the mirror started on: the one it follows (see root.ts). */
  readonly #rootDir: MirroredRoot;
  readonly #into: string;
  readonly #reconciler: Reconciler;
  readonly #options: MirrorOptions;
  #watcher: DirWatcher | null = null;
  #turn: Promise<unknown> = Promise.resolve();
  readonly #hints = new Hints();
  #settle: NodeJS.Timeout | null = null;
  /** When the first hint of the batch waiting for its settle came, and the last. */
  #batchSince = 0;
  #lastHint = 0;
  /** The rescan queued and not begun (one is enough: it covers all that came before it). */
  #rescanQueued: ScanReason | null = null;
  #periodic: NodeJS.Timeout | null = null;
  #stopped = false;
  /** What ended the mirror by itself (the directory gone); null while it runs or when stop() ended it. */
  #ending: FanlogError | null = null;
  #endedWith: (error: FanlogError | null) => void = () => undefined;
  readonly #ended = new Promise<FanlogError | null>((resolve) => (this.#endedWith = resolve));
  #detach: () => void = () => undefined;
  #stats: MirrorStats = { scans: 0, lastScan: null, hintBatches: 0, changes: 0, overflows: 0, problems: [], watching: false, lastError: null };

  private constructor(engine: EngineCore, root: string, into: string, engineDir: string, options: MirrorOptions) {
    this.#engine = engine;
    this.#root = root;
    this.#rootDir = new MirroredRoot(root);
    this.#into = into;
    this.#options = options;
    this.#reconciler = new Reconciler(engine, root, into, {
      ignored: ignoreTest(options.ignore, relative(root, engineDir)),
      beforeList: (rel) => this.#beforeList(rel),
      removedDir: (key) => this.#watcher?.unwatch(key),
    });
  }

  /** Checks the directory, starts watching, and resolves after the start scan. */
  static async start(engine: EngineCore, dir: string, options: MirrorOptions = {}): Promise<Mirror> {
    if (typeof dir !== 'string' || dir === '') throw invalid('dir must be a non-empty string');
    const checked = checkMirrorOptions(options);
    const { root, into, engineDir } = await placesOf(engine, dir, checked.into ?? '/');
    const mirror = new Mirror(engine, root, into, engineDir, checked);
    // Closing the engine stops the mirror first.
    mirror.#detach = engine.attachWork(() => mirror.stop());
    try {
      if (checked.watch !== false) {
        mirror.#watcher = new DirWatcher(root, {
          hint: (watched, name) => mirror.#heard(watched, name),
          overflow: () => mirror.#overflowed(),
          error: (error) => mirror.#watcherError(error),
        });
      }
      await mirror.rescan('start');
      mirror.#stats.watching = mirror.#watcher !== null;
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

  /**
   * Resolves when the mirror stops: with the error that ended it by itself
   * (ENOENT: the mirrored directory was removed, or replaced by another at
   * its path), or null when `stop()` (or the engine's close) ended it.
   */
  get ended(): Promise<FanlogError | null> {
    return this.#ended;
  }

  /** The mirrored directory, as its real path. */
  get root(): string {
    return this.#root;
  }

  /** A full scan, between a scanBegin and a scanEnd note; resolves with what it did. */
  rescan(reason: ScanReason = 'manual'): Promise<ReconcileResult> {
    return this.#inTurn(async () => {
      this.#rescanQueued = null;
      const started = performance.now();
      await this.#note('scanBegin', reason);
      // Hints gathered so far are covered by this scan.
      this.#hints.clear();
      let result: ReconcileResult;
      let gone: FanlogError | null = null;
      try {
        result = this.#rootDir.gone() ? await this.#reconciler.empty() : await this.#reconciler.scan((entries) => this.#options.onProgress?.(entries, reason));
      } catch (error) {
        if (!this.#rootDir.gone()) throw error;
        result = await this.#reconciler.empty();
      }
      if (this.#rootDir.gone()) {
        gone = this.#rootDir.goneError();
        result.problems.push({ path: this.#root, code: 'ENOENT', message: gone.message, enginePath: this.#into });
      }
      await this.#noteLosses(result.problems);
      await this.#note('scanEnd', reason);
      this.#stats.scans++;
      this.#stats.lastScan = { reason, entries: result.entries, changes: result.changes, ms: Math.round(performance.now() - started) };
      this.#stats.changes += result.changes;
      this.#stats.problems = result.problems.slice(-PROBLEMS_KEPT);
      if (gone !== null) {
        this.#end(gone);
        throw gone;
      }
      return result;
    });
  }

  /**
   * Resolves once what the watcher heard before the call is applied and
   * durable, with any rescan it called for: a change made on disk before
   * the call is then mirrored, or a problem and a loss note say where it
   * may not be. While changes go on, it waits for them too.
   */
  async settled(): Promise<void> {
    // Two turns of the event loop: a poll phase between them reads every event queued before the call.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      if (this.#stopped) throw this.#ending ?? new FanlogError('ECLOSED', 'the mirror is stopped');
      if (this.#settle !== null) {
        clearTimeout(this.#settle);
        this.#settle = null;
        void this.#applyHints().catch(() => undefined);
      }
      const turn = this.#turn;
      await turn.catch(() => undefined);
      if (this.#ending !== null) throw this.#ending;
      if (turn === this.#turn && this.#settle === null && this.#hints.size === 0 && this.#rescanQueued === null) return;
    }
  }

  stats(): MirrorStats {
    return { ...this.#stats, problems: [...this.#stats.problems], lastScan: this.#stats.lastScan === null ? null : { ...this.#stats.lastScan } };
  }

  /** Stops watching and scanning; resolves once the scan or hint batch in hand is done. */
  async stop(): Promise<void> {
    this.#halt();
    this.#endedWith(null);
    await this.#turn.catch(() => undefined);
  }

  /** Stops the watcher and the timers; the turn in hand goes on. */
  #halt(): void {
    this.#stopped = true;
    this.#detach();
    if (this.#settle !== null) clearTimeout(this.#settle);
    if (this.#periodic !== null) clearInterval(this.#periodic);
    this.#watcher?.close();
    this.#watcher = null;
    this.#stats.watching = false;
  }

  /** The mirror ends by itself (from within a turn): what is queued after it is refused with `error`. */
  #end(error: FanlogError): void {
    this.#ending = error;
    this.#halt();
    this.#endedWith(error);
  }

  async #note(op: 'scanBegin' | 'scanEnd' | 'loss', reason: string, path = this.#into): Promise<void> {
    await this.#engine.appendRecord({ kind: 'note', op, time: this.#engine.now(), path, reason });
  }

  /** A loss note for each place the problems name (once each, with the first one's code). */
  async #noteLosses(problems: readonly MirrorProblem[]): Promise<void> {
    const noted = new Set<string>();
    for (const problem of problems) {
      if (noted.has(problem.enginePath)) continue;
      noted.add(problem.enginePath);
      await this.#note('loss', problem.code, problem.enginePath);
    }
  }

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.#stopped) return Promise.reject(this.#ending ?? new FanlogError('ECLOSED', 'the mirror is stopped'));
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

  #queueRescan(reason: ScanReason): void {
    if (this.#rescanQueued !== null || this.#stopped) return;
    this.#rescanQueued = reason;
    void this.rescan(reason).catch(() => undefined);
  }

  // ---- hints --------------------------------------------------------------

  /**
   * Notes a hint; the batch is applied once no hint came for settleMs, but
   * a batch is never held longer than SETTLE_ROUNDS_MAX settles, so that
   * changes that never pause are still followed. (The timer is set once a
   * batch and checked when it fires: a flood of events costs no timers.)
   */
  #heard(dir: WatchedDir, name: string | null): void {
    if (this.#stopped) return;
    this.#hints.add(dir, name);
    this.#lastHint = performance.now();
    if (this.#settle !== null) return;
    this.#batchSince = this.#lastHint;
    this.#armSettle(this.#options.settleMs ?? 50);
  }

  #armSettle(ms: number): void {
    this.#settle = setTimeout(() => {
      this.#settle = null;
      const settleMs = this.#options.settleMs ?? 50;
      const now = performance.now();
      const quiet = now - this.#lastHint;
      if (quiet < settleMs && now - this.#batchSince < settleMs * SETTLE_ROUNDS_MAX) this.#armSettle(settleMs - quiet);
      else void this.#applyHints().catch(() => undefined);
    }, ms);
  }

  #applyHints(): Promise<void> {
    return this.#inTurn(async () => {
      const taken = this.#hints.take();
      if (taken.length === 0) return;
      const relOf = (key: string): string | undefined => this.#reconciler.relOf(key);
      let { hinted, unplaced } = place(taken, this.#root, relOf);
      const results = [await this.#reconciler.reconcileNames(hinted)];
      // Hints in a directory this batch moved: placed where it is now.
      if (unplaced.length > 0) {
        ({ hinted, unplaced } = place(unplaced, this.#root, relOf));
        if (hinted.size > 0) results.push(await this.#reconciler.reconcileNames(hinted));
      }
      // One whose directory left the tree (its watch ended) is moot; one that waited its tries is a gap.
      // The mirrored directory itself gone: a scan at once, which says so (an unplaced hint would otherwise wait its tries).
      const rootGone = unplaced.length > 0 && this.#rootDir.gone();
      const gap = rootGone || unplaced.some((hint) => this.#watcher?.has(hint.dir.key) === true && !this.#hints.putBack(hint));
      if (gap) this.#queueRescan('gap');
      else if (this.#hints.size > 0 && this.#settle === null) this.#heardAgain();
      this.#stats.hintBatches++;
      const problems = results.flatMap((result) => result.problems);
      for (const result of results) this.#stats.changes += result.changes;
      // The newest are kept: a directory that cannot be read reports again at every hint.
      this.#stats.problems = [...this.#stats.problems, ...problems].slice(-PROBLEMS_KEPT);
      await this.#noteLosses(problems);
    });
  }

  /** Hints put back for the next batch: a settle for them. */
  #heardAgain(): void {
    this.#batchSince = this.#lastHint = performance.now();
    this.#armSettle(this.#options.settleMs ?? 50);
  }

  #overflowed(): void {
    this.#stats.overflows++;
    this.#queueRescan('overflow');
  }

  /** Each directory is watched before it is listed (its identity, null if it cannot be); with no watch left, watching stops, and says so. */
  #beforeList(rel: string): string | null {
    const path = rel === '' ? this.#root : `${this.#root}/${rel}`;
    if (this.#watcher === null) return dirKeyAt(path);
    try {
      return this.#watcher.watch(rel)?.key ?? null;
    } catch (error) {
      this.#watchingEnded(error as FanlogError);
      return dirKeyAt(path);
    }
  }

  #watcherError(error: unknown): void {
    const action = watcherErrorAction(error, this.#root);
    if (action instanceof FanlogError) this.#watchingEnded(action);
    else if (action === 'rescan') this.#queueRescan('watcher-error');
  }

  /** Watching stopped (ENOSPC): an error, a problem, and a loss note over the whole tree, which no longer follows the disk. */
  #watchingEnded(error: FanlogError): void {
    if (this.#watcher === null) return;
    this.#watcher.close();
    this.#watcher = null;
    this.#stats.watching = false;
    this.#failed(error);
    const problem: MirrorProblem = { path: this.#root, code: error.code, message: error.message, enginePath: this.#into };
    this.#stats.problems = [...this.#stats.problems, problem].slice(-PROBLEMS_KEPT);
    void this.#inTurn(() => this.#noteLosses([problem])).catch(() => undefined);
  }
}
