/**
 * Filesystem checkpoints in the MetaStore.
 *
 * Keys:
 *   fs/checkpoint            JSON { version, seq, journalId, nextIno, nextGen, pendingFromSeq? }
 *   fs/inode/<ino, 16 hex>   an inode (inode.ts encoding)
 *
 * A checkpoint writes the inodes changed since the previous one (puts, and
 * deletes for inodes that are gone) and the header, in one atomic commit,
 * stamped with the seq whose state they capture. Order that makes it sound:
 * the changed inodes are copied synchronously at seq S (no operation can
 * interleave), the journal is made durable through S, and only then is the
 * commit made. Recovery loads the header and every inode, then replays the
 * journal after S. `pendingFromSeq` is the oldest permission request still
 * undecided at S: the journal keeps it and everything after (the purge
 * stops before it), and recovery reads requests and decisions from there.
 */
import { FanlogError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import { FsState } from './fs-state.js';
import { decodeInode, encodeInode } from './inode.js';
import type { MetaOp, MetaStore } from './meta-store.js';

const HEADER_KEY = 'fs/checkpoint';
const INODE_PREFIX = 'fs/inode/';
const CHECKPOINT_VERSION = 1;

interface CheckpointHeader {
  version: number;
  seq: string;
  journalId: string;
  nextIno: number;
  nextGen: number;
  /** The oldest permission request still undecided at `seq`, if any. */
  pendingFromSeq?: string;
}

export interface LoadedCheckpoint {
  state: FsState;
  /** The seq the checkpoint covers; 0n when there was none. */
  seq: bigint;
  /** The oldest permission request undecided at `seq`: recovery reads requests from there. */
  pendingFromSeq?: bigint;
}

const inodeKey = (ino: number): string => INODE_PREFIX + ino.toString(16).padStart(16, '0');

/** Copies what changed since the last checkpoint, at this instant: the ops to commit. */
export function captureCheckpoint(state: FsState, seq: bigint, journalId: bigint, pendingFromSeq: bigint | undefined): MetaOp[] {
  const ops: MetaOp[] = [];
  for (const ino of state.dirty) {
    const inode = state.get(ino);
    ops.push(inode === undefined ? { type: 'del', key: inodeKey(ino) } : { type: 'put', key: inodeKey(ino), value: encodeInode(inode) });
  }
  state.dirty.clear();
  const header: CheckpointHeader = {
    version: CHECKPOINT_VERSION,
    seq: seq.toString(),
    journalId: journalId.toString(),
    nextIno: state.nextIno,
    nextGen: state.nextGen,
    ...(pendingFromSeq === undefined ? {} : { pendingFromSeq: pendingFromSeq.toString() }),
  };
  ops.push({ type: 'put', key: HEADER_KEY, value: new TextEncoder().encode(JSON.stringify(header)) });
  return ops;
}

/**
 * Loads the latest checkpoint, checking that it belongs to this journal and
 * that the journal still holds every record after it.
 */
export async function loadCheckpoint(store: MetaStore, journal: Journal, time: bigint): Promise<LoadedCheckpoint> {
  const raw = await store.get(HEADER_KEY);
  if (raw === undefined) {
    if (journal.firstSeq > 1n) {
      throw new FanlogError('ECORRUPT', `the journal starts at ${journal.firstSeq} but there is no checkpoint to start from`, { file: journal.dir, offset: 0 });
    }
    return { state: new FsState(time), seq: 0n };
  }
  const header = JSON.parse(new TextDecoder().decode(raw)) as CheckpointHeader;
  if (header.version !== CHECKPOINT_VERSION) throw new FanlogError('ECORRUPT', `checkpoint version ${header.version} unknown`);
  const seq = BigInt(header.seq);
  if (BigInt(header.journalId) !== journal.journalId) {
    throw new FanlogError('EJOURNALID', `the checkpoint is of journal ${header.journalId} but the journal is ${journal.journalId}: the journal was recreated`);
  }
  if (seq > journal.headSeq) {
    throw new FanlogError('ECORRUPT', `the checkpoint covers seq ${seq} but the journal ends at ${journal.headSeq}`, { file: journal.dir, offset: 0 });
  }
  const pendingFromSeq = header.pendingFromSeq === undefined ? undefined : BigInt(header.pendingFromSeq);
  const needed = pendingFromSeq !== undefined && pendingFromSeq <= seq ? pendingFromSeq : seq + 1n;
  if (journal.firstSeq > needed) {
    throw new FanlogError('ECORRUPT', `records ${needed}..${journal.firstSeq - 1n} needed after the checkpoint are missing from the journal`, { file: journal.dir, offset: 0 });
  }
  const state = new FsState(time, false);
  for await (const [, value] of store.scan(INODE_PREFIX)) {
    const inode = decodeInode(value);
    state.inodes.set(inode.ino, inode);
  }
  state.nextIno = header.nextIno;
  state.nextGen = header.nextGen;
  state.dirty.clear();
  return { state, seq, ...(pendingFromSeq === undefined ? {} : { pendingFromSeq }) };
}
