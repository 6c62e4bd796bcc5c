/**
 * The checks a crash campaign makes on an engine right after it recovered,
 * against the Model of what must have survived. In order:
 *
 * 1 Prefix: the journal reaches at least every seq the engine called
 *   durable; on simulated disks each recovered record is byte for byte one
 *   the engine wrote (History), with no gap.
 * 2 Atomic operations: on simulated disks the recovered journal ends where
 *   an entry ended.
 * 4 Cursors (first half): every consumer's cursor is at least its last
 *   resolved ack and not beyond the journal.
 * 5 Permission requests: every response that resolved is in the journal;
 *   then the shared checks of permission-checks.ts (no request answered
 *   twice, undecided requests head their queues in seq order exactly once,
 *   once allowed every resumed operation completes exactly once).
 * 3 State is replay: with everything settled and durable, the engine's
 *   filesystem equals a replay from empty of the records written (History on
 *   simulated disks; the journal itself where it still starts at seq 1).
 * 4 Cursors (second half): each consumer is delivered exactly the journal's
 *   records above its cursor that its mask lets through, in order.
 * 8 Bounded disk: once every consumer acknowledged the head and a
 *   checkpoint was taken, at most two segments remain.
 *
 * Invariant 6 (a power cut never looks like corruption) is checked by the
 * caller, which sees Engine.open reject; 7 by the workload and the caller.
 */
import { decodeRecord } from '../engine/record/codec.js';
import type { Engine } from '../fanlog.js';
import { FsState } from '../engine/model/fs-state.js';
import type { Seq } from '../journal/types.js';
import { sameBytes } from './history.js';
import type { Model } from './model.js';
import { settleEverything, view } from './permission-checks.js';
import { CONSUMERS, type ConsumerName } from './workload-consumers.js';
import { deliverableSeqs } from './deliverable.js';

/**
 * The checkpoint interval of an engine opened to be checked: none in the
 * background. The checks read the journal from its first record as a plain
 * reader, not a consumer, and a background checkpoint's purge would take
 * segments from under them (EPURGED, what such a reader gets by contract);
 * they make their own checkpoint at the end. Recovery with background
 * checkpoints is what the crashes during recovery exercise.
 */
export const CHECKING_CHECKPOINT_EVERY = 2 ** 40;

export async function checkRecovered(engine: Engine, model: Model, segmentCount: () => Promise<number>, { segmentLost = false } = {}): Promise<void> {
  const recoveredHead = engine.recovery.headSeq;
  const { history } = model;
  // A segment deleted by hand takes durable records with it: what must hold then is that nothing recovered points beyond the journal.
  if (!segmentLost)
    model.check(1, recoveredHead >= model.durableSeq, () => `the journal ends at ${recoveredHead}, but ${model.durableSeq} was reported durable`);
  if (history !== null) {
    let expected = engine.journal.firstSeq;
    for await (const { seq, payload } of engine.journal.read({ to: recoveredHead })) {
      const written = history.payloads.get(seq);
      if (
        !model.check(
          1,
          seq === expected && written !== undefined && sameBytes(written, payload),
          () => `recovered record ${seq} is not the record written at that seq`,
        )
      )
        break;
      expected++;
    }
    model.check(2, history.entryEnds.has(recoveredHead), () => `the journal ends at ${recoveredHead}, inside an entry`);
  }

  checkRacedObjects(engine, model);

  for (const [name, acked] of model.acks) {
    const info = engine.consumers.list().find((consumer) => consumer.name === name);
    if (!model.check(4, info !== undefined, () => `consumer ${name} is gone`)) continue;
    model.check(4, info!.cursor >= acked, () => `${name}'s cursor is ${info!.cursor}, below its resolved ack ${acked}`);
    model.check(4, info!.cursor <= recoveredHead, () => `${name}'s cursor ${info!.cursor} is beyond the journal (${recoveredHead})`);
  }

  const journal = await view(engine);
  for (const requestSeq of model.decisions) {
    if (requestSeq < journal.firstSeq || segmentLost) continue;
    model.check(5, journal.decisions.has(requestSeq), () => `the response to request ${requestSeq} resolved but is not in the journal`);
  }
  const before = model.violations.length;
  await settleEverything(engine, (what) => model.violation(5, what));
  model.check(5, model.violations.length === before, () => 'see above');
  await engine.journal.sync();

  checkReplay(engine, model, await recordsAfter(engine, model.history === null ? 0n : recoveredHead));
  await checkDeliveries(engine, model);

  for (const info of engine.consumers.list()) {
    if (info.evicted === null) await engine.consumers.get(info.name).ack(engine.journal.durableSeq);
  }
  await engine.checkpoint();
  const segments = await segmentCount();
  model.check(8, segments <= 2, () => `${segments} segments remain after every consumer acknowledged the head and a checkpoint`);
}

/**
 * Invariant 7 of the control calls (serialised per object): each raced
 * object is what its resolved calls, in the order they resolved, leave.
 */
function checkRacedObjects(engine: Engine, model: Model): void {
  for (const [key, expected] of model.objects) {
    if (expected.inFlight > 0 || expected.uncertain) continue;
    const [kind, name] = key.split(':') as ['consumer' | 'group', string];
    if (kind === 'consumer') {
      const info = engine.consumers.list().find((consumer) => consumer.name === name);
      model.check(
        12,
        (info !== undefined) === expected.present,
        () =>
          `consumer ${name} is ${info === undefined ? 'gone' : 'there'} after recovery, but its last resolved call ${expected.present ? 'registered' : 'deregistered'} it`,
      );
      if (info !== undefined && expected.present)
        model.check(
          4,
          info.cursor >= expected.cursorAtLeast,
          () => `consumer ${name}'s cursor is ${info.cursor}, below its resolved ack ${expected.cursorAtLeast}`,
        );
    } else {
      const group = engine.groups.find(name);
      model.check(
        12,
        (group !== null) === expected.present,
        () =>
          `group ${name} is ${group === null ? 'gone' : 'there'} after recovery, but its last resolved call ${expected.present ? 'created' : 'destroyed'} it`,
      );
      if (group !== null && expected.present) {
        const paths = new Set(group.listMarks().map((mark) => mark.path));
        for (const path of expected.marks) model.check(12, paths.has(path), () => `group ${name} lost its resolved mark on ${path}`);
      }
    }
  }
}

async function recordsAfter(engine: Engine, seq: Seq): Promise<Map<Seq, Uint8Array>> {
  const records = new Map<Seq, Uint8Array>();
  if (seq + 1n < engine.journal.firstSeq) return records;
  for await (const record of engine.journal.read({ from: seq + 1n })) records.set(record.seq, record.payload);
  return records;
}

/** Invariant 3: the settled filesystem equals a replay from empty (when every record since seq 1 is known). */
function checkReplay(engine: Engine, model: Model, appendedSinceRecovery: Map<Seq, Uint8Array>): void {
  const head = engine.journal.headSeq;
  const recoveredHead = engine.recovery.headSeq;
  const { history } = model;
  const source = (seq: Seq): Uint8Array | undefined =>
    seq > recoveredHead ? appendedSinceRecovery.get(seq) : history !== null ? history.payloads.get(seq) : appendedSinceRecovery.get(seq);
  if (history === null && engine.journal.firstSeq !== 1n) return;
  const replayed = new FsState(0n);
  for (let seq = 1n; seq <= head; seq++) {
    const payload = source(seq);
    if (!model.check(3, payload !== undefined, () => `record ${seq} is neither in the history nor in the journal`)) return;
    const record = decodeRecord(payload!);
    if (record.kind === 'op') replayed.apply(record);
  }
  model.check(3, replayed.fingerprint() === engine.state.fingerprint(), () => `the filesystem differs from a replay of records 1..${head} from empty`);
}

/** Invariant 4: each consumer gets exactly the records above its cursor that its mask lets through. */
async function checkDeliveries(engine: Engine, model: Model): Promise<void> {
  for (const info of engine.consumers.list()) {
    const consumer = engine.consumers.get(info.name);
    if (info.evicted !== null) {
      const code = await consumer.read().then(
        () => 'none',
        (error: { code?: string }) => error.code,
      );
      model.check(8, code === 'EEVICTED', () => `evicted consumer ${info.name} read with ${code}, not EEVICTED`);
      continue;
    }
    if (!model.check(8, info.cursor + 1n >= engine.journal.firstSeq, () => `records above ${info.name}'s cursor ${info.cursor} were purged`)) continue;
    // Raced scratch consumers take every record.
    const mask = CONSUMERS[info.name as ConsumerName]?.mask ?? 2n ** 64n - 1n;
    const expected = await deliverableSeqs(engine, info.cursor + 1n, mask);
    const delivered: bigint[] = [];
    for (;;) {
      const batch = await consumer.read({ max: 500 });
      if (batch.length === 0) break;
      delivered.push(...batch.map((record) => record.seq));
    }
    model.check(
      4,
      delivered.join() === expected.join(),
      () => `${info.name} was delivered [${delivered.slice(0, 8)}…] but the journal above its cursor holds [${expected.slice(0, 8)}…]`,
    );
  }
}
