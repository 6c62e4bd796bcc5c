/**
 * Changelog consumers: named, durable cursors over the journal (Lustre's
 * changelog_register / changelog_clear, with fanlog's eviction and filters).
 *
 * A consumer reads durable records after its read position and says "done
 * with everything up to X" with `ack(X)`. Its cursor (the last ack), its
 * settings and its filter attachment are durable in the MetaStore under
 * `consumer/<name>` (JSON); the read position is not: it starts just after
 * the cursor whenever the consumer is registered or the engine opens, so
 * after a crash a consumer re-reads exactly the records after its last
 * resolved ack (invariant 4).
 *
 * What a consumer sees: every record but the engine's own `op` records
 * (replay data): events, permission requests, decisions and outcomes, and
 * eviction notes; records with a mask only if it meets the consumer's mask; and, with
 * a filter attached, only records the filter keeps. A filter that throws is
 * detached (durably) and the record delivered: a broken filter must not
 * lose data.
 *
 * Eviction: a consumer more than `lagRecordsMax` records behind the head, or
 * idle (no read or ack) for `idleMsMax`, is evicted: a durable `evicted`
 * note names it and the records it will never see, it stops holding the
 * journal back, and its next read rejects with EEVICTED carrying that range
 * (`error.lost`). It can be registered again.
 *
 * Every change of a consumer's stored state (ack, filter attach and detach,
 * the detach of a filter that threw, eviction, deregistration) runs through
 * the consumer's Serial and reads the state it changes only in its turn, so
 * the stored state always equals some serial order of the calls that
 * resolved; once deregistered (or replaced by a new registration), a
 * consumer changes nothing any more.
 *
 * The stored record, its format and its checks, is consumer-record.ts.
 */
import assert from 'node:assert/strict';
import { FanlogError, invalid } from '../errors.js';
import { headerKnown, scanRecord } from '../engine/record/bytes.js';
import { isOpRecord, LazyRecord, maskMeetsAt } from '../engine/record/view.js';
import type { JournalReader } from '../journal/reader.js';
import type { ChangelogSource } from '../engine/changelog-source.js';
import { Serial } from '../journal/serial.js';
import type { EngineRecord } from '../engine/record/record.js';
import type { INTERNAL_FIELDS } from '../engine/record/fields.js';
import { checkBigint, checkInteger, checkOptions } from '../validate.js';
import type { Consumers } from './consumer-registry.js';
import { CONSUMER_VERSION, encodeConsumer, selectingMask, type StoredConsumer } from './consumer-record.js';
import { type FilterPredicate, rawTestOf } from './filters.js';
export { CONSUMER_VERSION, decodeConsumer, encodeConsumer, type StoredConsumer } from './consumer-record.js';

import { CONSUMER_PREFIX } from '../store/keys.js';
export const ALL_BITS = 2n ** 64n - 1n;

export interface ConsumerOptions {
  /** Only records with one of these bits are delivered (records without a mask always are); default all. */
  mask?: bigint;
  /** 'oldest' retained record (default) or 'next' record appended after registration. */
  from?: 'oldest' | 'next';
  /** Evict when more than this many records behind the head. */
  lagRecordsMax?: number;
  /** Evict when neither reading nor acknowledging for this long. */
  idleMsMax?: number;
}

/** A record as a consumer receives it. */
export type DeliveredRecord = Omit<EngineRecord, (typeof INTERNAL_FIELDS)[number]> & { seq: bigint };

export interface ConsumerInfo {
  name: string;
  cursor: bigint;
  headSeq: bigint;
  lagRecords: bigint;
  idleMs: number;
  filter: { name: string; argument: string } | null;
  evicted: { fromSeq: bigint; toSeq: bigint } | null;
}

/**
 * A named, durable cursor over the changelog: `read()` gives the durable
 * records after its read position that its mask and filter select, and
 * `ack(seq)` makes its progress durable; after a crash it reads again from
 * its last acknowledgement (at least once).
 */
export class Consumer {
  /** The read position: reads deliver records after it. It starts at the cursor, and never passes the durable seq. */
  #position: bigint;
  #predicate: FilterPredicate | null = null;
  /** The engine clock's time of the last read or ack, in ns: idleness is judged by the engine's clock. */
  #lastActivity: bigint;
  readonly #serial = new Serial();
  /** Set once the object is retired: its name was deregistered, or registered again (after an eviction). */
  #gone: 'deregistered' | 'replaced' | null = null;
  /** The journal reader kept across reads, and the read position it stands at. */
  #reader: JournalReader | null = null;
  #readerAt = -1n;
  /** Reads run one at a time, in call order. */
  readonly #reads = new Serial();
  /** The consumer's mask as 32-bit halves, for testing records' masks from their bytes; `all`: every bit. */
  readonly #maskBits: { low: number; high: number; all: boolean };
  readonly #host: ChangelogSource;
  readonly #registry: Consumers;
  #stored: StoredConsumer;

  /** @internal */
  constructor(
    host: ChangelogSource,
    registry: Consumers,
    readonly name: string,
    stored: StoredConsumer,
  ) {
    // Made only from a record the decoder checked (consumer-record.ts), or one the registry just encoded.
    if (stored.version !== CONSUMER_VERSION) assert.fail(`consumer '${name}' made from a record of version ${stored.version}`);
    this.#host = host;
    this.#registry = registry;
    this.#stored = stored;
    this.#position = BigInt(stored.cursor);
    this.#lastActivity = host.now();
    const mask = selectingMask(stored);
    this.#maskBits = { low: Number(mask & 0xffffffffn) | 0, high: Number(mask >> 32n) | 0, all: mask === ALL_BITS };
    if (stored.filter !== null && registry.filters.has(stored.filter.name)) {
      try {
        this.#predicate = registry.filters.build(stored.filter.name, stored.filter.argument);
      } catch {
        this.#predicate = null; // an attachment that no longer builds filters nothing
      }
    }
  }

  /** The last acknowledged seq. */
  get cursor(): bigint {
    return BigInt(this.#stored.cursor);
  }

  get evicted(): { fromSeq: bigint; toSeq: bigint } | null {
    const evicted = this.#stored.evicted;
    return evicted === null ? null : { fromSeq: BigInt(evicted.fromSeq), toSeq: BigInt(evicted.toSeq) };
  }

  /** Registered in place of an evicted consumer: every record never delivered under its name (the eviction's `error.lost`, and on to this one's first); else null. Durable. */
  get lost(): { fromSeq: bigint; toSeq: bigint } | null {
    const { lost } = this.#stored;
    return lost === undefined ? null : { fromSeq: BigInt(lost.fromSeq), toSeq: BigInt(lost.toSeq) };
  }

  /** The consumer's mask: records with none of these bits are not delivered. */
  get mask(): bigint {
    return BigInt(this.#stored.mask);
  }

  get lagRecordsMax(): number | null {
    return this.#stored.lagRecordsMax;
  }

  get idleMsMax(): number | null {
    return this.#stored.idleMsMax;
  }

  get idleMs(): number {
    const idle = this.#host.now() - this.#lastActivity;
    return idle > 0n ? Number(idle / 1_000_000n) : 0;
  }

  info(): ConsumerInfo {
    const headSeq = this.#host.journal.headSeq;
    return {
      name: this.name,
      cursor: this.cursor,
      headSeq,
      lagRecords: headSeq - this.cursor,
      idleMs: this.idleMs,
      filter: this.#stored.filter,
      evicted: this.evicted,
    };
  }

  #checkReadable(): void {
    this.#host.checkUsable();
    if (this.#gone === 'deregistered') throw new FanlogError('ENOENT', `consumer '${this.name}' was deregistered`);
    if (this.#gone === 'replaced') {
      throw new FanlogError(
        'EREPLACED',
        `consumer '${this.name}' was registered again since this object was handed out, which retired it; call consumers.get('${this.name}') for the one registered now`,
      );
    }
    const evicted = this.evicted;
    if (evicted !== null) {
      const missed =
        evicted.fromSeq > evicted.toSeq ? 'every record was delivered to it' : `records ${evicted.fromSeq}..${evicted.toSeq} were not delivered to it`;
      throw new FanlogError('EEVICTED', `consumer '${this.name}' was evicted; ${missed}; rescan and register again`, {
        lost: evicted,
      });
    }
  }

  /**
   * Up to `max` durable records after the read position, in seq order. With
   * none, waits up to `waitMs` and resolves as soon as some are durable.
   * Records are views over the journal's bytes (engine/record/view.ts).
   * Reads of one consumer run one at a time, in call order.
   */
  async read(options?: { max?: number; waitMs?: number }): Promise<DeliveredRecord[]> {
    const { max = 1000, waitMs = 0 } = checkOptions<{ max: number; waitMs: number }>('options', options, ['max', 'waitMs']);
    checkInteger('max', max, 1, 1_000_000);
    checkInteger('waitMs', waitMs, 0, 3_600_000);
    this.#checkReadable();
    return this.#reads.run(() => this.#readInTurn(max, waitMs));
  }

  async #readInTurn(max: number, waitMs: number): Promise<DeliveredRecord[]> {
    this.#checkReadable();
    this.#lastActivity = this.#host.now();
    const deadline = Date.now() + waitMs;
    const out: DeliveredRecord[] = [];
    for (;;) {
      const durable = this.#host.journal.durableSeq;
      if (this.#position < durable) await this.#readFromJournal(durable, max, out);
      if (out.length > 0 || Date.now() >= deadline) break;
      await this.#registry.waitForRecords(deadline - Date.now());
      this.#checkReadable();
    }
    if (out.length > max) assert.fail(`a read of at most ${max} records delivered ${out.length}`);
    this.#lastActivity = this.#host.now();
    return out;
  }

  /**
   * Delivers records after the read position into `out`, up to `max`, with
   * the consumer's one reader: kept across reads while it has records left
   * and stands at the read position (an ack past it, or the end of its
   * range, opens the next at the next read). Op records, records outside the
   * mask and those the filter drops are stepped over from their bytes.
   */
  async #readFromJournal(durable: bigint, max: number, out: DeliveredRecord[]): Promise<void> {
    const { low, high, all } = this.#maskBits;
    const predicate = this.#predicate;
    const raw = predicate === null ? undefined : rawTestOf(predicate);
    // Called only with records to read. (The position may be behind the
    // cursor: an ack past a read in flight is overtaken by that read.)
    if (this.#position >= durable) assert.fail(`consumer '${this.name}' reads from ${this.#position}, with the journal durable through ${durable}`);
    while (this.#position < durable && out.length < max) {
      if (this.#reader === null || this.#reader.exhausted || this.#reader.last <= this.#position || this.#readerAt !== this.#position) {
        await this.#reader?.close();
        this.#reader = this.#host.journal.read({ from: this.#position + 1n, to: durable });
      }
      const reader = this.#reader;
      // Consumers only ever see durable records, and durable seqs only grow: a reader kept from before ends below.
      if (reader.last > durable) assert.fail(`consumer '${this.name}' reads through ${reader.last}, past the durable seq ${durable}`);
      let visited = false;
      const exhausted = await reader.each((b, start, end) => {
        visited = true;
        // What is stepped over is judged from its header and the bytes the
        // test reads; what is delivered, or shown to a user's filter, is checked whole.
        if (!headerKnown(b, start, end)) scanRecord(b, start, end); // throws ECORRUPT saying why
        if (isOpRecord(b, start) || (!all && !maskMeetsAt(b, start, end, low, high))) return true;
        if (raw !== undefined && !raw(b, start, end)) return true;
        const record = new LazyRecord(reader.visitingSeq(), b, start, end, scanRecord(b, start, end));
        if (raw === undefined && predicate !== null && !this.#keeps(record)) return true;
        out.push(record);
        return out.length < max;
      });
      if (exhausted) this.#position = reader.last;
      else if (visited) this.#position = reader.visitingSeq();
      this.#readerAt = this.#position;
    }
    // Against the journal's durable seq now, not `durable`: an ack may have moved the position meanwhile, never past it.
    const durableNow = this.#host.journal.durableSeq;
    if (this.#position > durableNow) assert.fail(`consumer '${this.name}' read to ${this.#position}, past the durable seq ${durableNow}`);
  }

  /** @internal Closes the consumer's reader (engine close, deregistration, replacement). */
  async closeReader(): Promise<void> {
    const reader = this.#reader;
    this.#reader = null;
    await reader?.close();
  }

  #keeps(header: Parameters<FilterPredicate>[0]): boolean {
    const predicate = this.#predicate;
    if (predicate === null) return true;
    try {
      return predicate(header) === true;
    } catch {
      // A broken filter must not lose data: detach it (durably, in turn,
      // unless another attachment replaced it meanwhile) and deliver.
      this.#predicate = null;
      const attachment = this.#stored.filter;
      void this.#serial
        .run(async () => {
          if (this.#gone !== null || this.#stored.filter !== attachment) return;
          await this.#update({ filter: null });
        })
        .catch(() => undefined);
      return true;
    }
  }

  /**
   * Moves the cursor forward to `seq` (a lower seq does nothing); durable
   * when it resolves. EINVAL beyond the journal's durable head. Under a sync
   * policy other than 'always', the journal is fsynced through `seq` first:
   * a cursor never points past what a power cut could take away.
   */
  async ack(seq: bigint): Promise<void> {
    checkBigint('seq', seq, 0n, ALL_BITS);
    this.#checkReadable();
    if (seq > this.#host.journal.durableSeq) {
      return Promise.reject(invalid(`cannot acknowledge ${seq}: the journal is durable through ${this.#host.journal.durableSeq}`));
    }
    this.#lastActivity = this.#host.now();
    return this.#serial.run(async () => {
      this.#checkReadable();
      if (seq <= this.cursor) return;
      if (seq > this.#host.journal.syncedSeq) await this.#host.journal.sync();
      // A cursor never passes what a power cut cannot take away (sync resolves at or past the head of its call).
      if (seq > this.#host.journal.syncedSeq) assert.fail(`consumer '${this.name}' acknowledges ${seq}, past the synced seq ${this.#host.journal.syncedSeq}`);
      await this.#update({ cursor: seq.toString() });
      // The turn is this ack's alone: the cursor stored is the one it acknowledged.
      if (this.#stored.cursor !== seq.toString()) assert.fail(`consumer '${this.name}' acknowledged ${seq}, and stored cursor ${this.#stored.cursor}`);
      if (this.#position < seq) this.#position = seq;
      this.#host.retentionMoved();
    });
  }

  /**
   * Moves the read position back to the cursor, in this consumer's turn:
   * the next read delivers again every record not acknowledged, as after a
   * restart of the engine. For a reader that could not finish what it read
   * (the replicator, when it starts again in the same process).
   */
  async rewind(): Promise<void> {
    this.#checkReadable();
    return this.#serial.run(async () => {
      this.#checkReadable();
      this.#position = this.cursor;
    });
  }

  /** Attaches a registered filter with its argument; durable when it resolves. EBUSY if one is attached. */
  async attachFilter(name: string, argument: string): Promise<void> {
    this.#checkReadable();
    const predicate = this.#registry.filters.build(name, argument);
    return this.#serial.run(async () => {
      this.#checkReadable();
      if (this.#stored.filter !== null) throw new FanlogError('EBUSY', `consumer '${this.name}' has filter '${this.#stored.filter.name}' attached`);
      await this.#update({ filter: { name, argument } });
      this.#predicate = predicate;
    });
  }

  /** Detaches the filter (durably); ENOENT if none is attached. */
  async detachFilter(): Promise<void> {
    this.#checkReadable();
    return this.#serial.run(async () => {
      this.#checkReadable();
      if (this.#stored.filter === null) throw new FanlogError('ENOENT', `consumer '${this.name}' has no filter attached`);
      await this.#update({ filter: null });
      this.#predicate = null;
    });
  }

  /** Evicts the consumer: a durable note in the journal, then its durable state. */
  evict(): Promise<void> {
    return this.#serial.run(async () => {
      if (this.evicted !== null || this.#gone !== null || this.#host.readOnly) return;
      const fromSeq = this.cursor + 1n;
      const toSeq = this.#host.journal.headSeq;
      // A cursor never passes the head, so the records lost are a range (empty when none were).
      if (fromSeq > toSeq + 1n) assert.fail(`consumer '${this.name}' has its cursor ${this.cursor} past the head ${toSeq}`);
      await this.#host.appendRecord({ kind: 'evicted', op: 'consumer', time: this.#host.now(), consumer: this.name, fromSeq, toSeq });
      await this.#update({ evicted: { fromSeq: fromSeq.toString(), toSeq: toSeq.toString() } });
      await this.closeReader();
      this.#host.retentionMoved();
    });
  }

  /**
   * Retires this consumer object in its turn, after every change queued
   * before: `work` (the registry's durable deletion or replacement) runs
   * then, and from then on the object changes nothing.
   * @internal
   */
  retire(why: 'deregistered' | 'replaced', work: () => Promise<void>): Promise<void> {
    return this.#serial.run(async () => {
      await work();
      this.#gone = why;
      await this.closeReader();
    });
  }

  /** @internal Resolves once every change queued on this consumer so far has settled. */
  idle(): Promise<void> {
    return this.#serial.idle();
  }

  async #update(change: Partial<StoredConsumer>): Promise<void> {
    const next = { ...this.#stored, ...change };
    if (BigInt(next.cursor) < BigInt(this.#stored.cursor)) assert.fail(`consumer '${this.name}': cursor ${this.#stored.cursor} -> ${next.cursor} goes back`);
    await this.#host.store.commit([{ type: 'put', key: CONSUMER_PREFIX + this.name, value: encodeConsumer(next) }]);
    this.#stored = next;
  }
}
