/**
 * The values the filesystem records, checked where a caller hands them in,
 * before anything is applied. A value the record codec cannot hold must
 * never reach commit (engine/record/encodable.ts says what it holds): the
 * state would change and its entry could not be written. So every entry
 * point refuses one here, with a code a caller can branch on:
 *
 *   value                       refused with
 *   size, offset, count         EINVAL unless an integer >= 0; EFBIG past
 *                               FILE_BYTES_MAX (2^53 - 1, the largest
 *                               integer a number holds exactly), and an
 *                               offset plus a count past it, as POSIX
 *                               refuses a write beyond the largest file
 *   time (ns since 1970)        EINVAL unless a bigint from 0 to 2^63 - 1
 *                               (1970 to 2262; the codec's u64 would wrap
 *                               a time before 1970 silently)
 *   mode                        EINVAL unless an integer from 0 to 0o7777
 *   uid, gid                    EINVAL unless an integer from 0 to 2^32 - 1
 *   xattr name                  EINVAL unless a non-empty, well-formed
 *                               string without NUL; ENAMETOOLONG past 255
 *                               bytes
 *
 * Each message names the argument and what it got.
 */
import { FanlogError, invalid } from '../../errors.js';
import { checkBigint, checkInteger, FILE_BYTES_MAX, ID_MAX } from '../../validate.js';
import { fsError, NAME_BYTES_MAX } from '../model/paths.js';

/** The latest time a record holds: 2^63 - 1 ns, in 2262. */
export const TIME_MAX = 2n ** 63n - 1n;

/** An integer as its exact decimal digits up to 2^64 (String(2 ** 60) rounds them: 1152921504606847000), past that as JavaScript prints it (1e+300). */
const exact = (value: number): string => (Number.isSafeInteger(value) || value >= 2 ** 64 ? String(value) : BigInt(value).toString());

function tooBig(name: string, value: number): FanlogError {
  return new FanlogError('EFBIG', `${name} ${exact(value)} is beyond the largest size fanlog records exactly (2^53 - 1 bytes)`);
}

/** A size, offset or count: EINVAL unless an integer >= 0, EFBIG past 2^53 - 1. */
export function checkBytes(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalid(`${name} must be an integer, got ${typeof value === 'number' ? value : typeof value}`);
  if (value < 0) throw invalid(`${name} must be 0 or more, got ${value}`);
  if (value > FILE_BYTES_MAX) throw tooBig(name, value);
  return value;
}

/** An offset and a count (or length), each checkBytes, whose end is not past 2^53 - 1 either (EFBIG). */
export function checkByteRange(offsetName: string, offset: unknown, countName: string, count: unknown): void {
  const start = checkBytes(offsetName, offset);
  const bytes = checkBytes(countName, count);
  if (start + bytes > FILE_BYTES_MAX) {
    throw new FanlogError(
      'EFBIG',
      `${offsetName} ${start} plus ${countName} ${bytes} ends at ${exact(start + bytes)}, beyond the largest size fanlog records exactly (2^53 - 1 bytes)`,
    );
  }
}

/** A time in nanoseconds since 1970. */
export function checkTime(name: string, value: unknown): bigint {
  return checkBigint(name, value, 0n, TIME_MAX);
}

export function checkMode(name: string, value: unknown): number {
  return checkInteger(name, value, 0, 0o7777);
}

export function checkId(name: string, value: unknown): number {
  return checkInteger(name, value, 0, ID_MAX);
}

/** An xattr name as Linux takes one: non-empty, no NUL, at most 255 bytes. */
export function checkXattrName(name: unknown): void {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0') || !name.isWellFormed()) {
    throw new FanlogError('EINVAL', 'xattr name must be a non-empty, well-formed string without NUL');
  }
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw fsError('ENAMETOOLONG', 'xattr name is longer than 255 bytes');
}
