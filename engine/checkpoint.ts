/**
 * Filesystem checkpoints in the MetaStore.
 *
 * Keys (each value sealed with a checksum by the store, store/envelope.ts):
 *   fs/checkpoint            JSON { version: 2, seq, journalId, nextIno, nextGen, inodes, pendingFromSeq? }
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
import { FsState } from './fs/fs-state.js';
import { decodeInode, encodeInode } from './fs/inode.js';
import { parseVersioned } from '../store/envelope.js';
import type { MetaOp, SealedStore } from '../store/meta-store.js';

import { CHECKPOINT_KEY as HEADER_KEY, INODE_PREFIX, inodeKey } from '../store/keys.js';
const CHECKPOINT_VERSION = 2;

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

export interface LoadedCheckpoint extends CheckpointBound {
  state: FsState;
}

export function checkpointBound(seq: bigint, pendingFromSeq: bigint | undefined): CheckpointBound {
  return { seq, needsFromSeq: pendingFromSeq !== undefined && pendingFromSeq <= seq ? pendingFromSeq : seq + 1n };
}


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
    return { state: new FsState(time), ...checkpointBound(0n, undefined) };
  }
  const header = parseHeader(store, raw);
  const seq = BigInt(header.seq);
  if (BigInt(header.journalId) !== journal.journalId) {
    throw new FanlogError('EJOURNALID', `the checkpoint is of journal ${header.journalId} but the journal is ${journal.journalId}: the journal was recreated`);
  }
  if (seq > journal.headSeq) {
    throw new FanlogError('ECORRUPT', `the checkpoint covers seq ${seq} but the journal ends at ${journal.headSeq}: records ${journal.headSeq + 1n}..${seq} are missing`, { file: journal.dir, offset: 0 });
  }
  const bound = checkpointBound(seq, header.pendingFromSeq === undefined ? undefined : BigInt(header.pendingFromSeq));
  if (journal.firstSeq > bound.needsFromSeq) {
    throw new FanlogError('ECORRUPT', `records ${bound.needsFromSeq}..${journal.firstSeq - 1n} needed after the checkpoint are missing from the journal`, { file: journal.dir, offset: 0 });
  }
  const state = new FsState(time, false);
  for await (const [key, value] of store.scan(INODE_PREFIX)) {
    let inode;
    try {
      inode = decodeInode(value);
    } catch (error) {
      throw store.corrupt(key, `inode undecodable: ${(error as Error).message}`);
    }
    if (inodeKey(inode.ino) !== key) throw store.corrupt(key, `holds inode ${inode.ino}`);
    state.inodes.set(inode.ino, inode);
  }
  if (state.inodes.size !== header.inodes) {
    throw store.corrupt(INODE_PREFIX, `the checkpoint at seq ${seq} counted ${header.inodes} inodes, the store holds ${state.inodes.size}`);
  }
  state.nextIno = header.nextIno;
  state.nextGen = header.nextGen;
  state.dirty.clear();
  return { state, ...bound };
}

/** The checkpoint header, if it is one this version reads. */
function parseHeader(store: SealedStore, raw: Uint8Array): CheckpointHeader {
  const header = parseVersioned<CheckpointHeader>(raw, 'checkpoint header', CHECKPOINT_VERSION, (what) => store.corrupt(HEADER_KEY, what));
  if (!/^\d+$/.test(header.seq) || !/^\d+$/.test(header.journalId) || !Number.isSafeInteger(header.inodes)) {
    throw store.corrupt(HEADER_KEY, 'checkpoint header fields are malformed');
  }
  return header;
}

/** The checkpoint header's seq and what it needs, for `fanlog verify`; null when there is none. */
export async function readCheckpointBound(store: SealedStore): Promise<(CheckpointBound & { journalId: bigint; inodes: number }) | null> {
  const raw = await store.get(HEADER_KEY);
  if (raw === undefined) return null;
  const header = parseHeader(store, raw);
  return {
    ...checkpointBound(BigInt(header.seq), header.pendingFromSeq === undefined ? undefined : BigInt(header.pendingFromSeq)),
    journalId: BigInt(header.journalId),
    inodes: header.inodes,
  };
}
