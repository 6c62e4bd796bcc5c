/**
 * `fanlog verify`: reads everything an engine directory holds and checks
 * it, changing nothing: every segment and frame of the journal, the
 * marker, and every value of the MetaStore (store-check.ts), against its
 * checksum, its format and the journal. Exit 0 when sound (a torn tail a
 * crash left is a repair the next open makes, not damage), 1 when damaged,
 * naming the file and byte offset, or the store and key, of each damage.
 * A store that is gone, or that holds no high-water mark, beside a journal
 * with records is damage too: opening refuses that engine (ECORRUPT), so
 * verify must not call it sound.
 *
 * How each store is read: lmdb read-only, in place (LMDB lets a reader in
 * beside a writer); files through its own journal, read-only; level, whose
 * open writes, through a copy made while the engine's lock is held (so,
 * while an application has the engine open, the level store is reported as
 * not checked rather than checked half-way).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspectDirectory } from '../engine/engine-dir.js';
import { FanlogError } from '../errors.js';
import { NodeIo } from '../journal/node-io.js';
import { recover, type Recovered } from '../journal/recovery.js';
import { metaStoreDir, openBackend, openMetaStore, SealedStore, STORE_KINDS, type StoreKind } from '../store/meta-store.js';
import { toJson } from './commands.js';
import { checkLayout } from './layout.js';
import { progressBar } from './progress.js';
import { checkStore, type JournalFacts, type StoreCheck } from './store-check.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface Damage {
  file?: string;
  offset?: number;
  key?: string;
  message: string;
}

/** The journal's id, first and head seq, from what recovery read. */
export function journalFacts(dir: string, recovered: Recovered): JournalFacts {
  const first = recovered.segments[0];
  const last = recovered.segments[recovered.segments.length - 1];
  return {
    dir,
    journalId: recovered.journalId ?? 0n,
    firstSeq: first?.firstSeq ?? recovered.purgedThroughSeq + 1n,
    headSeq: last?.lastSeq ?? recovered.purgedThroughSeq,
  };
}

/** Opens the store of `kind` for checking (see the header); null with the reason when it cannot be checked now. */
async function withCheckedStore(dir: string, kind: StoreKind, journal: JournalFacts): Promise<StoreCheck | { skipped: string }> {
  const io = new NodeIo();
  if (kind !== 'level') {
    const store = await openMetaStore(kind, dir, io, { readOnly: true });
    try {
      return await checkStore(store, journal);
    } finally {
      await store.close();
    }
  }
  let lock;
  try {
    lock = await io.lock(dir);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EBUSY') throw error;
    return { skipped: `the engine is open (${(error as Error).message}); run verify when it is closed to check the level store` };
  }
  const copy = mkdtempSync(path.join(tmpdir(), 'fanlog-verify-'));
  try {
    const source = metaStoreDir(dir, kind);
    cpSync(source, copy, { recursive: true, filter: (from) => path.basename(from) !== 'LOCK' });
    const store = new SealedStore(await openBackend(kind, copy, io), `level store ${source}`);
    try {
      return await checkStore(store, journal);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
    await lock.release();
  }
}

/** What one reading of the directory found. */
interface Report {
  damage: Damage[];
  journal: Recovered | null;
  storeFrames: Recovered | null;
  kind: StoreKind | null;
  store: StoreCheck | { skipped: string } | null;
}

/** Readings made while a writer moves the journal, before verify gives up with EAGAIN. */
const MOVING_TRIES = 5;

/**
 * Checks `options.dir` and prints what it found; resolves true when sound.
 * The journal is read before the store, and an engine that runs beside
 * verify may commit to the store, after the journal's read, facts about
 * records that read did not see (a high-water mark, a checkpoint, a
 * cursor beyond its head), or purge segments a checkpoint no longer
 * needs: damage in that reading that is not damage. So the journal's
 * files are looked at before the reading and after it (their names,
 * sizes and mtimes): damage found while they moved is not trusted, and
 * the reading is made again, EAGAIN after MOVING_TRIES. Damage found while
 * they stood still is real: the store commits the high-water mark only
 * after the journal is durable that far, so a journal that did not move
 * through the whole reading held everything the store read of it.
 */
export async function verify(options: { dir: string; json?: boolean }): Promise<boolean> {
  const journalDir = path.join(options.dir, 'journal');
  checkLayout(options.dir);
  if (!existsSync(journalDir)) throw new FanlogError('ENOENT', `no fanlog engine in ${options.dir}`);
  for (let attempt = 1; ; attempt++) {
    const before = journalFiles(options.dir);
    const report = await readAndCheck(options, journalDir);
    if (report.damage.length === 0 || journalFiles(options.dir) === before) return print(options, journalDir, report);
    if (attempt >= MOVING_TRIES) {
      throw new FanlogError(
        'EAGAIN',
        `the journal of ${options.dir} moved under each of ${attempt} readings (an engine is writing): run verify again, or when it is closed (the last reading: ${report.damage[0]!.message})`,
      );
    }
  }
}

/** The journal's segment files (and a files store's): names, sizes and mtimes, as one string to compare. */
function journalFiles(dir: string): string {
  const seen: string[] = [];
  for (const sub of ['journal', ...STORE_KINDS.map((kind) => path.basename(metaStoreDir(dir, kind)))]) {
    const folder = path.join(dir, sub);
    let names: string[];
    try {
      names = readdirSync(folder).filter((name) => name.endsWith('.seg'));
    } catch {
      continue; // none, or not a folder (the lmdb store is a file)
    }
    for (const name of names.sort()) {
      const stats = statSync(path.join(folder, name), { throwIfNoEntry: false, bigint: true });
      seen.push(`${sub}/${name} ${stats === undefined ? 'gone' : `${stats.size} ${stats.mtimeNs}`}`);
    }
  }
  return seen.join('\n');
}

async function readAndCheck(options: { dir: string; json?: boolean }, journalDir: string): Promise<Report> {
  const io = new NodeIo();
  const damage: Damage[] = [];
  const asDamage = (error: unknown): void => {
    if (!(error instanceof FanlogError) || error.code !== 'ECORRUPT') throw error;
    // The file and offset are fields of their own: the message keeps only what is wrong, so that a line names the place once.
    const place = error.file === undefined || error.offset === undefined ? null : `${error.file} at byte ${error.offset}: `;
    let message = error.message.startsWith('ECORRUPT: ') ? error.message.slice('ECORRUPT: '.length) : error.message;
    if (place !== null && message.startsWith(place)) message = message.slice(place.length);
    damage.push({
      message,
      ...(error.file === undefined ? {} : { file: error.file }),
      ...(error.offset === undefined ? {} : { offset: error.offset }),
      ...(error.key === undefined ? {} : { key: error.key }),
    });
  };
  let kind: StoreKind | null = null;
  let marked = false;
  try {
    ({ store: kind, marked } = await inspectDirectory(io, options.dir, undefined));
  } catch (error) {
    asDamage(error);
  }
  const storeDir = kind === null ? null : metaStoreDir(options.dir, kind);
  const filesStore = kind === 'files' && existsSync(storeDir!) ? storeDir : null;
  const progress =
    options.json === true
      ? null
      : progressBar('segments', segmentCount(journalDir) + (filesStore === null ? 0 : segmentCount(filesStore)), { stream: process.stderr, quietOnPipe: true });
  let scanned = 0;
  const onSegment = (): void => progress?.update(++scanned);
  let journal: Recovered | null = null;
  let storeFrames: Recovered | null = null;
  let store: StoreCheck | { skipped: string } | null = null;
  try {
    // Recovery without repairs reads and checks every frame of every segment.
    journal = await recover(io, journalDir, { repair: false, onSegment, trustRecoveryPoint: false });
  } catch (error) {
    asDamage(error);
  }
  try {
    if (filesStore !== null) storeFrames = await recover(io, filesStore, { repair: false, onSegment });
  } catch (error) {
    asDamage(error);
  }
  progress?.stop();
  const facts = journal === null ? null : { ...journalFacts(journalDir, journal), expectMark: marked };
  if (facts !== null && kind !== null && !existsSync(storeDir!) && marked && (facts.headSeq > 0n || facts.firstSeq > 1n)) {
    // Opening refuses a marked engine whose store is gone once its journal holds records (checkHighWater).
    damage.push({
      file: storeDir!,
      message: `the ${kind} store is missing, but the journal holds records up to ${facts.headSeq}: opening the engine fails (ECORRUPT)`,
    });
  }
  if (facts !== null && kind !== null && existsSync(storeDir!) && damage.length === 0) {
    try {
      store = await withCheckedStore(options.dir, kind, facts);
      if ('damage' in store)
        for (const found of store.damage)
          damage.push({ file: metaStoreDir(options.dir, kind), ...(found.key === undefined ? {} : { key: found.key }), message: found.what });
    } catch (error) {
      asDamage(error);
    }
  }
  return { damage, journal, storeFrames, kind, store };
}

/** Prints a reading (text or JSON); true when sound. */
function print(options: { dir: string; json?: boolean }, journalDir: string, { damage, journal, storeFrames, kind, store }: Report): boolean {
  const sound = damage.length === 0;
  const pendingRepairs = [...(journal?.report.repairs ?? []), ...(storeFrames?.report.repairs ?? [])];
  const storeReport =
    store === null
      ? { kind: kind ?? 'unknown', checked: false }
      : 'skipped' in store
        ? { kind, checked: false, why: store.skipped }
        : { kind, checked: true, keys: store.keys };
  if (options.json === true) {
    out(
      toJson({
        sound,
        ...(sound ? {} : damage[0]),
        damage,
        segments: journal?.report.segments ?? 0,
        records: journal?.report.records ?? 0,
        pendingRepairs,
        store: storeReport,
      }),
    );
    return sound;
  }
  if (journal !== null)
    out(
      `journal: ${journal.report.segments} segments, ${journal.report.records} records${damage.some((d) => d.file?.startsWith(journalDir)) ? '' : ', sound'}`,
    );
  if (store !== null && 'skipped' in store) out(`store: ${kind}, not checked: ${store.skipped}`);
  else if (store !== null) out(`store: ${kind}, ${store.keys} keys${store.damage.length === 0 ? ', sound' : `, ${store.damage.length} damaged`}`);
  for (const repair of pendingRepairs) out(`note: the next open will repair ${repair.file} at byte ${repair.offset}: ${repair.what}`);
  for (const found of damage) {
    const where =
      found.key !== undefined
        ? `${found.file ?? 'store'} key '${found.key}'`
        : `${found.file ?? options.dir}${found.offset === undefined ? '' : ` at byte ${found.offset}`}`;
    out(`DAMAGED: ${where}: ${found.message}`);
  }
  out(
    sound
      ? 'sound'
      : `damaged: ${damage.length} problem${damage.length === 1 ? '' : 's'}; \`fanlog repair --rebuild-store\` rebuilds a damaged store from the journal where it can`,
  );
  return sound;
}

function segmentCount(dir: string): number {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.seg')).length : 0;
}
