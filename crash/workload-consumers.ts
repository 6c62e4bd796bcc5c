/**
 * The consumers' side of the crash workload (workload.ts): the three it
 * registers, and between rounds their reads, the live checks on what they
 * were delivered (invariant 4), their acks, and registering again after an
 * eviction, which must say what was lost (invariant 8).
 */
import type { Engine } from '../fanlog.js';
import {
  FAN_ACCESS_PERM,
  FAN_ALL_EVENTS,
  FAN_CREATE,
  FAN_DELETE,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_OPEN_PERM,
  FAN_PRE_ACCESS,
  FAN_PRE_MODIFY,
  FAN_RENAME,
} from '../engine/notify/masks.js';
import type { Prng } from '../journal/prng.js';
import { deliverableSeqs } from './deliverable.js';
import type { Observer } from './workload-types.js';

export const CONSUMERS = {
  backup: { mask: FAN_ALL_EVENTS | FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_PRE_ACCESS | FAN_PRE_MODIFY, ackChance: 0.9, lagRecordsMax: undefined },
  audit: { mask: FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO, ackChance: 0.3, lagRecordsMax: undefined },
  lazy: { mask: FAN_ALL_EVENTS, ackChance: 0, lagRecordsMax: 150 },
} as const;
export type ConsumerName = keyof typeof CONSUMERS;
export const CONSUMER_NAMES = Object.keys(CONSUMERS) as ConsumerName[];

export class WorkloadConsumers {
  /** Per consumer: the highest seq delivered since the engine was opened (or the cursor then). */
  readonly #delivered = new Map<string, bigint>();
  readonly #prng: Prng;
  readonly #observer: Observer;
  /** The workload's handler of errors that only a stopped or failed engine may give. */
  readonly #quiet: (error: unknown) => undefined;

  constructor(prng: Prng, observer: Observer, quiet: (error: unknown) => undefined) {
    this.#prng = prng;
    this.#observer = observer;
    this.#quiet = quiet;
  }

  /** After each open: what each consumer is delivered is held to its cursor from now on. */
  opened(engine: Engine): void {
    this.#delivered.clear();
    for (const info of engine.consumers.list()) this.#delivered.set(info.name, info.cursor);
  }

  async register(engine: Engine, name: ConsumerName, from: 'oldest' | 'next'): Promise<void> {
    const { mask, lagRecordsMax } = CONSUMERS[name];
    const consumer = await engine.consumers.register(name, lagRecordsMax === undefined ? { mask, from } : { mask, from, lagRecordsMax });
    this.#delivered.set(name, consumer.cursor);
    this.#observer.registered(name);
  }

  /**
   * Consumers read a batch each, check it, and ack some of it. Now and then
   * (`catchUp`) every consumer, scratch ones included, reads everything and
   * acknowledges the last record: the journal may then be purged as far as
   * the retention bound lets it, past finished operations, up to what the
   * durable checkpoint still needs.
   */
  async work(engine: Engine, catchUp: boolean): Promise<void> {
    const prng = this.#prng;
    const names = catchUp ? engine.consumers.list().map((info) => info.name) : CONSUMER_NAMES;
    for (const name of names) {
      if (!catchUp && !prng.chance(0.7)) continue;
      const consumer = engine.consumers.get(name);
      const max = catchUp || prng.chance(0.25) ? 100_000 : prng.between(1, 64);
      const durableBefore = engine.journal.durableSeq;
      let records;
      try {
        records = await consumer.read({ max });
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEVICTED') {
          this.#quiet(error);
          continue;
        }
        this.#check(8, (error as { lost?: unknown }).lost !== undefined, `${name}'s eviction did not say what was lost`);
        if (name in CONSUMERS) await this.register(engine, name as ConsumerName, 'next');
        continue;
      }
      const durable = engine.journal.durableSeq;
      await this.#checkNothingSkipped(engine, name, records, max, durableBefore);
      for (const record of records) {
        const after = this.#delivered.get(name) ?? 0n;
        this.#check(4, record.seq > after, `${name} was delivered ${record.seq} at or below ${after}`);
        this.#check(4, record.seq <= durable, `${name} was delivered ${record.seq}, which was not durable (${durable})`);
        this.#delivered.set(name, record.seq);
      }
      const ackChance = name in CONSUMERS ? CONSUMERS[name as ConsumerName].ackChance : 0;
      if (records.length === 0 || !(catchUp || prng.chance(ackChance))) continue;
      const seq = catchUp || prng.chance(0.5) ? records[records.length - 1]!.seq : prng.pick(records).seq;
      try {
        await consumer.ack(seq);
        // Scratch consumers come and go in the races, which the model follows as raced objects.
        if (name in CONSUMERS) this.#observer.acked(name, seq);
        this.#observer.durable(engine.journal.durableSeq);
      } catch (error) {
        this.#quiet(error);
      }
    }
  }

  /**
   * Invariant 4, live: a read that could take everything durable when it
   * began (`max` larger than what was there) delivered every record its
   * consumer's mask keeps after what it was delivered before, up to then,
   * in order, nothing skipped (a consumer kept a reader across reads: one
   * that ended at the head once made the next read come back empty).
   */
  async #checkNothingSkipped(engine: Engine, name: string, records: readonly { seq: bigint }[], max: number, durableBefore: bigint): Promise<void> {
    const after = this.#delivered.get(name) ?? 0n;
    if (!(name in CONSUMERS) || durableBefore <= after || after + 1n < engine.journal.firstSeq) return;
    const expected = await deliverableSeqs(engine, after + 1n, CONSUMERS[name as ConsumerName].mask, durableBefore).catch(() => null);
    if (expected === null || expected.length >= max) return;
    const got = records.slice(0, expected.length).map((record) => record.seq);
    this.#check(4, got.join() === expected.join(), `${name} read [${got.slice(0, 6)}…] after ${after}, but the journal held [${expected.slice(0, 6)}…] for it`);
  }

  #check(invariant: number, ok: boolean, what: string): void {
    if (ok) this.#observer.checked();
    else this.#observer.violation(invariant, what);
  }
}
