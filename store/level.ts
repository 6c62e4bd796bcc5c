/**
 * MetaStore on LevelDB (`level`, which is classic-level in Node). A commit
 * is one `batch` with `sync: true`.
 *
 * LevelDB reports failures as status strings, so this is the one place in
 * fanlog that reads an error's text: `LEVEL_CORRUPTION` is ECORRUPT, and an
 * I/O error whose message says the device is full is ENOSPC (LevelDB puts
 * strerror(ENOSPC) in it); every other I/O error is EIO.
 *
 * LevelDB without `paranoid_checks` (which classic-level does not expose)
 * drops a damaged record of its write-ahead log on open and carries on, so
 * its logs are checked before it opens them (level-files.ts); and after
 * opening, its info log is read too: a line "... dropping N bytes;
 * Corruption: ..." that the check did not foresee is ECORRUPT all the same.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { corrupt, FanlogError, fromIoError } from '../errors.js';
import { checkLevelFiles } from './level-files.js';
import type { MetaOp, MetaStore, StoreOpenOptions } from './meta-store.js';
import { plainBytes, prefixEnd } from './meta-store.js';

export class LevelMetaStore implements MetaStore {
  readonly #db: Level<string, Uint8Array>;
  readonly #dir: string;
  readonly #readOnly: boolean;

  private constructor(db: Level<string, Uint8Array>, dir: string, readOnly: boolean) {
    this.#db = db;
    this.#dir = dir;
    this.#readOnly = readOnly;
  }

  static async open(dir: string, { readOnly = false, create = !readOnly }: StoreOpenOptions = {}): Promise<LevelMetaStore> {
    if (readOnly || !create) await fsp.access(path.join(dir, 'CURRENT')).catch((error: unknown) => Promise.reject(fromIoError(error, dir)));
    await checkLevelFiles(dir);
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view', createIfMissing: create && !readOnly });
    try {
      await db.open();
    } catch (error) {
      throw levelError((error as { cause?: unknown }).cause ?? error, dir);
    }
    try {
      await checkInfoLog(dir);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return new LevelMetaStore(db, dir, readOnly);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const value = await this.#db.get(key);
      return value === undefined ? undefined : plainBytes(value);
    } catch (error) {
      throw levelError(error, this.#dir);
    }
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    try {
      for await (const [key, value] of this.#db.iterator({ gte: prefix, lt: prefixEnd(prefix) })) yield [key, plainBytes(value)];
    } catch (error) {
      throw levelError(error, this.#dir);
    }
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    if (this.#readOnly) throw new FanlogError('EROFS', `${this.#dir} was opened read-only`);
    try {
      await this.#db.batch(
        ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })),
        { sync: true },
      );
    } catch (error) {
      throw levelError(error, this.#dir);
    }
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

/** A LevelDB error as a FanlogError: see the header. */
function levelError(error: unknown, dir: string): FanlogError {
  if (error instanceof FanlogError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'LEVEL_CORRUPTION' || /\bCorruption:/.test(message)) {
    return new FanlogError('ECORRUPT', `level store ${dir}: ${message}`, { file: dir, cause: error });
  }
  if (/No space left on device|Disk quota exceeded/.test(message)) {
    return new FanlogError('ENOSPC', `level store ${dir}: ${message}`, { file: dir, cause: error });
  }
  return fromIoError(error, dir);
}

/** ECORRUPT if LevelDB's info log says this open dropped damaged log records (see the header). */
async function checkInfoLog(dir: string): Promise<void> {
  const logFile = path.join(dir, 'LOG');
  const log = await fsp.readFile(logFile, 'utf8').catch(() => '');
  const dropped = /^.*dropping \d+ bytes; Corruption:.*$/m.exec(log);
  if (dropped !== null) {
    throw corrupt(logFile, log.indexOf(dropped[0]), `LevelDB dropped damaged records of its log on open: ${dropped[0].trim()}`);
  }
}
