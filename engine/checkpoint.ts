/**
 * Filesystem checkpoints in the MetaStore.
 *
 * Keys (each value sealed with a checksum by the store, store/envelope.ts):
 *   fs/checkpoint            JSON { version: 3, seq, journalId, nextIno, nextGen, inodes, pendingFromSeq? }
 *   fs/page/<page, 16 hex>   up to 16 inodes, binary (model/inode-pages.ts)
 *   fs/large/<ino, 16 hex>   an inode too large for its page
 * A header of version 2 (written before pages) has its inodes one per key,
 * as JSON, under fs/inode/<ino, 16 hex> (model/inode.ts): it is loaded as it
 * is, and the next checkpoint writes every page and deletes those keys in
 * the same commit.
 *
 * A checkpoint writes the pages whose inodes changed since the previous one
 * (a page left with no inode is deleted; a large inode is put or deleted on
 * its own) and the header, in one atomic commit, stamped with the seq whose
 * state they capture. Order that makes it sound:
 * the changed inodes are copied synchronously at seq S (no operation can
 * interleave), the journal is made durable through S, and only then is the
 * commit made. Recovery loads the header and every inode, then replays the
 * journal after S. `pendingFromSeq` is the oldest permission request still
 * undecided at S: the journal keeps it and everything after (the purge
 * stops before it), and recovery reads requests and decisions from there.
 * `inodes` is how many inodes the state held at S: loading finds exactly
 * that many, or the store lost keys (ECORRUPT).
 *
 * What a durable checkpoint needs of the journal (`needsFromSeq`): every
 * record from its oldest pending request, or from seq + 1. The engine never
 * purges below it while the checkpoint is the durable one, and open refuses
 * a journal that no longer holds it.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import { FsState } from './model/fs-state.js';
import { decodeInode, type Inode } from './model/inode.js';
import { decodeLarge, decodePage, PAGE_INODES, pageOf, PageWriter } from './model/inode-pages.js';
import { parseVersioned } from '../store/envelope.js';
import type { MetaOp, SealedStore } from '../store/meta-store.js';
import { CHECKPOINT_KEY as HEADER_KEY, INODE_PREFIX, inodeKey, LARGE_PREFIX, largeKey, PAGE_PREFIX, pageKey } from '../store/keys.js';

const CHECKPOINT_VERSION = 3;
/** Header versions read: 2 (an inode per key, JSON), 3 (pages). */
const VERSIONS_READ = [2, CHECKPOINT_VERSION] as const;

interface CheckpointHeader {
  version: number;
  seq: string;
  journalId: string;
  nextIno: number;
  nextGen: number;
  /** How many inodes the state held at `seq`. */
  inodes: number;
  /** The oldest permission request still undecided at `seq`, if any. */
  pendingFromSeq?: string;
}

/** A durable checkpoint as the engine keeps it in mind: what it covers and what it needs of the journal. */
export interface CheckpointBound {
  /** The seq the checkpoint covers; 0n when there is none. */
  seq: bigint;
  /** The first record the checkpoint needs: its oldest pending request, or seq + 1. */
  needsFromSeq: bigint;
}

/** Where the store holds the inodes now: what the next checkpoint must rewrite or delete besides the changed pages. */
export interface CheckpointLayout {
  /** Inodes under version 2 keys (fs/inode/...), which the next checkpoint deletes; null once pages hold them. */
  legacyInos: number[] | null;
  /** Inodes stored under fs/large/... */
  large: Set<number>;
}

export interface LoadedCheckpoint extends CheckpointBound {
  state: FsState;
  layout: CheckpointLayout;
}

/** The layout of a store that holds no inode. */
export function emptyLayout(): CheckpointLayout {
  return { legacyInos: null, large: new Set() };
}

export function checkpointBound(seq: bigint, pendingFromSeq: bigint | undefined): CheckpointBound {
  return { seq, needsFromSeq: pendingFromSeq !== undefined && pendingFromSeq <= seq ? pendingFromSeq : seq + 1n };
}

/**
 * Copies what changed since the last checkpoint, at this instant: the ops
 * to commit. `layout` is brought up to what the ops leave in the store.
 */
export function captureCheckpoint(state: FsState, seq: bigint, journalId: bigint, pendingFromSeq: bigint | undefined, layout: CheckpointLayout): MetaOp[] {
  const ops: MetaOp[] = [];
  const pages = new Set<number>();
  if (layout.legacyInos !== null) {
    for (const ino of layout.legacyInos) ops.push({ type: 'del', key: inodeKey(ino) });
    for (const ino of state.inodes.keys()) pages.add(pageOf(ino));
    layout.legacyInos = null;
  }
  for (const ino of state.dirty) pages.add(pageOf(ino));
  const writer = new PageWriter();
  for (const page of pages) {
    writer.start();
    for (let ino = page * PAGE_INODES; ino < (page + 1) * PAGE_INODES; ino++) capturePageInode(state, ino, writer, layout, ops);
    const value = writer.finish();
    ops.push(value === null ? { type: 'del', key: pageKey(page) } : { type: 'put', key: pageKey(page), value });
  }
  state.dirty.clear();
  const header: CheckpointHeader = {
    version: CHECKPOINT_VERSION,
    seq: seq.toString(),
    journalId: journalId.toString(),
    nextIno: state.nextIno,
    nextGen: state.nextGen,
    inodes: state.inodes.size,
    ...(pendingFromSeq === undefined ? {} : { pendingFromSeq: pendingFromSeq.toString() }),
  };
  // What cannot be: a pending request after the seq the checkpoint covers
  // (its seq was assigned before the capture), or a state without its root.
  if (pendingFromSeq !== undefined && pendingFromSeq > seq) assert.fail(`a pending request ${pendingFromSeq} after the checkpoint's seq ${seq}`);
  assert.ok(state.inodes.size >= 1, 'a filesystem has its root');
  ops.push({ type: 'put', key: HEADER_KEY, value: new TextEncoder().encode(JSON.stringify(header)) });
  return ops;
}

/**
 * Loads the latest checkpoint, checking that it belongs to this journal,
 * that the journal still holds every record it needs, and that the store
 * holds every inode it counted.
 */
export async function loadCheckpoint(store: SealedStore, journal: Journal, time: bigint): Promise<LoadedCheckpoint> {
  const raw = await store.get(HEADER_KEY);
  if (raw === undefined) {
    if (journal.firstSeq > 1n) {
      throw new FanlogError('ECORRUPT', `the journal starts at ${journal.firstSeq} but there is no checkpoint to start from`, { file: journal.dir, offset: 0 });
    }
    return { state: new FsState(time), layout: emptyLayout(), ...checkpointBound(0n, undefined) };
  }
  const header = parseHeader(store, raw);
  const seq = BigInt(header.seq);
  if (BigInt(header.journalId) !== journal.journalId) {
    throw new FanlogError('EJOURNALID', `the checkpoint is of journal ${header.journalId} but the journal is ${journal.journalId}: the journal was recreated`);
  }
  if (seq > journal.headSeq) {
    throw new FanlogError(
      'ECORRUPT',
      `the checkpoint covers seq ${seq} but the journal ends at ${journal.headSeq}: records ${journal.headSeq + 1n}..${seq} are missing`,
      { file: journal.dir, offset: 0 },
    );
  }
  const bound = checkpointBound(seq, header.pendingFromSeq === undefined ? undefined : BigInt(header.pendingFromSeq));
  if (journal.firstSeq > bound.needsFromSeq) {
    throw new FanlogError('ECORRUPT', `records ${bound.needsFromSeq}..${journal.firstSeq - 1n} needed after the checkpoint are missing from the journal`, {
      file: journal.dir,
      offset: 0,
    });
  }
  const state = new FsState(time, false);
  const layout = emptyLayout();
  if (header.version === CHECKPOINT_VERSION) await loadPages(store, state, layout);
  else await loadLegacyInodes(store, state, layout);
  if (state.inodes.size !== header.inodes) {
    const where = header.version === CHECKPOINT_VERSION ? PAGE_PREFIX : INODE_PREFIX;
    throw store.corrupt(where, `the checkpoint at seq ${seq} counted ${header.inodes} inodes, the store holds ${state.inodes.size}`);
  }
  state.nextIno = header.nextIno;
  state.nextGen = header.nextGen;
  state.dirty.clear();
  return { state, layout, ...bound };
}

/** Inode `ino` of a page being written: into the page, or under its own key when large, or nowhere when gone. */
function capturePageInode(state: FsState, ino: number, writer: PageWriter, layout: CheckpointLayout, ops: MetaOp[]): void {
  const inode = state.get(ino);
  const wasLarge = layout.large.has(ino);
  // A large inode that did not change stays as it is stored, unencoded.
  if (inode !== undefined && wasLarge && !state.dirty.has(ino)) return;
  const large = inode === undefined ? null : writer.add(inode);
  if (large !== null) {
    ops.push({ type: 'put', key: largeKey(ino), value: large });
    layout.large.add(ino);
  } else if (wasLarge) {
    ops.push({ type: 'del', key: largeKey(ino) });
    layout.large.delete(ino);
  }
}

/** Loads the inodes of a version 3 checkpoint: its pages, then its large inodes. */
async function loadPages(store: SealedStore, state: FsState, layout: CheckpointLayout): Promise<void> {
  for await (const [key, value] of store.scan(PAGE_PREFIX)) {
    const page = Number.parseInt(key.slice(PAGE_PREFIX.length), 16);
    let previous = -1;
    for (const inode of decodeOrCorrupt(store, key, () => decodePage(value))) {
      if (pageOf(inode.ino) !== page || inode.ino <= previous) throw store.corrupt(key, `holds inode ${inode.ino} out of place`);
      previous = inode.ino;
      state.inodes.set(inode.ino, inode);
    }
  }
  for await (const [key, value] of store.scan(LARGE_PREFIX)) {
    const inode = decodeOrCorrupt(store, key, () => decodeLarge(value));
    if (largeKey(inode.ino) !== key) throw store.corrupt(key, `holds inode ${inode.ino}`);
    if (state.inodes.has(inode.ino)) throw store.corrupt(key, `inode ${inode.ino} is in its page too`);
    state.inodes.set(inode.ino, inode);
    layout.large.add(inode.ino);
  }
}

/** Loads the inodes of a version 2 checkpoint, one per key. */
async function loadLegacyInodes(store: SealedStore, state: FsState, layout: CheckpointLayout): Promise<void> {
  for await (const [key, value] of store.scan(INODE_PREFIX)) {
    const inode = decodeOrCorrupt(store, key, () => decodeInode(value));
    if (inodeKey(inode.ino) !== key) throw store.corrupt(key, `holds inode ${inode.ino}`);
    state.inodes.set(inode.ino, inode);
  }
  layout.legacyInos = [...state.inodes.keys()];
}

function decodeOrCorrupt<T extends Inode | Inode[]>(store: SealedStore, key: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw store.corrupt(key, `inodes undecodable: ${(error as Error).message}`);
  }
}

/** The checkpoint header, if it is one this version reads. */
function parseHeader(store: SealedStore, raw: Uint8Array): CheckpointHeader {
  const header = parseVersioned<CheckpointHeader>(raw, 'checkpoint header', VERSIONS_READ, (what) => store.corrupt(HEADER_KEY, what));
  if (!/^\d+$/.test(header.seq) || !/^\d+$/.test(header.journalId) || !Number.isSafeInteger(header.inodes)) {
    throw store.corrupt(HEADER_KEY, 'checkpoint header fields are malformed');
  }
  return header;
}

/** The checkpoint header's seq and what it needs, for `fanlog verify`; null when there is none. */
export async function readCheckpointBound(store: SealedStore): Promise<(CheckpointBound & { journalId: bigint; inodes: number; version: number }) | null> {
  const raw = await store.get(HEADER_KEY);
  if (raw === undefined) return null;
  const header = parseHeader(store, raw);
  return {
    ...checkpointBound(BigInt(header.seq), header.pendingFromSeq === undefined ? undefined : BigInt(header.pendingFromSeq)),
    journalId: BigInt(header.journalId),
    inodes: header.inodes,
    version: header.version,
  };
}
