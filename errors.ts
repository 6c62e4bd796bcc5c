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
  | 'ENOTDIR' // a path component is not a directory
  | 'EISDIR' // a directory where a file belongs
  | 'ENOTEMPTY' // a directory that must be empty is not
  | 'EPERM' // not permitted (also: a permission listener denied it)
  | 'EBADF' // not an open file descriptor, or not open for that
  | 'ENAMETOOLONG' // a path or name is too long
  | 'EILSEQ' // a name or symlink target that is not UTF-8 (a mirror's problem)
  | 'ELOOP' // too many symbolic links
  | 'ENODATA' // no such extended attribute
  | 'E2BIG' // a value is too large
  | 'EFBIG' // a size, offset or count beyond what fanlog records exactly (2^53 - 1)
  | 'EAGAIN' // try again (a permission listener's answer; a lock-free read of an lmdb store its holder's commits kept overtaking)
  | 'ETXTBSY' // text file busy (a permission listener's answer)
  | 'EDQUOT' // quota exceeded (a permission listener's answer)
  | 'EIO' // the disk reported an I/O error
  | 'ENOSPC' // the disk is full
  | 'ECLOSED' // the object was closed
  | 'ECORRUPT' // damaged on-disk data; `file` and `offset` say where
  | 'EPURGED' // the requested records were purged
  | 'EJOURNALID' // the journal was recreated under a consumer
  | 'EEVICTED' // a consumer was evicted and must rescan
  | 'EREPLACED' // a consumer object is retired: its name was registered again
  | 'EREMOTE' // a remote server (Redis) cannot be reached or refused
  | 'ESERVER' // nobody serves the engine on its socket, or the connection to its holder was lost
  | 'ELOST' // a replica lost records fanlog had acknowledged into it, or a remote reader's entries were trimmed before it acknowledged them
  | 'EFOREIGN' // a replica holds an entry fanlog did not write
  | 'EAUTH' // a remote server (Redis) refused the credentials
  | 'ETIMEDOUT' // a remote server (Redis) or an engine's holder (through its socket) did not answer in time
  | 'EROFS' // the engine was opened read-only
  | 'EOPNOTSUPP' // the kernel or the filesystem refuses a feature it has no support for (tmpfs and pre-content events)
  | 'ENOSYS' // the system has no such call at all (fanotify off Linux, or a kernel built without it)
  | 'EFAILED'; // an earlier I/O failure put the object in a failed state

export interface FanlogErrorDetails {
  /** The file the error is about, for ECORRUPT and I/O errors. */
  file?: string;
  /** The byte offset in `file` (or in an input) where damage starts, for ECORRUPT; where a refused value lies, for EFBIG and EINVAL of an import. */
  offset?: number;
  /** The error that caused this one, if any. */
  cause?: unknown;
  /** EEVICTED: the records the consumer will never see, inclusive. */
  lost?: { fromSeq: bigint; toSeq: bigint };
  /** ECORRUPT in a MetaStore: the key whose value is damaged or missing. */
  key?: string;
  /** ECORRUPT in the journal's content: the seq of the record that cannot be used. */
  seq?: bigint;
  /**
   * Stream entry IDs: for EFOREIGN, the entries fanlog did not write (the
   * first ten); for ELOST from a remote reader, the entries it was given
   * and that were trimmed before it acknowledged them.
   */
  ids?: string[];
}

export class FanlogError extends Error {
  readonly code: FanlogErrorCode;
  readonly file: string | undefined;
  readonly offset: number | undefined;
  readonly lost: { fromSeq: bigint; toSeq: bigint } | undefined;
  readonly key: string | undefined;
  readonly seq: bigint | undefined;
  readonly ids: string[] | undefined;

  /** The message is `CODE: message`, once: a message that already starts with its code (one error's message wrapped in another of the same code) is not prefixed again. */
  constructor(code: FanlogErrorCode, message: string, details: FanlogErrorDetails = {}) {
    super(message.startsWith(`${code}: `) ? message : `${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FanlogError';
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
    this.lost = details.lost;
    this.key = details.key;
    this.seq = details.seq;
    this.ids = details.ids;
  }
}

/** What an error says, without the code its message starts with: for a message that wraps it and says a code of its own. */
export function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
}

/** ECORRUPT naming the file and byte offset of the damage, in the message too. */
export function corrupt(file: string, offset: number, what: string): FanlogError {
  return new FanlogError('ECORRUPT', `${file} at byte ${offset}: ${what}`, { file, offset });
}

export function invalid(message: string): FanlogError {
  return new FanlogError('EINVAL', message);
}

/** Whether `error` came from the operating system (an errno code), as opposed to a bug or a library's own error. */
export function isSystemError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/**
 * What a caller rethrows: a FanlogError as it is, a system error mapped by
 * `fromIoError`, and anything else (a failed assertion, a TypeError: a bug)
 * unchanged, so that a bug is never disguised as an I/O error.
 */
export function asFanlogError(error: unknown, file: string): unknown {
  if (error instanceof FanlogError || isSystemError(error)) return fromIoError(error, file);
  return error;
}

/** System error codes passed through as they are; the rest map as IO_CODE_MAP says, else EIO. */
const IO_CODES_KEPT = new Set<FanlogErrorCode>(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EPERM', 'EBUSY', 'ENOSPC']);
const IO_CODE_MAP: Record<string, FanlogErrorCode> = { EDQUOT: 'ENOSPC', EACCES: 'EPERM', EROFS: 'EPERM' };

/**
 * Turns whatever an `Io` call threw into a FanlogError. Codes a caller can
 * act on (full disk, missing or misplaced paths, permissions) keep their
 * name; every other system error is EIO, so callers branch on a short,
 * stable list rather than on the platform's whole errno table.
 */
export function fromIoError(error: unknown, file: string): FanlogError {
  if (error instanceof FanlogError) return error;
  const raw = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const code: FanlogErrorCode =
    typeof raw === 'string' && IO_CODES_KEPT.has(raw as FanlogErrorCode) ? (raw as FanlogErrorCode) : (IO_CODE_MAP[String(raw)] ?? 'EIO');
  // Node's message starts with its code ("ENOENT: no such file…"): said once, before the path.
  const detail = raw === code && message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  return new FanlogError(code, `${file}: ${detail}`, { file, cause: error });
}
