/**
 * The engine directory and its marker file.
 *
 * Layout of an engine directory:
 *
 *   <dir>/FANLOG          the marker: what this directory is, and which store it uses
 *   <dir>/LOCK            the engine's lock (Io.lock): one holder at a time
 *   <dir>/journal/        the journal
 *   <dir>/meta-<store>/   the MetaStore of the kind the marker names
 *   <dir>/WATCH           the last watch of a real filesystem's changelog (kernel/watch-state.ts)
 *   <dir>/WATCH.lock      the lock its watcher holds while it watches
 *
 * The marker is written once, when the engine is created, before anything
 * else, so that a directory is recognised as an engine before any data goes
 * in, and so that opening it with another store kind (which would find an
 * empty store beside a full journal, and purge under live consumers) is
 * refused. Its bytes: the 8-byte magic "FANLOGE\n", then a sealed value
 * (store/envelope.ts, key "FANLOG") whose payload is JSON
 * `{ "version": 1, "store": "lmdb" }`. It is written to `FANLOG.tmp`,
 * fdatasynced, renamed over `FANLOG`, and the directory fsynced, so it is
 * whole or absent after any crash. A marker that fails its checksum is
 * ECORRUPT.
 *
 * Directories made before the marker existed (journal segments and no
 * marker) are adopted: the store kind is the one `meta-*` directory present, and
 * the marker is written on the first open that may write.
 *
 * An open makes the marker, then the journal, then the store, so a store
 * that holds anything with no `journal/` beside it means the journal was
 * taken away: the open is ENOENT naming it, before anything is made (a new
 * journal made there would stand beside a store of the old one, EJOURNALID
 * at every open after, and read as the engine's to the lock-free
 * commands). An empty store directory (one made, or mounted, for the store
 * before the first open; `lost+found` aside) is no sign of a journal.
 */
import path from 'node:path';
import { corrupt, FanlogError, invalid } from '../errors.js';
import { type Io, replaceFile } from '../journal/io.js';
import { envelopeDamage, parseVersioned, seal, ENVELOPE_BYTES } from '../store/envelope.js';
import { metaStoreDir, STORE_KINDS, type StoreKind } from '../store/meta-store.js';

export const MARKER_NAME = 'FANLOG';
const MAGIC = new TextEncoder().encode('FANLOGE\n');
const MARKER_VERSION = 1;

interface MarkerPayload {
  version: number;
  store: StoreKind;
}

async function exists(io: Io, dir: string, name: string): Promise<boolean> {
  try {
    return (await io.readdir(dir)).includes(name);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT' || (error as { code?: string }).code === 'ENOTDIR') return false;
    throw error;
  }
}

/** Whether `dir` lists anything but a filesystem's `lost+found`; false when it cannot be listed (the store's open says why). */
async function holdsEntries(io: Io, dir: string): Promise<boolean> {
  try {
    return (await io.readdir(dir)).some((name) => name !== 'lost+found');
  } catch {
    return false;
  }
}

async function readWhole(io: Io, file: string): Promise<Uint8Array> {
  const handle = await io.open(file, 'read');
  try {
    const bytes = new Uint8Array(await handle.size());
    await handle.read(bytes, 0);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** The store kind the marker of `dir` records, or null when there is no marker. ECORRUPT when it is damaged. */
export async function readMarker(io: Io, dir: string): Promise<StoreKind | null> {
  if (!(await exists(io, dir, MARKER_NAME))) return null;
  const file = path.join(dir, MARKER_NAME);
  const bytes = await readWhole(io, file);
  if (bytes.length < MAGIC.length + ENVELOPE_BYTES || !MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw corrupt(file, 0, 'not a fanlog engine marker (bad magic)');
  }
  const sealed = bytes.subarray(MAGIC.length);
  const damage = envelopeDamage(MARKER_NAME, sealed);
  if (damage !== null) throw corrupt(file, MAGIC.length, damage);
  const payload = parseVersioned<MarkerPayload>(sealed.subarray(ENVELOPE_BYTES), 'marker', MARKER_VERSION, (what) =>
    corrupt(file, MAGIC.length + ENVELOPE_BYTES, what),
  );
  if (!STORE_KINDS.includes(payload.store)) throw corrupt(file, MAGIC.length + ENVELOPE_BYTES, `marker names an unknown store '${String(payload.store)}'`);
  return payload.store;
}

/** Writes the marker of `dir` durably and atomically (journal/io.ts `replaceFile`, the order the header gives). */
export async function writeMarker(io: Io, dir: string, store: StoreKind): Promise<void> {
  const payload: MarkerPayload = { version: MARKER_VERSION, store };
  const sealed = seal(MARKER_NAME, new TextEncoder().encode(JSON.stringify(payload)));
  const bytes = new Uint8Array(MAGIC.length + sealed.length);
  bytes.set(MAGIC, 0);
  bytes.set(sealed, MAGIC.length);
  await replaceFile(io, dir, MARKER_NAME, bytes);
}

/**
 * Whether `dir` holds an engine: its marker, or (an engine made before
 * markers) a journal segment. What the CLI's commands check before they
 * open one, so that none makes an engine where the user had none.
 */
export async function holdsEngine(io: Io, dir: string): Promise<boolean> {
  if (await exists(io, dir, MARKER_NAME)) return true;
  if (!(await exists(io, dir, 'journal'))) return false;
  try {
    return (await io.readdir(path.join(dir, 'journal'))).some((name) => name.endsWith('.seg'));
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOTDIR') return false;
    throw error;
  }
}

/** What `Engine.open` found in `dir`: the store kind to use, and whether the marker must be written. */
export interface EngineDirectory {
  store: StoreKind;
  /** False for a new directory or one made before markers: the marker is still to be written. */
  marked: boolean;
  /** True when the directory holds no engine yet. */
  fresh: boolean;
}

/**
 * Decides which store `dir` uses: the marker's kind (EINVAL if `requested`
 * differs), else the one `meta-*` directory of an engine made before
 * markers, else `requested` or lmdb for a new engine.
 */
export async function inspectDirectory(io: Io, dir: string, requested: StoreKind | undefined): Promise<EngineDirectory> {
  const marked = await readMarker(io, dir);
  const stores: StoreKind[] = [];
  for (const kind of STORE_KINDS) if (await exists(io, dir, path.basename(metaStoreDir(dir, kind)))) stores.push(kind);
  const journal = path.join(dir, 'journal');
  if (stores.length > 0 && !(await exists(io, dir, 'journal'))) {
    for (const kind of stores) {
      const storeDir = metaStoreDir(dir, kind);
      if (await holdsEntries(io, storeDir))
        throw new FanlogError(
          'ENOENT',
          `${journal}: the engine's journal is gone (its store ${storeDir} is there): nothing was opened, and no journal made in its place`,
          { file: journal },
        );
    }
  }
  if (marked !== null) {
    if (requested !== undefined && requested !== marked) {
      throw invalid(`${dir} is an engine with a '${marked}' store; it cannot be opened with store '${requested}' (leave 'store' out to use the recorded one)`);
    }
    return { store: marked, marked: true, fresh: false };
  }
  const hasJournal = (await exists(io, dir, 'journal')) && (await io.readdir(journal)).some((name) => name.endsWith('.seg'));
  if (!hasJournal && stores.length === 0) return { store: requested ?? 'lmdb', marked: false, fresh: true };
  if (stores.length > 1 && requested === undefined) {
    throw new FanlogError('EINVAL', `${dir} holds stores of several kinds (${stores.join(', ')}) and no marker says which is the engine's: pass 'store'`);
  }
  const store = requested ?? stores[0] ?? 'lmdb';
  if (stores.length === 1 && stores[0] !== store) {
    throw invalid(`${dir} is an engine with a '${stores[0]}' store; it cannot be opened with store '${store}'`);
  }
  return { store, marked: false, fresh: false };
}
