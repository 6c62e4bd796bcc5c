/**
 * TraceIo: an `Io` that passes every call to the `Io` below it and keeps a
 * trace of what the engine did to its journal, for the crash campaign's
 * model (history.ts). It is the write trace RocksDB's crash tests check a
 * recovered database against: whatever the engine code believes, the bytes
 * it handed to the disk are recorded here, independently.
 *
 * - The bytes of every segment file of the engine journal are mirrored from the writes
 *   and truncations that succeeded, and kept after the file is unlinked, so
 *   records a purge deleted are still known to the model.
 * - After a write or fsync failed (but ENOSPC on the zeros a segment is
 *   written ahead with, past its data, which the journal goes on without:
 *   zero-tail.ts), any fsync of a segment that starts once
 *   the engine knows it failed (`engineFailed`), and succeeds before the
 *   engine is reopened, is noted: invariant 7 says a failed engine never
 *   retries an fsync and carries on. (A store write fails on its own file;
 *   the engine learns it when the commit's promise rejects, and until then
 *   the journal may sync what it had under way, which retries nothing.)
 *
 * After a simulated power cut the mirrors are reset to the bytes that
 * survived (`resync`), so that the next epoch's writes land where the
 * engine puts them.
 */
import type { Io, IoFile, IoLock, IoOpenMode } from '../journal/io.js';

/** The engine journal's segments (the files store keeps a journal of its own, in meta-files/). */
const SEGMENT = /\/journal\/\d{20}\.seg$/;

export class TraceIo implements Io {
  /** Segment path -> mirrored bytes (live files and unlinked ones). */
  readonly segments = new Map<string, Uint8Array>();
  /** Segments the engine deleted (purged): their mirrors stay. */
  readonly #unlinked = new Set<string>();
  /** Set when a write or fsync failed; cleared by `reopened`. */
  failure: { code: string; op: string; path: string } | null = null;
  /** Successful fsyncs after a failure, before a reopen: each one a violation of invariant 7. */
  readonly syncsAfterFailure: string[] = [];
  /** Whether the engine knows it failed; set by the campaign. */
  engineFailed: () => boolean = () => true;

  readonly #inner: Io;
  constructor(inner: Io) {
    this.#inner = inner;
  }

  mkdirp(dir: string): Promise<void> {
    return this.#watch('mkdirp', dir, () => this.#inner.mkdirp(dir));
  }

  readdir(dir: string): Promise<string[]> {
    return this.#inner.readdir(dir);
  }

  async open(path: string, mode: IoOpenMode): Promise<IoFile> {
    const file = await this.#watch('open', path, () => this.#inner.open(path, mode));
    if (!SEGMENT.test(path)) return this.#wrap(file, null);
    if (mode === 'create' || !this.segments.has(path)) this.segments.set(path, new Uint8Array(0));
    return this.#wrap(file, path);
  }

  async unlink(path: string): Promise<void> {
    await this.#watch('unlink', path, () => this.#inner.unlink(path));
    if (this.segments.has(path)) this.#unlinked.add(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.#watch('rename', from, () => this.#inner.rename(from, to));
  }

  syncDir(dir: string): Promise<void> {
    return this.#watch('syncDir', dir, () => this.#inner.syncDir(dir));
  }

  lock(dir: string): Promise<IoLock> {
    return this.#inner.lock(dir);
  }

  /** The engine was reopened: a fresh start for invariant 7. */
  reopened(): void {
    this.failure = null;
  }

  /**
   * After a power cut: each mirror becomes the bytes that survived; a
   * segment whose creation did not survive is forgotten, a purged one kept.
   */
  resync(survivingBytes: (path: string) => Uint8Array | null): void {
    for (const path of [...this.segments.keys()]) {
      const bytes = survivingBytes(path);
      if (bytes !== null) this.segments.set(path, bytes);
      else if (!this.#unlinked.has(path)) this.segments.delete(path);
    }
    this.failure = null;
  }

  async #watch<T>(op: string, path: string, call: () => Promise<T>, zerosAhead = false): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const code = (error as { code?: string }).code;
      // ENOSPC on zeros written past a segment's data (the zero tail) is no failure: the journal goes on without them (zero-tail.ts).
      if (code === 'ENOSPC' && zerosAhead) throw error;
      if ((code === 'EIO' || code === 'ENOSPC') && this.failure === null) this.failure = { code, op, path };
      throw error;
    }
  }

  #wrap(file: IoFile, segment: string | null): IoFile {
    const segments = this.segments;
    const mirror = (change: (bytes: Uint8Array) => Uint8Array): void => {
      if (segment !== null) segments.set(segment, change(segments.get(segment)!));
    };
    return {
      path: file.path,
      size: () => file.size(),
      read: (buffer, position) => file.read(buffer, position),
      write: async (data, position) => {
        const zerosAhead = segment !== null && position >= segments.get(segment)!.length && data.every((byte) => byte === 0);
        await this.#watch('write', file.path, () => file.write(data, position), zerosAhead);
        mirror((bytes) => {
          const grown = bytes.length >= position + data.length ? bytes : resized(bytes, position + data.length);
          grown.set(data, position);
          return grown;
        });
      },
      truncate: async (length) => {
        await this.#watch('truncate', file.path, () => file.truncate(length));
        mirror((bytes) => resized(bytes, length));
      },
      datasync: async () => {
        // Only a sync that starts after the engine knew of a failure is one it should not have made.
        const failure = this.failure !== null && this.engineFailed() ? this.failure : null;
        await this.#watch('datasync', file.path, () => file.datasync());
        if (failure !== null && segment !== null)
          this.syncsAfterFailure.push(`datasync ${file.path} after ${failure.op} of ${failure.path} failed with ${failure.code}`);
      },
      close: () => file.close(),
    };
  }
}

function resized(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, Math.min(length, bytes.length)));
  return out;
}
