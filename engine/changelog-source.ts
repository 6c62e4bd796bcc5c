/**
 * What the engine offers the readers built on it (consumers, and later a
 * replicator), and what it asks of them: the one seam between the engine
 * and `consumers/`. The engine imports nothing of its readers; the class
 * users open (fanlog.ts) composes them onto it.
 */
import type { Journal } from '../journal/journal.js';
import type { EngineStore } from './fail-stop-store.js';
import type { EngineRecord } from './record/record.js';

/** The changelog as a reader sees it. */
export interface ChangelogSource {
  /** Read through `read`, and its seqs: `firstSeq`, `headSeq`, `durableSeq`, `syncedSeq`. */
  readonly journal: Pick<Journal, 'read' | 'firstSeq' | 'headSeq' | 'durableSeq' | 'syncedSeq' | 'sync' | 'dir'>;
  /** Where a reader keeps its durable state; a failed write fails the engine. */
  readonly store: EngineStore;
  readonly readOnly: boolean;
  /** The oldest record still promised to a new reader. */
  readonly retainedFromSeq: bigint;
  /** The engine's clock, in ns. */
  now(): bigint;
  /** Throws ECLOSED or EFAILED when the engine cannot be used. */
  checkUsable(): void;
  /** Journals one note (an eviction) as its own entry; resolves with its seq once durable. */
  appendRecord(record: EngineRecord): Promise<bigint>;
  /** A reader moved or left: the journal may be purged further. */
  retentionMoved(): void;
}

/** A reader composed onto the engine: loaded on open, told of new durable records, asked what it holds, closed last. */
export interface ChangelogReader {
  /** Loads its durable state; runs on open, after groups, before requests are resurrected. */
  load(): Promise<void>;
  /** New records are durable. */
  recordsDurable(): void;
  /** The last seq it has consumed (the journal is kept after it); undefined: it holds nothing. */
  lowestCursor(): bigint | undefined;
  /** Resolves once its queued durable changes have settled. */
  idle(): Promise<void>;
  close(): void;
}
