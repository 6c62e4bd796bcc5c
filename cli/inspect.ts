/**
 * Inspection without the engine's lock: what `fanlog stat`, `consumers
 * list`, `tail` (without `--consumer`) and `export` show, next to an
 * application that holds the engine, or with none. Nothing here takes the
 * lock or writes: it creates, repairs, checkpoints and purges nothing.
 *
 * What it reads, in this order: the journal's listing (its oldest
 * segment), then the store, then the journal's newest frames. So a cursor
 * read from the store is never behind the oldest record listed (segments
 * are purged only once every cursor is past them), and the head read last
 * is never behind the seq the store saw durable, nor behind a cursor:
 *   store     lmdb only: read from its file, without an LMDB environment
 *             (store/lmdb-reader.ts), for the checkpoint, the high-water
 *             mark (the seq the store last saw the journal durable
 *             through: every store commit writes it, engine/fail-stop-store.ts),
 *             consumers and groups. A level store is locked by its holder,
 *             and a files store is not read beside one; for them the view
 *             is the journal's alone, and says so.
 *   journal   the segment files, through JournalFollower: the journal id,
 *             the first and the last written seq, the segments and their
 *             bytes on disk (the newest's zero tail included: zero-tail.ts;
 *             the holder's metrics count data only). What it sees was
 *             written, not necessarily durable yet.
 *             (The segments and bytes are those listed first; the head
 *             follows the writer to its newest segment.)
 *
 * The durable seq. Only the holder knows how far it has synced: it tells
 * nobody else until its next store commit (an acknowledgement, a
 * configuration change, a checkpoint) writes the high-water mark, and an
 * engine that only appends never does. What a lock-free reader can vouch
 * for is a lower bound: the high-water mark, and the end of every sealed
 * segment (the writer fdatasyncs a segment before it creates the next).
 * When that bound reaches the head, the head is durable; otherwise the
 * durable seq is unknown (null), never a guess, and never 0.
 *
 * Damage. The high-water mark is handed to the follower: a record at or
 * below it that cannot be read is ECORRUPT with the file and offset (the
 * journal was durable past it), as is damage followed by a sound entry
 * (journal/follower.ts); `stat` reports it and a head below the durable
 * seq, and exits 1. A purge that races the read is retried (inspect).
 *
 * What only the holding process knows (queued events, pending permission
 * events, fdatasync latencies, idle times) is in its `engine.metrics()`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type ConsumerInfo, decodeConsumer, type StoredConsumer } from '../consumers/consumer.js';
import { readCheckpointBound } from '../engine/checkpoint.js';
import { holdsEngine, inspectDirectory } from '../engine/engine-dir.js';
import { storedChangelogMask } from '../engine/changelog-mask.js';
import { parseHighWater } from '../engine/fail-stop-store.js';
import { decodeGroup } from '../engine/notify/group-codec.js';
import { decodeRecord } from '../engine/record/codec.js';
import type { RecordView } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import { type FollowerOptions, JournalFollower, type Unfinished } from '../journal/follower.js';
import { lastLockHolder, NodeIo } from '../journal/node-io.js';
import { decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES } from '../journal/segment.js';
import { checkLayout } from './layout.js';
import { CONSUMER_PREFIX, GROUP_PREFIX, HIGH_WATER_KEY } from '../store/keys.js';
import { openMetaStore, type SealedStore, type StoreKind } from '../store/meta-store.js';

/** Damage a lock-free read met: ECORRUPT's file, offset and message. */
export interface Damage {
  file: string;
  offset: number;
  message: string;
}

export interface JournalView {
  dir: string;
  journalId: bigint;
  /** The oldest retained record. */
  firstSeq: bigint;
  /** The last record written and readable (a writer's crash may still cut the newest ones; damage ends it early). */
  headSeq: bigint;
  segments: number;
  bytes: number;
  /** The time (ns) of the last record written; null when there is none. */
  headTime: bigint | null;
  /** The end of every sealed segment: durable, since the writer fdatasyncs a segment before it creates the next. */
  sealedSeq: bigint;
  /** Bytes after the newest segment's last sound entry: a write in progress, or a torn entry the next open cuts. */
  unfinished: Unfinished | null;
  /** Damage the read met: the head is the last record before it. */
  damage: Damage | null;
}

/** A consumer as the lock-free view sees it: what the holder's `info()` gives but its idle time and head, and its lag in time. */
export type ConsumerView = Pick<ConsumerInfo, 'name' | 'cursor' | 'lagRecords' | 'filter' | 'evicted'> & {
  /** How far behind in time: the head record's time minus that of the first record not acknowledged; 0 when caught up; null when that record cannot be read (damage). */
  lagSeconds: number | null;
};

export interface GroupView {
  name: string;
  class: string;
  marks: number;
  evicted: boolean;
}

export interface StoreView {
  /** The latest checkpoint's seq; 0n: none yet (as `engine.checkpointSeq`). */
  checkpointSeq: bigint;
  /** The high-water mark: the seq the store last saw this journal durable through; null when it holds none of this journal. */
  durableSeq: bigint | null;
  /** The changelog mask the store holds (engine/changelog-mask.ts); 'all' when none was set. */
  changelogMask: bigint | 'all';
  consumers: ConsumerView[];
  groups: GroupView[];
}

/** What a lock-free reader can say of the durable seq (see the header). */
export interface DurableView {
  /** The seq known durable: the head when `atLeast` reaches it; null: unknown. */
  seq: bigint | null;
  /** Known durable for sure: the store's high-water mark and the end of the sealed segments, whichever is higher. */
  atLeast: bigint;
}

export interface Inspection {
  dir: string;
  store: StoreKind;
  /** The pid written in the lock file by the engine's last holder (it may have exited). */
  lastHolderPid: number | null;
  journal: JournalView;
  /** Null when this store kind cannot be read beside its holder (see the header). */
  stored: StoreView | null;
  durable: DurableView;
  /** What this view cannot show, in words, for the output. */
  note: string | null;
}

/** How many times an inspection is tried when the writer purges a segment it was reading. */
const PURGE_RACE_TRIES = 8;

/**
 * The lock-free view of `dir`. The writer deletes purged segments at any
 * moment, so a segment listed a moment ago may be gone when it is read:
 * the inspection is then made again from a fresh listing, and after
 * PURGE_RACE_TRIES such races it is EPURGED, never a raw ENOENT.
 */
export async function inspect(dir: string, requested?: StoreKind): Promise<Inspection> {
  checkLayout(dir);
  for (let attempt = 1; ; attempt++) {
    try {
      return await inspectOnce(dir, requested);
    } catch (error) {
      if (!(error instanceof FanlogError && error.code === 'EPURGED')) throw error;
      if (attempt >= PURGE_RACE_TRIES) {
        throw new FanlogError('EPURGED', `the writer purged segments faster than ${dir} could be inspected (${attempt} tries): ${error.message}`, {
          cause: error,
        });
      }
    }
  }
}

/** A segment file's contents or size: a segment deleted since it was listed was purged (EPURGED, which inspect retries). */
function fromSegment<T>(file: string, read: (file: string) => T): T {
  try {
    return read(file);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw new FanlogError('EPURGED', `${file} was purged while it was read`, { file, cause: error });
    throw error;
  }
}

/** The store kind `dir` records; ENOENT when it holds no engine. */
async function engineStore(dir: string, requested?: StoreKind): Promise<StoreKind> {
  const io = new NodeIo();
  if (!(await holdsEngine(io, dir))) throw new FanlogError('ENOENT', `no fanlog engine in ${dir}`, { file: dir });
  return (await inspectDirectory(io, dir, requested)).store;
}

async function inspectOnce(dir: string, requested?: StoreKind): Promise<Inspection> {
  const store = await engineStore(dir, requested);
  const lastHolderPid = lastLockHolder(dir);
  const listing = listJournal(path.join(dir, 'journal'));
  if (store !== 'lmdb') {
    const journal = await journalView(listing, null);
    const why = store === 'level' ? 'LevelDB lets one process open it' : 'it is not read beside a writer';
    const note = `a ${store} store is read only by the process that holds the engine (${why}): this is what the journal alone tells; consumers, groups and the checkpoint are in that process's engine.metrics()`;
    return { dir, store, lastHolderPid, journal, stored: null, durable: durableView(journal, null), note };
  }
  const read = await readLmdbStore(dir);
  const journal = await journalView(listing, read.highWater);
  const durableSeq = read.highWater !== null && read.highWater.journalId === journal.journalId ? read.highWater.seq : null;
  const consumers: ConsumerView[] = [];
  for (const { name, stored } of read.consumers) {
    const cursor = BigInt(stored.cursor);
    const evicted = stored.evicted === null ? null : { fromSeq: BigInt(stored.evicted.fromSeq), toSeq: BigInt(stored.evicted.toSeq) };
    const lagRecords = journal.headSeq > cursor ? journal.headSeq - cursor : 0n;
    consumers.push({ name, cursor, lagRecords, lagSeconds: await lagSeconds(journal, cursor), filter: stored.filter, evicted });
  }
  const stored: StoreView = { checkpointSeq: read.checkpointSeq, durableSeq, changelogMask: read.changelogMask, consumers, groups: read.groups };
  return { dir, store, lastHolderPid, journal, stored, durable: durableView(journal, durableSeq), note: null };
}

function durableView(journal: JournalView, highWater: bigint | null): DurableView {
  const atLeast = highWater !== null && highWater > journal.sealedSeq ? highWater : journal.sealedSeq;
  return { seq: journal.damage === null && atLeast >= journal.headSeq ? journal.headSeq : null, atLeast };
}

interface LmdbRead {
  checkpointSeq: bigint;
  highWater: { journalId: bigint; seq: bigint } | null;
  changelogMask: bigint | 'all';
  consumers: { name: string; stored: StoredConsumer }[];
  groups: GroupView[];
}

/** Opens the lmdb store read-only beside its writer: read from its file, with no LMDB environment that could break the holder's open (store/lmdb-reader.ts). */
function openLmdbBeside(dir: string): Promise<SealedStore> {
  return openMetaStore('lmdb', dir, new NodeIo(), { readOnly: true });
}

/** Everything the view takes from an lmdb store, read before the journal (see the header). */
async function readLmdbStore(dir: string): Promise<LmdbRead> {
  const store = await openLmdbBeside(dir);
  try {
    const checkpoint = await readCheckpointBound(store);
    const mark = await store.get(HIGH_WATER_KEY);
    const changelogMask = (await storedChangelogMask(store)) ?? 'all';
    const consumers: LmdbRead['consumers'] = [];
    for await (const [key, value] of store.scan(CONSUMER_PREFIX)) {
      consumers.push({ name: key.slice(CONSUMER_PREFIX.length), stored: decodeConsumer(value, (what) => store.corrupt(key, what)) });
    }
    const groups: GroupView[] = [];
    for await (const [key, value] of store.scan(GROUP_PREFIX)) {
      const stored = decodeGroup(value, (what) => store.corrupt(key, what));
      groups.push({ name: key.slice(GROUP_PREFIX.length), class: stored.class, marks: stored.marks.length, evicted: stored.evicted ?? false });
    }
    return { checkpointSeq: checkpoint?.seq ?? 0n, highWater: mark === undefined ? null : parseHighWater(store, mark), changelogMask, consumers, groups };
  } finally {
    await store.close();
  }
}

/** The follower's `durable` option from a high-water mark. */
function durableOption(highWater: { journalId: bigint; seq: bigint } | null): FollowerOptions {
  return highWater === null ? {} : { durable: { ...highWater, seenBy: 'the store' } };
}

/** The journal's segments as listed, and its id from the oldest one's header. */
interface JournalListing {
  dir: string;
  segments: { name: string; firstSeq: bigint }[];
  journalId: bigint;
}

/** Lists the journal's segments and reads the oldest one's header: the first facts of a view (see the header). */
function listJournal(dir: string): JournalListing {
  const segments = readdirSync(dir)
    .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
    .filter((segment): segment is { name: string; firstSeq: bigint } => segment.firstSeq !== null)
    .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  if (segments.length === 0) throw new FanlogError('ENOENT', `no journal segments in ${dir}`);
  const oldest = path.join(dir, segments[0]!.name);
  const header = decodeSegmentHeader(fromSegment(oldest, (file) => readFileSync(file)).subarray(0, SEGMENT_HEADER_BYTES));
  if ('damage' in header) throw new FanlogError('ECORRUPT', `${oldest}: ${header.damage}`, { file: oldest, offset: header.offset });
  return { dir, segments, journalId: header.journalId };
}

/** The journal's facts: the listing's, and the frames from the newest segment it listed on (the head, damage). */
async function journalView({ dir, segments, journalId }: JournalListing, highWater: { journalId: bigint; seq: bigint } | null): Promise<JournalView> {
  const newest = segments[segments.length - 1]!;
  let last: { seq: bigint; payload: Uint8Array } | undefined;
  let damage: Damage | null = null;
  const follower = new JournalFollower(new NodeIo(), dir, newest.firstSeq, durableOption(highWater));
  try {
    for (let batch = await follower.poll(); batch.length > 0; batch = await follower.poll()) last = batch[batch.length - 1];
  } catch (error) {
    if (!(error instanceof FanlogError && error.code === 'ECORRUPT' && error.file !== undefined && error.offset !== undefined)) throw error;
    damage = { file: error.file, offset: error.offset, message: error.message };
  }
  return {
    dir,
    journalId,
    firstSeq: segments[0]!.firstSeq,
    headSeq: last?.seq ?? newest.firstSeq - 1n,
    segments: segments.length,
    bytes: segments.reduce((total, segment) => total + fromSegment(path.join(dir, segment.name), (file) => statSync(file).size), 0),
    headTime: last === undefined ? null : decodeRecord(last.payload).time,
    sealedSeq: newest.firstSeq - 1n,
    unfinished: follower.unfinished,
    damage,
  };
}

/** Seconds between the first record after `cursor` and the head record, by their times; 0 when none is waiting; null when damage keeps it from being read. */
async function lagSeconds(journal: JournalView, cursor: bigint): Promise<number | null> {
  if (journal.headTime === null || cursor >= journal.headSeq) return 0;
  const from = cursor + 1n < journal.firstSeq ? journal.firstSeq : cursor + 1n;
  let first: { payload: Uint8Array } | undefined;
  try {
    [first] = await new JournalFollower(new NodeIo(), journal.dir, from).poll();
  } catch (error) {
    // The damage itself is the view's to report (journal.damage, or verify for an older segment).
    if (error instanceof FanlogError && error.code === 'ECORRUPT') return null;
    throw error;
  }
  if (first === undefined) return 0;
  return Math.max(0, Number(journal.headTime - decodeRecord(first.payload).time) / 1e9);
}

/**
 * A follower of the engine's journal for the lock-free readers (`tail`,
 * also `--follow`, and `export`), held to the durable seq the store
 * records where it can be read (lmdb): damage below it is ECORRUPT.
 */
export async function changelogFollower(dir: string, from?: bigint): Promise<JournalFollower> {
  checkLayout(dir);
  const store = await engineStore(dir);
  let highWater: LmdbRead['highWater'] = null;
  if (store === 'lmdb') {
    const lmdb = await openLmdbBeside(dir);
    try {
      const mark = await lmdb.get(HIGH_WATER_KEY);
      if (mark !== undefined) highWater = parseHighWater(lmdb, mark);
    } finally {
      await lmdb.close();
    }
  }
  return new JournalFollower(new NodeIo(), dir, from, durableOption(highWater));
}

/** A record as a lock-free reader gets it. */
export interface ChangelogRecord {
  seq: bigint;
  record: RecordView;
}

/**
 * The changelog from `from` (default the oldest retained record) through
 * `to` (default the last record written), read lock-free: what `tail` and
 * `export` print; reading stops at the first batch that reaches `to`.
 * `visit` gets the records in seq order, a segment's worth at a time.
 * Resolves with the unfinished entry the read ended at, if any (a write in
 * progress, or a torn entry the next open cuts: the caller says so);
 * rejects with ECORRUPT (file and offset) after visiting every record
 * before damage, EPURGED when the records it had to give were purged.
 */
export async function readChangelog(
  dir: string,
  from: bigint | undefined,
  to: bigint | undefined,
  visit: (records: ChangelogRecord[]) => void,
): Promise<Unfinished | null> {
  const follower = await changelogFollower(dir, from);
  for (let batch = await follower.poll(); batch.length > 0; batch = await follower.poll()) {
    visit(batch.map(({ seq, payload }) => ({ seq, record: decodeRecord(payload) })));
    if (to !== undefined && batch[batch.length - 1]!.seq >= to) return null;
  }
  return follower.unfinished;
}

/** What a lock-free reader says of an unfinished entry (on stderr: it is not an error). */
export function unfinishedNote(unfinished: Unfinished): string {
  return `${unfinished.file} ends in an unfinished entry at byte ${unfinished.offset} (a write in progress, or one a crash cut: the next open removes it)`;
}
