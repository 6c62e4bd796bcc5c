/**
 * Consumers: the registry of changelog consumers. It loads them from the
 * MetaStore on open, registers and deregisters them durably, finds and
 * lists them, tells the engine the lowest cursor that holds the journal,
 * wakes waiting readers when records become durable, and evicts consumers
 * past their lag or idle limits. The consumer itself is in consumer.ts.
 *
 * The catalog (`catalog/consumer`, the names of every consumer) changes in
 * the same commit as the consumer it names, registrations and
 * deregistrations one at a time through the registry's Serial: on open,
 * every name it lists must have its key, and every key must be listed, or
 * the store lost a key (ECORRUPT). A stored cursor beyond the journal's
 * head means the journal lost records the consumer saw: ECORRUPT too.
 */
import assert from 'node:assert/strict';
import { FanlogError, invalid } from '../errors.js';
import { FAN_MARK_FLAGS, FAN_ONDIR } from '../engine/notify/masks.js';
import type { ChangelogSource } from '../engine/changelog-source.js';
import type { Filters } from './filters.js';
import { Serial } from '../journal/serial.js';
import { Waiters } from '../engine/waiters.js';
import { checkBigint, checkInteger, checkName, checkOneOf, checkOptions } from '../validate.js';
import { catalogOp, checkCatalog, readCatalog } from '../store/catalog.js';
import type { MetaOp } from '../store/meta-store.js';
import { ALL_BITS, Consumer, type ConsumerInfo, type ConsumerOptions } from './consumer.js';
import { CONSUMER_VERSION, decodeConsumer, encodeConsumer, type StoredConsumer } from './consumer-record.js';

import { CONSUMER_CATALOG_KEY, CONSUMER_PREFIX } from '../store/keys.js';

export class Consumers {
  readonly #consumers = new Map<string, Consumer>();
  readonly #waiters = new Waiters();
  readonly #serial = new Serial();
  #timer: NodeJS.Timeout | null = null;
  readonly #host: ChangelogSource;
  readonly #defaults: { lagRecordsMax: number | null; idleMsMax: number | null };
  /**
   * @internal Names read through by a reader of their own, with who it is
   * (a running replicator of this engine, a client of its socket): `open`
   * and `deregister` of one are EBUSY (two readers of one cursor skip each
   * other's records).
   */
  readonly held = new Map<string, string>();

  /** @internal */
  constructor(
    host: ChangelogSource,
    /** Filters consumers may attach, by name. */
    readonly filters: Filters,
    defaults: { lagRecordsMax: number | null; idleMsMax: number | null },
  ) {
    this.#host = host;
    this.#defaults = defaults;
  }

  /** @internal */
  async load(): Promise<void> {
    const { store, journal } = this.#host;
    const listed = await readCatalog(store, CONSUMER_CATALOG_KEY);
    const found: string[] = [];
    for await (const [key, value] of store.scan(CONSUMER_PREFIX)) {
      const name = key.slice(CONSUMER_PREFIX.length);
      found.push(name);
      const stored = decodeConsumer(value, (what) => store.corrupt(key, what));
      if (BigInt(stored.cursor) > journal.headSeq) {
        throw new FanlogError(
          'ECORRUPT',
          `consumer '${name}' acknowledged records up to ${stored.cursor}, but the journal ends at ${journal.headSeq}: records ${journal.headSeq + 1n}..${stored.cursor} are missing`,
          {
            file: journal.dir,
            offset: 0,
          },
        );
      }
      this.#consumers.set(name, new Consumer(this.#host, this, name, stored));
    }
    checkCatalog(store, CONSUMER_PREFIX, listed, found);
    this.#schedule();
  }

  /** Registers a consumer durably. EEXIST if the name is taken by a consumer that was not evicted. */
  async register(name: string, options?: ConsumerOptions): Promise<Consumer> {
    this.#host.checkUsable();
    checkName('consumer', name);
    const wanted = this.#options(options);
    return this.#serial.run(async () => {
      const existing = this.#consumers.get(name);
      if (existing !== undefined && existing.evicted === null) throw new FanlogError('EEXIST', `consumer '${name}' is registered`);
      return this.#add(name, wanted, existing);
    });
  }

  /**
   * The consumer `name`, registered durably if there is none (or if the one
   * there was evicted, as `register` does): set-up that can run again. A
   * registered consumer is returned, its cursor where it is, when its mask
   * and limits are the ones asked for (`from` applies only to a new
   * registration); EEXIST, naming those that differ, when not.
   */
  async open(name: string, options?: ConsumerOptions): Promise<Consumer> {
    this.#host.checkUsable();
    checkName('consumer', name);
    const wanted = this.#options(options);
    if (this.held.has(name)) throw this.#heldError(name);
    return this.#serial.run(async () => {
      const existing = this.#consumers.get(name);
      if (existing === undefined || existing.evicted !== null) return this.#add(name, wanted, existing);
      const has = { mask: existing.mask, lagRecordsMax: existing.lagRecordsMax, idleMsMax: existing.idleMsMax };
      const differ = (['mask', 'lagRecordsMax', 'idleMsMax'] as const)
        .filter((key) => has[key] !== wanted[key])
        .map((key) => `${key}: ${String(has[key])} -> ${String(wanted[key])}`);
      if (differ.length > 0) throw new FanlogError('EEXIST', `consumer '${name}' is registered with other options: ${differ.join(', ')}`);
      return existing;
    });
  }

  #options(options: ConsumerOptions | undefined): WantedConsumer {
    const opts = checkOptions<ConsumerOptions>('options', options, ['mask', 'from', 'lagRecordsMax', 'idleMsMax']);
    return {
      mask: checkConsumerMask(opts.mask ?? ALL_BITS),
      from: checkOneOf('from', opts.from ?? 'oldest', ['oldest', 'next'] as const),
      lagRecordsMax:
        opts.lagRecordsMax === undefined ? this.#defaults.lagRecordsMax : checkInteger('lagRecordsMax', opts.lagRecordsMax, 1, Number.MAX_SAFE_INTEGER),
      idleMsMax: opts.idleMsMax === undefined ? this.#defaults.idleMsMax : checkInteger('idleMsMax', opts.idleMsMax, 1, 2 ** 31 - 1),
    };
  }

  /** In the registry's turn: stores a new consumer (replacing an evicted one of that name) and its catalog in one commit. */
  async #add(name: string, { mask, from, lagRecordsMax, idleMsMax }: WantedConsumer, evicted: Consumer | undefined): Promise<Consumer> {
    const cursor = from === 'oldest' ? this.#host.retainedFromSeq - 1n : this.#host.journal.headSeq;
    if (cursor < 0n || cursor > this.#host.journal.headSeq) assert.fail(`consumer '${name}' registered at ${cursor}, outside 0..${this.#host.journal.headSeq}`);
    const stored: StoredConsumer = {
      version: CONSUMER_VERSION,
      mask: mask.toString(),
      cursor: cursor.toString(),
      lagRecordsMax,
      idleMsMax,
      filter: null,
      evicted: null,
    };
    // In place of an evicted consumer: what it missed, and what this one starts after, was never delivered.
    const missed = evicted?.evicted;
    if (missed !== null && missed !== undefined && cursor >= missed.fromSeq) stored.lost = { fromSeq: missed.fromSeq.toString(), toSeq: cursor.toString() };
    const ops: MetaOp[] = [
      { type: 'put', key: CONSUMER_PREFIX + name, value: encodeConsumer(stored) },
      catalogOp(CONSUMER_CATALOG_KEY, [...this.#consumers.keys(), name]),
    ];
    // An evicted consumer of that name is replaced in its own turn, so nothing it still had queued lands after.
    if (evicted !== undefined) await evicted.retire('replaced', () => this.#host.store.commit(ops));
    else await this.#host.store.commit(ops);
    const consumer = new Consumer(this.#host, this, name, stored);
    this.#consumers.set(name, consumer);
    this.#schedule();
    return consumer;
  }

  /**
   * The consumer named `name`; ENOENT if there is none. While a replicator
   * runs, its consumer is the replicator's own handle: look at it (its
   * cursor, `info()`), but reading or acknowledging through it moves the
   * replicator's cursor past records it never sent.
   */
  get(name: string): Consumer {
    const consumer = this.#consumers.get(name);
    if (consumer === undefined) throw new FanlogError('ENOENT', `no consumer named '${String(name)}'`);
    return consumer;
  }

  #heldError(name: string): FanlogError {
    return new FanlogError('EBUSY', `consumer '${name}' is read by ${this.held.get(name)!}: stop or close it first, or use another name`);
  }

  list(): ConsumerInfo[] {
    return [...this.#consumers.values()].map((consumer) => consumer.info()).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Removes a consumer durably, after every change queued on it before; it stops holding the journal back. */
  async deregister(name: string): Promise<void> {
    this.#host.checkUsable();
    this.get(name);
    if (this.held.has(name)) throw this.#heldError(name);
    await this.#serial.run(async () => {
      const consumer = this.get(name);
      const names = [...this.#consumers.keys()].filter((other) => other !== name);
      await consumer.retire('deregistered', () =>
        this.#host.store.commit([{ type: 'del', key: CONSUMER_PREFIX + name }, catalogOp(CONSUMER_CATALOG_KEY, names)]),
      );
      this.#consumers.delete(name);
    });
    this.#host.retentionMoved();
  }

  /** @internal The lowest cursor of any consumer that still holds the journal (undefined: none does). */
  lowestCursor(): bigint | undefined {
    let lowest: bigint | undefined;
    for (const consumer of this.#consumers.values()) {
      if (consumer.evicted !== null) continue;
      if (lowest === undefined || consumer.cursor < lowest) lowest = consumer.cursor;
    }
    // Retention keeps what comes after: a cursor is never past the head (load refuses one, ack one past the durable seq).
    if (lowest !== undefined && lowest > this.#host.journal.headSeq)
      assert.fail(`a consumer holds the journal from ${lowest}, past its head ${this.#host.journal.headSeq}`);
    return lowest;
  }

  /** @internal New durable records: wakes waiting readers and evicts consumers past their lag limit. */
  recordsDurable(): void {
    this.#waiters.wakeAll();
    const head = this.#host.journal.headSeq;
    for (const consumer of this.#consumers.values()) {
      const limit = consumer.lagRecordsMax;
      if (limit !== null && consumer.evicted === null && head - consumer.cursor > BigInt(limit)) void consumer.evict().catch(() => undefined);
    }
  }

  /** @internal */
  waitForRecords(waitMs: number): Promise<void> {
    return this.#waiters.wait(waitMs);
  }

  /** Checks idle consumers periodically, while some consumer has an idle limit (never on a read-only engine). */
  #schedule(): void {
    if (this.#host.readOnly || this.#timer !== null || ![...this.#consumers.values()].some((consumer) => consumer.idleMsMax !== null)) return;
    this.#timer = setInterval(() => {
      for (const consumer of this.#consumers.values()) {
        const limit = consumer.idleMsMax;
        if (limit !== null && consumer.evicted === null && consumer.idleMs > limit) void consumer.evict().catch(() => undefined);
      }
    }, 25);
    this.#timer.unref();
  }

  /** @internal Resolves once every registration and every consumer's queued change so far has settled (close waits for it). */
  async idle(): Promise<void> {
    await this.#serial.idle();
    await Promise.all([...this.#consumers.values()].map((consumer) => consumer.idle()));
  }

  /** @internal */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#waiters.wakeAll();
    for (const consumer of this.#consumers.values()) void consumer.closeReader();
  }
}

/** A consumer's options, checked, with their defaults. */
interface WantedConsumer {
  mask: bigint;
  from: 'oldest' | 'next';
  lagRecordsMax: number | null;
  idleMsMax: number | null;
}

/**
 * A consumer's mask, checked: EINVAL unless it holds events only (or is
 * every bit, the default). FAN_ONDIR and FAN_EVENT_ON_CHILD qualify a
 * mark's events; in a consumer mask they would select records on their own
 * (CREATE|ONDIR taking a directory's MOVED_FROM), which is not what they
 * mean anywhere else.
 */
export function checkConsumerMask(value: unknown): bigint {
  const mask = checkBigint('mask', value, 1n, ALL_BITS);
  if (mask !== ALL_BITS && (mask & FAN_MARK_FLAGS) !== 0n) {
    throw invalid(
      `mask: ${(mask & FAN_ONDIR) !== 0n ? 'FAN_ONDIR' : 'FAN_EVENT_ON_CHILD'} is a mark's qualifier, not an event, and selects nothing in a consumer mask; a consumer receives directories' events by their event bits already (FAN_CREATE takes mkdir's CREATE|ONDIR): leave it out, and to take only directories' events attach the filter mask=40000000`,
    );
  }
  return mask;
}
