/**
 * The engine's view of its MetaStore.
 *
 * - Fail-stop: every commit first checks that the engine may write, and a
 *   commit that fails puts the whole engine in its failed state (invariant
 *   7). Without it a failed store write (a cursor, a group's configuration,
 *   a checkpoint) would fail one call while the engine carried on, its
 *   durable state no longer what it believes.
 * - The journal's high-water mark: every commit also writes `journal/durable`
 *   (the journal's id and the seq it is fsynced through at that moment).
 *   Whatever the store holds was written knowing the journal reached that
 *   seq, so a journal that opens shorter lost records (its newest segment
 *   was deleted or truncated) and is refused, before new records could
 *   reuse the lost seqs under consumers that saw the old ones.
 */
import { FanlogError } from '../errors.js';
import { parseVersioned } from '../store/envelope.js';
import type { Journal } from '../journal/journal.js';
import type { CheckedEntry, MetaOp, SealedStore } from '../store/meta-store.js';

import { HIGH_WATER_KEY } from '../store/keys.js';
const HIGH_WATER_VERSION = 1;

/** A store whose damage can be reported by key: what groups, consumers and checkpoints need. */
export interface EngineStore {
  get(key: string): Promise<Uint8Array | undefined>;
  scan(prefix: string): AsyncIterable<[key: string, value: Uint8Array]>;
  commit(ops: readonly MetaOp[]): Promise<void>;
  /** ECORRUPT about `key` in this store. */
  corrupt(key: string, what: string): Error;
}

export class FailStopStore implements EngineStore {
  readonly #inner: SealedStore;
  readonly #journal: Journal;
  readonly #checkWritable: () => void;
  readonly #fail: (error: unknown) => Error;

  constructor(inner: SealedStore, journal: Journal, checkWritable: () => void, fail: (error: unknown) => Error) {
    this.#inner = inner;
    this.#journal = journal;
    this.#checkWritable = checkWritable;
    this.#fail = fail;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#inner.get(key);
  }

  scan(prefix: string): AsyncIterable<[key: string, value: Uint8Array]> {
    return this.#inner.scan(prefix);
  }

  check(prefix: string): AsyncIterable<CheckedEntry> {
    return this.#inner.check(prefix);
  }

  corrupt(key: string, what: string): Error {
    return this.#inner.corrupt(key, what);
  }

  async commit(ops: readonly MetaOp[]): Promise<void> {
    this.#checkWritable();
    try {
      await this.#inner.commit([...ops, highWaterOp(this.#journal)]);
    } catch (error) {
      throw this.#fail(error);
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** The put of the high-water mark: the journal's id and the seq it is fsynced through now. */
export function highWaterOp(journal: Journal): MetaOp {
  const mark = { version: HIGH_WATER_VERSION, journalId: journal.journalId.toString(), seq: journal.syncedSeq.toString() };
  return { type: 'put', key: HIGH_WATER_KEY, value: new TextEncoder().encode(JSON.stringify(mark)) };
}

/**
 * Checks the high-water mark against the journal just opened: ECORRUPT when
 * the journal ends before a seq the store saw durable. (A mark of another
 * journal is left to the checkpoint's EJOURNALID check.)
 *
 * A store without a mark is a new one: every store gets its mark when the
 * engine is created, before the journal holds anything. So a store without
 * a mark beside a journal that holds records (of an engine whose directory
 * is marked) was lost, deleted or recreated: ECORRUPT. A new store is given
 * its mark here (`initialize`), unless the engine is read-only.
 */
export async function checkHighWater(
  store: SealedStore,
  journal: Journal,
  { expectStore, initialize }: { expectStore: boolean; initialize: boolean },
): Promise<void> {
  const raw = await store.get(HIGH_WATER_KEY);
  if (raw === undefined) {
    if (expectStore && (journal.headSeq > 0n || journal.firstSeq > 1n)) {
      throw store.corrupt(
        HIGH_WATER_KEY,
        `the store holds nothing, but the journal holds records up to ${journal.headSeq}: the store was lost (fanlog repair --rebuild-store rebuilds it from the journal)`,
      );
    }
    if (initialize) await store.commit([highWaterOp(journal)]);
    return;
  }
  const mark = parseHighWater(store, raw);
  if (mark.journalId !== journal.journalId) return;
  const seq = mark.seq;
  if (seq > journal.headSeq) {
    throw new FanlogError(
      'ECORRUPT',
      `records ${journal.headSeq + 1n}..${seq} are missing: the journal ends at ${journal.headSeq}, but the store saw it durable through ${seq} (was its newest segment deleted?)`,
      {
        file: journal.dir,
        offset: 0,
      },
    );
  }
}

/** The high-water mark stored in `raw`: ECORRUPT from `store` when it is not one this version reads. */
export function parseHighWater(store: { corrupt(key: string, what: string): Error }, raw: Uint8Array): { journalId: bigint; seq: bigint } {
  const mark = parseVersioned<{ version: number; journalId: unknown; seq: unknown }>(raw, 'high-water mark', HIGH_WATER_VERSION, (what) =>
    store.corrupt(HIGH_WATER_KEY, what),
  );
  if (typeof mark.seq !== 'string' || !/^\d+$/.test(mark.seq) || typeof mark.journalId !== 'string' || !/^\d+$/.test(mark.journalId)) {
    throw store.corrupt(HIGH_WATER_KEY, 'malformed');
  }
  return { journalId: BigInt(mark.journalId), seq: BigInt(mark.seq) };
}
