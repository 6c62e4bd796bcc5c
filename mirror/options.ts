/**
 * What a mirror is asked (`MirrorOptions`, checked here) and what it
 * reports (`MirrorStats`); Mirror (mirror.ts) does the work.
 */
import type { FanlogError } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import type { MirrorProblem } from './reconcile.js';

export type ScanReason = 'start' | 'watcher-error' | 'overflow' | 'gap' | 'periodic' | 'manual';

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
  /** Drains of the watcher's queue long enough that it may have overflowed (each followed by a rescan, reason 'overflow'). */
  overflows: number;
  /** What the last scan, and the hints since, could not read or apply (the newest 1,000); each has its loss note. */
  problems: MirrorProblem[];
  watching: boolean;
  lastError: FanlogError | null;
}

const OPTION_NAMES = ['into', 'ignore', 'rescanEveryMs', 'settleMs', 'watch', 'onProgress', 'onError'] as const;

/** The options, checked: no name it does not know, and the times in range. */
export function checkMirrorOptions(options: MirrorOptions): MirrorOptions {
  const checked = checkOptions<MirrorOptions>('options', options, OPTION_NAMES);
  if (checked.rescanEveryMs !== undefined) checkInteger('rescanEveryMs', checked.rescanEveryMs, 0, 2 ** 31 - 1);
  if (checked.settleMs !== undefined) checkInteger('settleMs', checked.settleMs, 0, 60_000);
  return checked;
}
