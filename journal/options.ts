/**
 * The journal's options and argument checks: every public journal call
 * validates through these, so that bad input is EINVAL before any I/O.
 */
import { FanlogError, invalid } from '../errors.js';
import { FRAME_BYTES_LIMIT, recordsFrameBytes } from './frame.js';
import type { Io } from './io.js';
import { NodeIo } from './node-io.js';
import { SEQ_MAX, type Seq } from './types.js';

export type SyncPolicy = 'always' | 'interval' | 'never';

export interface JournalOptions {
  /** When appends are durable; default 'always'. */
  sync?: SyncPolicy;
  /** With sync 'interval': the longest a written entry waits for its fdatasync; default 50. */
  syncIntervalMs?: number;
  /** A segment rolls before it would exceed this; default 64 MiB. An entry must fit in one segment. */
  segmentBytesMax?: number;
  /** File-system implementation; default NodeIo (node:fs). */
  io?: Io;
  /**
   * Read only: opens an existing journal without taking its lock, repairing
   * anything or writing anything; appends, syncs and purges are EROFS. It
   * reads the journal as it was when opened (a torn tail is left out, not cut).
   */
  readOnly?: boolean;
}

export interface ReadRange {
  /** First seq to read; default the oldest retained record. */
  from?: Seq;
  /** Last seq to read, inclusive; default, and at most, `durableSeq` when the read starts. */
  to?: Seq;
}

export const SEGMENT_BYTES_MIN = 4096;
export const SEGMENT_BYTES_MAX_LIMIT = 2 ** 32;
const DEFAULTS = { sync: 'always' as SyncPolicy, syncIntervalMs: 50, segmentBytesMax: 64 * 2 ** 20 };
const OPTION_NAMES = new Set(['sync', 'syncIntervalMs', 'segmentBytesMax', 'io', 'readOnly']);

export function validateOptions(options: unknown): Required<Omit<JournalOptions, 'io'>> & { io: Io } {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw invalid(`unknown journal option '${key}'`);
  }
  const {
    sync = DEFAULTS.sync,
    syncIntervalMs = DEFAULTS.syncIntervalMs,
    segmentBytesMax = DEFAULTS.segmentBytesMax,
    io,
    readOnly = false,
  } = options as JournalOptions;
  if (typeof readOnly !== 'boolean') throw invalid(`readOnly must be a boolean, got ${typeof readOnly}`);
  if (sync !== 'always' && sync !== 'interval' && sync !== 'never') {
    throw invalid(`sync must be 'always', 'interval' or 'never', got ${String(sync)}`);
  }
  if (!Number.isInteger(syncIntervalMs) || syncIntervalMs < 1 || syncIntervalMs > 3_600_000) {
    throw invalid(`syncIntervalMs must be an integer from 1 to 3600000, got ${String(syncIntervalMs)}`);
  }
  if (!Number.isInteger(segmentBytesMax) || segmentBytesMax < SEGMENT_BYTES_MIN || segmentBytesMax > SEGMENT_BYTES_MAX_LIMIT) {
    throw invalid(`segmentBytesMax must be an integer from ${SEGMENT_BYTES_MIN} to ${SEGMENT_BYTES_MAX_LIMIT}, got ${String(segmentBytesMax)}`);
  }
  if (io !== undefined && (io === null || typeof io !== 'object' || typeof io.open !== 'function')) {
    throw invalid('io must implement the Io interface');
  }
  return { sync, syncIntervalMs, segmentBytesMax, io: io ?? new NodeIo(), readOnly };
}

export function validateSeq(name: string, value: unknown): Seq {
  if (typeof value !== 'bigint') throw invalid(`${name} must be a bigint, got ${typeof value}`);
  if (value < 0n || value > SEQ_MAX) throw invalid(`${name} must be an unsigned 64-bit integer, got ${value}`);
  return value;
}

/** The records a read covers: from `range.from` (default the oldest) to `range.to`, at most `durable`. EPURGED below `firstSeq`. */
export function resolveReadRange(range: unknown, firstSeq: Seq, durable: Seq): { from: Seq; last: Seq } {
  if (range === null || typeof range !== 'object') throw invalid('read range must be an object');
  const { from: given, to: until } = range as ReadRange;
  const from = given === undefined ? firstSeq : validateSeq('from', given);
  const to = until === undefined ? durable : validateSeq('to', until);
  if (from < 1n) throw invalid('from must be at least 1');
  if (from < firstSeq) throw new FanlogError('EPURGED', `records before ${firstSeq} were purged; asked from ${from}`);
  return { from, last: to < durable ? to : durable };
}

/** An entry's payloads, checked: EINVAL unless a non-empty array of Uint8Array, E2BIG past the frame limit. */
export function checkPayloads(payloads: unknown): asserts payloads is readonly Uint8Array[] {
  if (!Array.isArray(payloads) || payloads.length === 0) throw invalid('an entry needs at least one payload');
  for (const payload of payloads) {
    if (!(payload instanceof Uint8Array)) throw invalid('every payload must be a Uint8Array');
  }
  const frameBytes = recordsFrameBytes(payloads as Uint8Array[]);
  if (frameBytes > FRAME_BYTES_LIMIT) throw new FanlogError('E2BIG', `entry of ${frameBytes} framed bytes exceeds the frame limit of ${FRAME_BYTES_LIMIT}`);
}
