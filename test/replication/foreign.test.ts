/**
 * A stream is trusted only as far as fanlog wrote it (issue 26, R1 to R3):
 * an entry someone else added, an id set higher, a second replicator of the
 * same engine, another consumer's stream, and a stream restored from an
 * older copy are each refused with a typed error, at once or at the next
 * catch-up, while nothing more is appended or acknowledged; a stream the
 * previous release wrote is adopted when its last entry is fanlog's.
 */
import { expect, it } from 'vitest';
import { FanlogError } from '../../index.js';
import { encodedOf } from '../../engine/record/view.js';
import { entryFields } from '../../replication/entry.js';
import { rejection } from '../helpers.js';
import { deliverable, outcome, streamIds, useRedis, work } from './fixture.js';

const f = useRedis();

/** Replicates `count` records of a fresh engine into `stream`, caught up; the replicator still runs. */
async function replicated(count: number, stream = 'changes', batchRecords = 4) {
  const engine = await f.engine();
  await work(engine, 0, count);
  const replicator = await engine.replicate({ url: f.server.url, stream, batchRecords });
  await replicator.caughtUp();
  return { engine, replicator, ours: await streamIds(f.redis, stream) };
}

/** How a catch-up ends: 'caught up', or the error it rejected with. */
function caughtUpOrError(replicator: { caughtUp(): Promise<void> }): Promise<'caught up' | FanlogError> {
  return replicator.caughtUp().then(
    () => 'caught up' as const,
    (error: unknown) => error as FanlogError,
  );
}

it('stops with EFOREIGN after an entry it did not write (XADD *), appending and acknowledging nothing more', async () => {
  const { engine, replicator, ours } = await replicated(10);
  const foreign = (await f.redis.xadd('changes', '*', 'k', 'v'))!;
  await work(engine, 10, 10);
  const error = await caughtUpOrError(replicator);
  expect(error).toBeInstanceOf(FanlogError);
  expect((error as FanlogError).code).toBe('EFOREIGN');
  expect((error as FanlogError).ids).toEqual([foreign]);
  expect(await streamIds(f.redis, 'changes')).toEqual([...ours, foreign]);
  // Acknowledged in fanlog: exactly what is in the stream, nothing beyond.
  expect(engine.consumers.get('redis:changes').cursor).toBe(BigInt(ours[ours.length - 1]!.split('-')[0]!));
  expect(replicator.stats()).toMatchObject({ state: 'failed', lastError: { code: 'EFOREIGN' } });
  expect((await outcome(replicator.done))?.code).toBe('EFOREIGN');
});

it('stops with EFOREIGN after XSETID to a higher id, and after an added entry deleted again and the id set back', async () => {
  const { engine, replicator, ours } = await replicated(6, 'raised');
  const last = ours[ours.length - 1]!;
  await f.redis.call('XSETID', 'raised', '999999999-0');
  await work(engine, 6, 3);
  expect(((await caughtUpOrError(replicator)) as FanlogError).code).toBe('EFOREIGN');
  expect(await streamIds(f.redis, 'raised')).toEqual(ours);

  // The same last id as fanlog's, but one more entry added than fanlog added.
  const again = await replicated(6, 'hidden');
  const added = (await f.redis.xadd('hidden', '*', 'k', 'v'))!;
  await f.redis.xdel('hidden', added);
  await f.redis.call('XSETID', 'hidden', again.ours[again.ours.length - 1]!);
  await work(again.engine, 6, 3);
  const error = (await caughtUpOrError(again.replicator)) as FanlogError;
  expect(error.code).toBe('EFOREIGN');
  expect(error.message).toContain('entries');
  expect(await streamIds(f.redis, 'hidden')).toEqual(again.ours);
  expect(last).toMatch(/^\d+-0$/);
});

it('refuses a second replicator of one engine on one stream, or under one consumer name, with EBUSY', async () => {
  const { engine, replicator } = await replicated(5);
  expect((await rejection(() => engine.replicate({ url: f.server.url, stream: 'changes' }))).code).toBe('EBUSY');
  expect((await rejection(() => engine.replicate({ url: f.server.url, stream: 'changes', consumer: 'another' }))).code).toBe('EBUSY');
  expect((await rejection(() => engine.replicate({ url: f.server.url, stream: 'elsewhere', consumer: 'redis:changes' }))).code).toBe('EBUSY');
  // The first goes on: nothing lost to the attempts.
  await work(engine, 5, 1000);
  await replicator.caughtUp();
  expect(await streamIds(f.redis, 'changes')).toEqual((await deliverable(engine)).map((record) => `${record.seq}-0`));
  await replicator.stop();
  // Stopped, its stream and name are free again.
  const next = await engine.replicate({ url: f.server.url, stream: 'changes' });
  await next.caughtUp();
  await next.stop();
});

it('refuses, writing nothing, a consumer of the same engine on a stream another consumer wrote', async () => {
  const { engine, replicator, ours } = await replicated(8);
  await replicator.stop();
  await work(engine, 8, 4);
  const other = await engine.replicate({ url: f.server.url, stream: 'changes', consumer: 'other' });
  const error = (await caughtUpOrError(other)) as FanlogError;
  expect(error.code).toBe('EBUSY');
  expect(error.message).toContain("'redis:changes'");
  expect(await streamIds(f.redis, 'changes')).toEqual(ours);
  expect(engine.consumers.get('other').cursor).toBe(0n);
});

it('notices at the next catch-up, while the engine is idle, a stream restored from an older copy: ELOST', async () => {
  const { engine, replicator } = await replicated(5);
  // The older copy: the stream and its sibling as they were after 5 creates.
  const old = await Promise.all(['changes', 'changes:fanlog'].map((key) => f.redis.dumpBuffer(key)));
  await work(engine, 5, 10);
  await replicator.caughtUp();
  const acked = replicator.stats().replicatedSeq;
  const kept = await streamIds(f.redis, 'changes');
  await f.redis.restore('changes', 0, old[0]!, 'REPLACE');
  await f.redis.restore('changes:fanlog', 0, old[1]!, 'REPLACE');
  const restoredEnd = BigInt((await streamIds(f.redis, 'changes')).pop()!.split('-')[0]!);
  expect(restoredEnd).toBeLessThan(acked);
  // Nothing new to send: the catch-up itself must look.
  const error = (await caughtUpOrError(replicator)) as FanlogError;
  expect(error.code).toBe('ELOST');
  expect(error.lost).toEqual({ fromSeq: restoredEnd + 1n, toSeq: acked });
  expect(replicator.stats().lastError?.code).toBe('ELOST');
  expect(kept.length).toBeGreaterThan(5);
  // A replicator started on it finds it at once.
  const started = await engine.replicate({ url: f.server.url, stream: 'changes' });
  expect(((await caughtUpOrError(started)) as FanlogError).code).toBe('ELOST');
});

it('adopts a stream the previous release wrote (journalId only) when its last entry is fanlog’s, and refuses one whose last entry is not', async () => {
  const engine = await f.engine();
  await work(engine, 0, 12);
  const records = await deliverable(engine);
  // The previous release: the hash held the journal id alone; it appended 7 records and was acked for 5.
  await f.redis.hset('legacy:fanlog', 'journalId', engine.journal.journalId.toString());
  for (const record of records.slice(0, 7)) await f.redis.xadd('legacy', `${record.seq}-0`, ...entryFields(record, encodedOf(record)));
  const consumer = await engine.consumers.register('redis:legacy');
  await consumer.ack(records[4]!.seq);
  const replicator = await engine.replicate({ url: f.server.url, stream: 'legacy' });
  await replicator.caughtUp();
  expect(await streamIds(f.redis, 'legacy')).toEqual(records.map((record) => `${record.seq}-0`));
  expect(replicator.stats().records).toBe(records.length - 7);
  await replicator.stop();

  // Its last entry someone else's: refused, nothing written.
  await f.redis.hset('legacy2:fanlog', 'journalId', engine.journal.journalId.toString());
  for (const record of records.slice(0, 3)) await f.redis.xadd('legacy2', `${record.seq}-0`, ...entryFields(record, encodedOf(record)));
  const foreign = (await f.redis.xadd('legacy2', '*', 'k', 'v'))!;
  const refused = await engine.replicate({ url: f.server.url, stream: 'legacy2' });
  const error = (await caughtUpOrError(refused)) as FanlogError;
  expect(error.code).toBe('EFOREIGN');
  expect(error.ids).toEqual([foreign]);
  expect((await streamIds(f.redis, 'legacy2')).length).toBe(4);
});
