/**
 * The one error class of fanlog.
 *
 * Every expected failure (bad input, a full disk, a damaged file, a busy
 * directory) is a `FanlogError` with a stable `code` that callers branch on.
 * A bug is not a `FanlogError`: it is a failed `node:assert` assertion and
 * crashes loudly.
 */

/** The stable error codes. POSIX names where POSIX has one, fanlog's own otherwise. */
export type FanlogErrorCode =
  | 'EINVAL' // an argument is invalid
  | 'EBUSY' // the resource is held by someone else (a journal opened twice)
  | 'ENOENT' // no such thing
  | 'EEXIST' // it already exists
  | 'EIO' // the disk reported an I/O error
  | 'ENOSPC' // the disk is full
  | 'ECLOSED' // the object was closed
  | 'ECORRUPT' // damaged on-disk data; `file` and `offset` say where
  | 'EPURGED' // the requested records were purged
  | 'EJOURNALID' // the journal was recreated under a consumer
  | 'EEVICTED' // a consumer was evicted and must rescan
  | 'EFAILED'; // an earlier I/O failure put the object in a failed state

export interface FanlogErrorDetails {
  /** The file the error is about, for ECORRUPT and I/O errors. */
  file?: string;
  /** The byte offset in `file` where damage starts, for ECORRUPT. */
  offset?: number;
  /** The error that caused this one, if any. */
  cause?: unknown;
}

export class FanlogError extends Error {
  readonly code: FanlogErrorCode;
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(code: FanlogErrorCode, message: string, details: FanlogErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FanlogError';
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
  }
}

/** ECORRUPT naming the file and byte offset of the damage, in the message too. */
export function corrupt(file: string, offset: number, what: string): FanlogError {
  return new FanlogError('ECORRUPT', `${file} at byte ${offset}: ${what}`, { file, offset });
}

export function invalid(message: string): FanlogError {
  return new FanlogError('EINVAL', message);
}

/**
 * Turns whatever an `Io` call threw into a FanlogError. Disk-full and
 * out-of-quota errors become ENOSPC, every other system error EIO, so that a
 * caller branches on two codes rather than on the platform's whole errno list.
 */
export function fromIoError(error: unknown, file: string): FanlogError {
  if (error instanceof FanlogError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FanlogError('ENOSPC', `${file}: ${message}`, { file, cause: error });
  }
  if (code === 'ENOENT') {
    return new FanlogError('ENOENT', `${file}: ${message}`, { file, cause: error });
  }
  return new FanlogError('EIO', `${file}: ${message}`, { file, cause: error });
}
