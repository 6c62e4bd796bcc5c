/**
 * Retention (invariant 8, bounded disk): the last seq no reader needs, and
 * the purge that deletes the journal up to it. The engine composes one
 * (engine.ts): it tells it when a checkpoint is durable, and asks it to
 * purge then and whenever a reader's cursor moves.
 *
 * The bound is the minimum over what the durable checkpoint needs (from its
 * oldest pending request, or after its seq), the oldest unfinished guarded
 * operation, and every reader's cursor (consumers not evicted). One purge
 * runs at a time; a call while one runs makes it run once more after, with
 * the bound as it is then.
 */
import type { Journal } from '../journal/journal.js';
import type { ChangelogReader } from './changelog-source.js';
import type { CheckpointBound } from './checkpoint.js';

/** What retention needs of the engine. */
export interface RetentionHost {
  readonly journal: Journal;
  /** The readers composed onto the engine, as they are now. */
  readonly readers: readonly ChangelogReader[];
  /** The first request seq of the oldest guarded operation not settled yet. */
  oldestPendingSeq(): bigint | undefined;
  /** False once the engine is read only, closed or failed: nothing is purged then. */
  mayPurge(): boolean;
  /** Puts the engine in the failed state; gives the error to throw. */
  fail(error: unknown): Error;
}

export class Retention {
  readonly #host: RetentionHost;
  /** The durable checkpoint: what it covers and the first record it needs. */
  #checkpoint: CheckpointBound;
  #purging: Promise<void> | null = null;
  #purgeAgain = false;
  /** No record below this is promised to anyone: a purge in flight may be deleting them. */
  #floorSeq = 0n;

  constructor(host: RetentionHost, checkpoint: CheckpointBound) {
    this.#host = host;
    this.#checkpoint = checkpoint;
  }

  /** The seq of the latest durable checkpoint (0n: none yet). */
  get checkpointSeq(): bigint {
    return this.#checkpoint.seq;
  }

  /** A checkpoint is durable: from here on it, not the previous one, is what recovery starts from. */
  checkpointDurable(bound: CheckpointBound): void {
    this.#checkpoint = bound;
  }

  /**
   * The oldest record the engine can still promise a new reader: the
   * journal's first, or past what a purge in flight may be deleting.
   */
  get retainedFromSeq(): bigint {
    const first = this.#host.journal.firstSeq;
    return first > this.#floorSeq ? first : this.#floorSeq;
  }

  /** The retention bound (see the header). */
  bound(): bigint {
    let through = this.#checkpoint.needsFromSeq - 1n;
    const pending = this.#host.oldestPendingSeq();
    if (pending !== undefined && pending - 1n < through) through = pending - 1n;
    for (const reader of this.#host.readers) {
      const cursor = reader.lowestCursor();
      if (cursor !== undefined && cursor < through) through = cursor;
    }
    return through;
  }

  /** Purges the journal up to the bound (see the header); resolves when the purge it asked for is durable. */
  purge(): Promise<void> {
    if (!this.#host.mayPurge()) return Promise.resolve();
    if (this.#purging !== null) {
      this.#purgeAgain = true;
      return this.#purging;
    }
    // The loop starts in a later microtask, so that `purging` is set before it can end.
    this.#purging = Promise.resolve().then(async () => {
      try {
        do {
          this.#purgeAgain = false;
          const through = this.bound();
          if (through <= 0n) continue;
          if (through + 1n > this.#floorSeq) this.#floorSeq = through + 1n;
          try {
            await this.#host.journal.purge(through);
          } catch (error) {
            throw this.#host.fail(error);
          }
        } while (this.#purgeAgain && this.#host.mayPurge());
      } finally {
        this.#purging = null;
      }
    });
    return this.#purging;
  }

  /** Resolves once no purge runs (whatever became of it). */
  async idle(): Promise<void> {
    await this.#purging?.catch(() => undefined);
  }
}
