/**
 * How the CLI reads its option values: each parser throws commander's
 * InvalidArgumentError, which commander reports as a usage error (exit 2).
 */
import { InvalidArgumentError } from 'commander';
import { FAN_ALLOW, FAN_DENY, FAN_DENY_ERRNO, MASK_NAMES } from '../engine/notify/masks.js';

export function parseCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 100_000_000) {
    throw new InvalidArgumentError(`expected a whole number from 1 to 100000000, got '${value}'`);
  }
  return count;
}

export function parseSeq(value: string): bigint {
  if (!/^\d{1,20}$/.test(value)) throw new InvalidArgumentError(`expected a sequence number, got '${value}'`);
  return BigInt(value);
}

/** `--wait` alone waits until the lock is free; `--wait=MS` at most MS ms. */
export function parseWait(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0 || ms > 2 ** 31 - 1) throw new InvalidArgumentError(`expected milliseconds from 0, got '${value}'`);
  return ms;
}

/** A mask as event names (CREATE,MODIFY or CREATE|MODIFY) or a number (0x102). */
export function parseMask(value: string): bigint {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(value)) {
    const mask = BigInt(value);
    if (mask > 0n && mask < 2n ** 64n) return mask;
  }
  let mask = 0n;
  for (const name of value.split(/[|,]/)) {
    const bit = MASK_NAMES.find(([, known]) => known === name.trim().toUpperCase().replace(/^FAN_/, ''));
    if (bit === undefined)
      throw new InvalidArgumentError(`unknown event '${name}': the names are ${MASK_NAMES.map(([, known]) => known).join(', ')} (or a number)`);
    mask |= bit[0];
  }
  return mask;
}

/** `--filter NAME=ARG`. */
export function parseFilter(value: string): { name: string; argument: string } {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected NAME=ARG (e.g. path-prefix=/projects), got '${value}'`);
  return { name: value.slice(0, at), argument: value.slice(at + 1) };
}

export function parseIndex(value: string): number {
  const index = Number(value);
  if (!Number.isInteger(index) || index < 0 || index > 100_000_000) throw new InvalidArgumentError(`expected a run index from 0, got '${value}'`);
  return index;
}

export function parseSeed(value: string): number {
  const seed = Number(value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new InvalidArgumentError(`expected a seed from 0 to 4294967295, got '${value}'`);
  return seed;
}

/** `--stop-policy`: the answer given to what is unanswered at a stop. */
export function parseStopPolicy(value: string): number {
  const policies: Record<string, number> = { 'deny-eio': FAN_DENY_ERRNO(5), deny: FAN_DENY, allow: FAN_ALLOW };
  const policy = policies[value];
  if (policy === undefined) throw new InvalidArgumentError(`expected deny-eio, deny or allow, got '${value}'`);
  return policy;
}

/** `--trim`: 'acked' (what every group acknowledged), or a stream length, at least 1. */
export function parseTrim(value: string): 'acked' | { maxLen: number } {
  if (value === 'acked') return 'acked';
  const maxLen = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(maxLen) || maxLen < 1)
    throw new InvalidArgumentError(`expected 'acked' or a length from 1, got '${value}'`);
  return { maxLen };
}

/** A usage error found after parsing: reported like commander's own, exit 2. */
export function usage(message: string): never {
  process.stderr.write(`fanlog: EINVAL: ${message}\n`);
  process.exit(2);
}

export const DIR_HELP = 'engine directory';
export const STORE_HELP = "the MetaStore the directory should hold: 'lmdb', 'level' or 'files' (default: the one it records)";
export const WAIT_HELP = 'if an application holds the engine, wait for it: for MS milliseconds, or until it is free (default: EBUSY at once)';
export type Common = { dir: string; store?: 'lmdb' | 'level' | 'files'; json?: boolean; wait?: number };
export const INIT_HELP =
  'make the engine if the directory holds none (without it such a directory is refused; if the command then fails, the engine it made is taken away)';
/** `--init` given or not: false (not undefined) tells the refusal to mention it. */
export const initOf = (init: unknown): { init: boolean } => ({ init: init === true });

export const waitOf = (wait: unknown): { wait?: number } => (wait === undefined ? {} : { wait: wait === true ? Infinity : (wait as number) });
