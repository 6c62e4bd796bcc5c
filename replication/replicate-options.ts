/**
 * `engine.replicate`'s options: what each means, and the check that gives
 * EINVAL for a bad one before anything connects.
 */
import type { FanlogError } from '../errors.js';
import { invalid } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import { checkRedisUrl, COMMAND_TIMEOUT_MS_DEFAULT } from './connect.js';

export interface ReplicateOptions {
  /** `redis://[[user]:password@]host:port[/db]`; shown everywhere with its credentials redacted. */
  url: string;
  /** The stream's key. */
  stream: string;
  /** The fanlog consumer's name; default `redis:<stream>`. */
  consumer?: string;
  /** Only records with one of these bits (records without a mask always). */
  mask?: bigint;
  /** A registered filter to attach to the consumer, with its argument. */
  filter?: { name: string; argument: string };
  /** Records per batch (one script call, one ack); default 1000. */
  batchRecords?: number;
  /** Replicas that must have each batch (Redis WAIT) before fanlog acks it; default 0. */
  waitReplicas?: number;
  /** After each batch: trim what every group acknowledged ('acked'), or to a length. */
  trim?: 'acked' | { maxLen: number };
  /** How long a Redis command (and connecting) may take before it is ETIMEDOUT and retried, in ms; default 5000. Also what bounds stop(). */
  commandTimeoutMs?: number;
  /** Hears errors: retried ones (the replicator goes on) and final ones (it stops). */
  onError?: (error: FanlogError, final: boolean) => void;
}

/** The options, checked, with their defaults. */
export type CheckedOptions = ReplicateOptions & { batchRecords: number; waitReplicas: number; commandTimeoutMs: number };

export function checkReplicateOptions(options: ReplicateOptions): CheckedOptions {
  const opts = checkOptions<ReplicateOptions>('options', options, [
    'url',
    'stream',
    'consumer',
    'mask',
    'filter',
    'batchRecords',
    'waitReplicas',
    'trim',
    'commandTimeoutMs',
    'onError',
  ]);
  const url = checkRedisUrl(opts.url);
  if (typeof opts.stream !== 'string' || opts.stream.length === 0 || opts.stream.length > 512) throw invalid('stream must be a name of 1 to 512 characters');
  if (opts.trim !== undefined && opts.trim !== 'acked') {
    if (typeof opts.trim !== 'object' || opts.trim === null) throw invalid("trim must be 'acked' or { maxLen }");
    checkInteger('trim.maxLen', opts.trim.maxLen, 1, Number.MAX_SAFE_INTEGER);
  }
  if (opts.onError !== undefined && typeof opts.onError !== 'function') throw invalid('onError must be a function');
  return {
    ...opts,
    url,
    stream: opts.stream,
    batchRecords: checkInteger('batchRecords', opts.batchRecords ?? 1000, 1, 100_000),
    waitReplicas: checkInteger('waitReplicas', opts.waitReplicas ?? 0, 0, 1000),
    commandTimeoutMs: checkInteger('commandTimeoutMs', opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT, 1, 2 ** 31 - 1),
  };
}
