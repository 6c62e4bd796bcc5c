/**
 * The checks of a `replication` run (replication-run.ts), all under design
 * invariant 9, "replication is exact or loud":
 *
 *   - every entry of the stream is one the run added by hand, or
 *     `<seq>-0` holding exactly the record of this journal with that seq
 *     (no record of another journal, no other ID);
 *   - every record acknowledged for the replicator (its consumer's durable
 *     cursor) is in the stream, or was removed by the run's own trims, or
 *     the replicator stopped with ELOST whose range names it;
 *   - the replicator stops only for what the run did (EFOREIGN after a
 *     foreign entry, EJOURNALID when that came before fanlog's first
 *     entry: a stream of no journal; ELOST or EFOREIGN after a restore),
 *     and after a foreign entry it must have stopped;
 *   - the readers acknowledged every entry left in the stream, or were
 *     told of it (ELOST, EFOREIGN); what they were told of was trimmed by
 *     the run or added by hand; they met no other error.
 */
import type { FanlogError } from '../errors.js';
import type { Engine } from '../fanlog.js';
import { encodedOf } from '../engine/record/view.js';
import type { Model } from './model.js';
import type { RemoteReader } from './replication-readers.js';

export interface RunFacts {
  /** What the replicator stopped with (null: it caught up). */
  failure: FanlogError | null;
  /** Its consumer's durable cursor: every record through it was acknowledged for it. */
  cursor: bigint;
  /** The stream at the end, entry by entry. */
  stream: { id: string; fields: Buffer[] }[];
  /** Entries the run added by hand (foreign). */
  foreignIds: string[];
  /** Whether the run put something foreign into the stream (XSETID adds no entry), before the replicator's first entry or after. */
  foreign: 'none' | 'before' | 'after';
  /** For each trim: entries with IDs below `<seq>-0` were removed. */
  trimmedBelow: bigint[];
  restored: boolean;
  readers: RemoteReader[];
}

export async function checkReplication(engine: Engine, model: Model, facts: RunFacts): Promise<void> {
  const records = await journalRecords(engine);
  checkEntries(model, facts, records);
  checkAcknowledged(model, facts, records);
  checkFailure(model, facts);
  checkReaders(model, facts);
}

/** Every record a fresh consumer delivers, by seq, with its encoded bytes. */
async function journalRecords(engine: Engine): Promise<Map<bigint, Buffer>> {
  const name = 'campaign-reference';
  const consumer = await engine.consumers.register(name);
  const records = new Map<bigint, Buffer>();
  for (let batch = await consumer.read({ max: 10_000 }); batch.length > 0; batch = await consumer.read({ max: 10_000 })) {
    for (const record of batch) records.set(record.seq, Buffer.from(encodedOf(record)));
  }
  await engine.consumers.deregister(name);
  return records;
}

function field(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}

function checkEntries(model: Model, facts: RunFacts, records: Map<bigint, Buffer>): void {
  for (const { id, fields } of facts.stream) {
    if (facts.foreignIds.includes(id)) continue;
    const seq = /^(\d+)-0$/.exec(id)?.[1];
    if (!model.check(9, seq !== undefined, () => `the stream has entry ${id}, which is no <seq>-0 and which the run did not add`)) continue;
    const record = records.get(BigInt(seq!));
    const bytes = field(fields, 'record');
    model.check(
      9,
      record !== undefined && bytes !== undefined && record.equals(bytes),
      () =>
        `entry ${id} does not hold this journal's record ${seq} (${record === undefined ? 'no such record' : 'other bytes'}): a record of another journal, or an ID reused`,
    );
  }
}

function checkAcknowledged(model: Model, facts: RunFacts, records: Map<bigint, Buffer>): void {
  const present = new Set(facts.stream.map(({ id }) => id));
  const trimmedBelow = facts.trimmedBelow.reduce((high, seq) => (seq > high ? seq : high), 0n);
  const lost = facts.failure?.code === 'ELOST' ? facts.failure.lost : undefined;
  const missing: bigint[] = [];
  for (const seq of records.keys()) {
    if (seq > facts.cursor || present.has(`${seq}-0`) || seq < trimmedBelow) continue;
    if (lost !== undefined && seq >= lost.fromSeq && seq <= lost.toSeq) continue;
    missing.push(seq);
  }
  model.check(9, missing.length === 0, () => {
    const how =
      facts.failure === null
        ? 'and the replicator caught up saying nothing'
        : `and the replicator stopped with ${facts.failure.code}${lost === undefined ? '' : ` naming ${lost.fromSeq}..${lost.toSeq}`}`;
    return `records ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''} (${missing.length}) were acknowledged for the replicator (cursor ${facts.cursor}) and are not in the stream, ${how}`;
  });
  model.check(
    9,
    facts.cursor <= [...records.keys()].reduce((high, seq) => (seq > high ? seq : high), 0n) || records.size === 0,
    () => `the replicator's cursor ${facts.cursor} is beyond the journal`,
  );
}

function checkFailure(model: Model, facts: RunFacts): void {
  const { failure } = facts;
  // Before fanlog's first entry, a stream with entries is one of no journal (EJOURNALID); one emptied again, or after, EFOREIGN.
  const foreignCodes = facts.foreign === 'before' ? ['EJOURNALID', 'EFOREIGN'] : facts.foreign === 'after' ? ['EFOREIGN'] : [];
  if (failure !== null) {
    const expected = foreignCodes.includes(failure.code) || ((failure.code === 'ELOST' || failure.code === 'EFOREIGN') && facts.restored);
    model.check(9, expected, () => `the replicator stopped with ${failure.message}, though the run did nothing that warrants ${failure.code}`);
  }
  if (facts.foreign !== 'none') {
    model.check(
      9,
      failure !== null && foreignCodes.includes(failure.code),
      () =>
        `something fanlog did not write went into the stream, and the replicator ${failure === null ? 'caught up saying nothing' : `stopped with ${failure.code}, not ${foreignCodes.join(' or ')}`}`,
    );
  }
}

function checkReaders(model: Model, facts: RunFacts): void {
  const acked = new Set<string>();
  const told = new Map<string, string>();
  for (const reader of facts.readers) {
    for (const id of reader.acked) acked.add(id);
    for (const [id, code] of reader.told) told.set(id, code);
    for (const what of reader.unexpected) model.violation(9, `a remote reader met an error it must not: ${what}`);
  }
  const uncovered = facts.stream.map(({ id }) => id).filter((id) => !acked.has(id) && !told.has(id));
  model.check(
    9,
    uncovered.length === 0,
    () => `the readers neither acknowledged nor were told of entries ${uncovered.slice(0, 10).join(', ')} (${uncovered.length})`,
  );
  const trimmedBelow = facts.trimmedBelow.reduce((high, seq) => (seq > high ? seq : high), 0n);
  for (const [id, code] of told) {
    const seq = /^(\d+)-0$/.exec(id)?.[1];
    const explained = facts.foreignIds.includes(id) || (code === 'ELOST' && seq !== undefined && BigInt(seq) < trimmedBelow);
    model.check(9, explained, () => `a reader was told ${code} of entry ${id}, which the run neither trimmed nor added`);
  }
}
