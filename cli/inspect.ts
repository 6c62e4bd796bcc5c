/**
 * Inspection without the engine's lock: what `fanlog stat`, `consumers
 * list` and `tail` (without `--consumer`) show, next to an application
 * that holds the engine, or with none. Nothing here takes the lock or
 * writes: it creates, repairs, checkpoints and purges nothing.
 *
 * What it reads:
 *   journal   the segment files, as `tail --follow` does (JournalFollower):
 *             the journal id, the first and the last written seq, the
 *             segments and their bytes. What it sees was written, not
 *             necessarily durable yet.
 *   store     lmdb only: opened read-only from this process (lmdb's readers
 *             run beside its writer), for the checkpoint, the seq the store
 *             saw durable, consumers and groups. A level store is locked by
 *             its holder, and a files store is not read beside one; for
 *             them the view is the journal's alone, and says so.
 * What only the holding process knows (queued events, pending permission
 * events, fdatasync latencies, idle times) is in its `engine.metrics()`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type ConsumerInfo, decodeConsumer } from '../consumers/consumer.js';
import { readCheckpointBound } from '../engine/checkpoint.js';
import { inspectDirectory } from '../engine/engine-dir.js';
import { parseHighWater } from '../engine/fail-stop-store.js';
import { decodeGroup } from '../engine/notify/group-codec.js';
import { decodeRecord } from '../engine/record/codec.js';
import type { RecordView } from '../engine/record/record.js';
import { FanlogError } from '../errors.js';
import { JournalFollower } from '../journal/follower.js';
import { lastLockHolder, NodeIo } from '../journal/node-io.js';
import { decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES } from '../journal/segment.js';
import { CONSUMER_PREFIX, GROUP_PREFIX, HIGH_WATER_KEY } from '../store/keys.js';
import { openMetaStore, type SealedStore, type StoreKind } from '../store/meta-store.js';

export interface JournalView {
  dir: string;
  journalId: bigint;
  /** The oldest retained record. */
  firstSeq: bigint;
  /** The last record written (a writer's crash may still cut the newest ones). */
  headSeq: bigint;
  segments: number;
  bytes: number;
  /** The time (ns) of the last record written; null when there is none. */
  headTime: bigint | null;
}

/** A consumer as the lock-free view sees it: what the holder's `info()` gives but its idle time and head, and its lag in time. */
export type ConsumerView = Pick<ConsumerInfo, 'name' | 'cursor' | 'lagRecords' | 'filter' | 'evicted'> & {
  /** How far behind in time: the head record's time minus that of the first record not acknowledged; 0 when caught up. */
  lagSeconds: number;
};

export interface GroupView {
  name: string;
  class: string;
  marks: number;
  evicted: boolean;
}

export interface StoreView {
  checkpointSeq: bigint;
  /** The seq the store last saw the journal durable through. */
  durableSeq: bigint | null;
  consumers: ConsumerView[];
  groups: GroupView[];
}

export interface Inspection {
  dir: string;
  store: StoreKind;
  /** The pid written in the lock file by the engine's last holder (it may have exited). */
  lastHolderPid: number | null;
  journal: JournalView;
  /** Null when this store kind cannot be read beside its holder (see the header). */
  stored: StoreView | null;
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
  for (let attempt = 1; ; attempt++) {
    try {
      return await inspectOnce(dir, requested);
    } catch (error) {
      if (!(error instanceof FanlogError && error.code === 'EPURGED')) throw error;
      if (attempt >= PURGE_RACE_TRIES) {
        throw new FanlogError('EPURGED', `the writer purged segments faster than ${dir} could be inspected (${attempt} tries): ${error.message}`, { cause: error });
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

async function inspectOnce(dir: string, requested?: StoreKind): Promise<Inspection> {
  const io = new NodeIo();
  if (!existsSync(dir)) throw new FanlogError('ENOENT', `no fanlog engine in ${dir}`);
  const found = await inspectDirectory(io, dir, requested);
  if (found.fresh) throw new FanlogError('ENOENT', `no fanlog engine in ${dir}`);
  const journal = await journalView(path.join(dir, 'journal'));
  const lastHolderPid = lastLockHolder(dir);
  if (found.store !== 'lmdb') {
    const why = found.store === 'level' ? 'LevelDB lets one process open it' : 'it is not read beside a writer';
    const note = `a ${found.store} store is read only by the process that holds the engine (${why}): this is what the journal alone tells; consumers, groups and the checkpoint are in that process's engine.metrics()`;
    return { dir, store: found.store, lastHolderPid, journal, stored: null, note };
  }
  const store = await openMetaStore('lmdb', dir, io, { readOnly: true });
  try {
    return { dir, store: 'lmdb', lastHolderPid, journal, stored: await storeView(store, journal), note: null };
  } finally {
    await store.close();
  }
}

/** The journal's facts from its files: the oldest segment's header, and the frames of the newest. */
async function journalView(dir: string): Promise<JournalView> {
  const segments = readdirSync(dir)
    .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
    .filter((segment): segment is { name: string; firstSeq: bigint } => segment.firstSeq !== null)
    .sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
  if (segments.length === 0) throw new FanlogError('ENOENT', `no journal segments in ${dir}`);
  const header = decodeSegmentHeader(fromSegment(path.join(dir, segments[0]!.name), (file) => readFileSync(file)).subarray(0, SEGMENT_HEADER_BYTES));
  if ('damage' in header) throw new FanlogError('ECORRUPT', `${path.join(dir, segments[0]!.name)}: ${header.damage}`, { file: path.join(dir, segments[0]!.name), offset: header.offset });
  const newest = segments[segments.length - 1]!;
  let last: { seq: bigint; payload: Uint8Array } | undefined;
  const follower = new JournalFollower(new NodeIo(), dir, newest.firstSeq);
  for (let batch = await follower.poll(); batch.length > 0; batch = await follower.poll()) last = batch[batch.length - 1];
  return {
    dir,
    journalId: header.journalId,
    firstSeq: segments[0]!.firstSeq,
    headSeq: last?.seq ?? newest.firstSeq - 1n,
    segments: segments.length,
    bytes: segments.reduce((total, segment) => total + fromSegment(path.join(dir, segment.name), (file) => statSync(file).size), 0),
    headTime: last === undefined ? null : decodeRecord(last.payload).time,
  };
}

async function storeView(store: SealedStore, journal: JournalView): Promise<StoreView> {
  const checkpoint = await readCheckpointBound(store);
  const mark = await store.get(HIGH_WATER_KEY);
  const consumers: ConsumerView[] = [];
  for await (const [key, value] of store.scan(CONSUMER_PREFIX)) {
    const stored = decodeConsumer(value, (what) => store.corrupt(key, what));
    const cursor = BigInt(stored.cursor);
    const evicted = stored.evicted === null ? null : { fromSeq: BigInt(stored.evicted.fromSeq), toSeq: BigInt(stored.evicted.toSeq) };
    const lagRecords = journal.headSeq > cursor ? journal.headSeq - cursor : 0n;
    consumers.push({ name: key.slice(CONSUMER_PREFIX.length), cursor, lagRecords, lagSeconds: await lagSeconds(journal, cursor), filter: stored.filter, evicted });
  }
  const groups: GroupView[] = [];
  for await (const [key, value] of store.scan(GROUP_PREFIX)) {
    const stored = decodeGroup(value, (what) => store.corrupt(key, what));
    groups.push({ name: key.slice(GROUP_PREFIX.length), class: stored.class, marks: stored.marks.length, evicted: stored.evicted ?? false });
  }
  return { checkpointSeq: checkpoint?.seq ?? 0n, durableSeq: mark === undefined ? null : parseHighWater(store, mark).seq, consumers, groups };
}

/** Seconds between the first record after `cursor` and the head record, by their times; 0 when none is waiting. */
async function lagSeconds(journal: JournalView, cursor: bigint): Promise<number> {
  if (journal.headTime === null || cursor >= journal.headSeq) return 0;
  const from = cursor + 1n < journal.firstSeq ? journal.firstSeq : cursor + 1n;
  const [first] = await new JournalFollower(new NodeIo(), journal.dir, from).poll();
  if (first === undefined) return 0;
  return Math.max(0, Number(journal.headTime - decodeRecord(first.payload).time) / 1e9);
}

/** A follower of the engine's journal for the lock-free readers: `tail` (also `--follow`) and `export`. */
export async function changelogFollower(dir: string, from?: bigint): Promise<JournalFollower> {
  if (!existsSync(path.join(dir, 'journal'))) throw new FanlogError('ENOENT', `no fanlog engine in ${dir}`);
  return new JournalFollower(new NodeIo(), dir, from);
}

/** A record as a lock-free reader gets it. */
export interface ChangelogRecord {
  seq: bigint;
  record: RecordView;
}

/**
 * The changelog from `from` (default the oldest retained record) through
 * the last record written, read lock-free: what `tail` and `export` print.
 * `visit` gets the records in seq order, a segment's worth at a time.
 */
export async function readChangelog(dir: string, from: bigint | undefined, visit: (records: ChangelogRecord[]) => void): Promise<void> {
  const follower = await changelogFollower(dir, from);
  for (let batch = await follower.poll(); batch.length > 0; batch = await follower.poll()) {
    visit(batch.map(({ seq, payload }) => ({ seq, record: decodeRecord(payload) })));
  }
}
