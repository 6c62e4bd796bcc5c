/**
 * The remote reader at the edges (issue 26, R6 and R7): entries a reader
 * was given and that were trimmed before it acknowledged them (its own, or
 * another reader's it would claim) are a typed loss, ELOST naming their
 * ids, and are cleared from the group; nothing else that read took is
 * dropped: the next read delivers it. An entry that is not a fanlog record
 * is told the same way (EFOREIGN), not met again and again. A reader with more pending entries
 * than one read takes pages forward through them, so `fanlog redis-tail
 * --group` without --ack ends.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FanlogError } from '../../index.js';
import { RedisConsumer } from '../../replication/index.js';
import { rejection } from '../helpers.js';
import { deliverable, streamIds, useRedis, work } from './fixture.js';

const f = useRedis();
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A stream of `count` creates (and the mkdir), replicated and caught up; the replicator keeps it to `maxLen` when given. */
async function replicatedStream(count: number, maxLen?: number) {
  const engine = await f.engine();
  await work(engine, 0, count);
  const replicator = await engine.replicate({ url: f.url, stream: 'changes', ...(maxLen === undefined ? {} : { trim: { maxLen } }) });
  await replicator.caughtUp();
  return { engine, replicator };
}

const open = (consumer: string, claimIdleMs = 30_000): Promise<RedisConsumer> =>
  RedisConsumer.open({ url: f.url, stream: 'changes', group: 'g', consumer, claimIdleMs });
const ids = (records: { seq: bigint }[]): string[] => records.map((record) => `${record.seq}-0`);

it("reports a reader's own pending entries trimmed away as ELOST with their ids, clears them, and delivers the rest of that read next", async () => {
  const { engine, replicator } = await replicatedStream(10, 8);
  const first = await open('c');
  const held = await first.read({ max: 4 });
  first.close();
  // More records: the replicator's `trim: { maxLen: 8 }` takes the 4 held entries with it.
  await work(engine, 10, 6);
  await replicator.caughtUp();
  const live = await streamIds(f.redis, 'changes');
  expect(live).not.toContain(ids(held)[0]);
  const again = await open('c');
  const error = (await rejection(() => again.read({ max: 100 }))) as FanlogError;
  expect(`${error.code} ${error.message}`).toMatch(/^ELOST /);
  expect(error.ids).toEqual(ids(held));
  expect(error.message).toMatch(/trimmed/);
  // What that read took from the stream comes with the next read, which clears the lost ones from the group.
  const next = await again.read({ max: 100 });
  expect(ids(next)).toEqual(live);
  const pending = ((await f.redis.xpending('changes', 'g', '-', '+', 100)) as [string][]).map(([id]) => id);
  expect(pending.filter((id) => ids(held).includes(id))).toEqual([]);
  await again.ack(next);
  expect(await again.read({ max: 100 })).toEqual([]);
  again.close();
  await replicator.stop();
});

it("reports entries a dead reader held and that were trimmed as ELOST to the reader that would claim them (XAUTOCLAIM's deleted ids)", async () => {
  const { engine, replicator } = await replicatedStream(10, 8);
  const dead = await open('dead');
  const held = await dead.read({ max: 3 });
  dead.close();
  await work(engine, 10, 6);
  await replicator.caughtUp();
  const live = await streamIds(f.redis, 'changes');
  const survivor = await open('lives', 1);
  const error = (await rejection(() => survivor.read({ max: 100 }))) as FanlogError;
  expect(error.code).toBe('ELOST');
  expect(error.ids).toEqual(ids(held));
  const next = await survivor.read({ max: 100 });
  expect(ids(next)).toEqual(live);
  expect(await f.redis.xpending('changes', 'g', '-', '+', 100, 'dead')).toEqual([]);
  survivor.close();
  await replicator.stop();
});

it('tells an entry fanlog did not write as EFOREIGN, clears it once told, and delivers the records around it', async () => {
  const { engine, replicator } = await replicatedStream(3);
  await replicator.stop();
  const before = await streamIds(f.redis, 'changes');
  const foreign = (await f.redis.xadd('changes', '*', 'k', 'v'))!;
  // Told, then stopped before its next read: the next run is told again (the entry was not cleared behind its back).
  const stopped = await open('c');
  expect(((await rejection(() => stopped.read({ max: 100 }))) as FanlogError).ids).toEqual([foreign]);
  stopped.close();
  const reader = await open('c');
  const error = (await rejection(() => reader.read({ max: 100 }))) as FanlogError;
  expect(`${error.code} ${error.message}`).toMatch(/^EFOREIGN /);
  expect(error.ids).toEqual([foreign]);
  expect(ids(await reader.read({ max: 100 }))).toEqual(before);
  expect(await reader.read({ max: 100 })).toEqual([]);
  expect(await f.redis.xpending('changes', 'g', '-', '+', 100, 'c')).toHaveLength(before.length);
  reader.close();
  expect(engine.journal.durableSeq).toBeGreaterThan(0n);
});

it('pages forward through more pending entries than one read takes, so redis-tail --group without --ack ends', async () => {
  const { replicator } = await replicatedStream(1200);
  await replicator.stop();
  const all = await streamIds(f.redis, 'changes');
  const tail = (): { status: number | null; seqs: string[] } => {
    const run = spawnSync(process.execPath, [CLI, 'redis-tail', '--redis', f.url, '--stream', 'changes', '--group', 'g', '--json'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    // A run that did not end (killed at the timeout) has no status, and its last line may be cut.
    if (run.status !== 0) return { status: run.status, seqs: [] };
    return {
      status: run.status,
      seqs: run.stdout
        .trim()
        .split('\n')
        .map((line) => `${(JSON.parse(line) as { seq: string }).seq}-0`),
    };
  };
  expect(tail()).toEqual({ status: 0, seqs: all });
  // Everything is pending to 'redis-tail' now: the second run reads it again, each entry once, and ends.
  expect(tail()).toEqual({ status: 0, seqs: all });
  // And through the API, pages of 500.
  const reader = await open('redis-tail');
  const seen: string[] = [];
  for (let batch = await reader.read({ max: 500 }); batch.length > 0; batch = await reader.read({ max: 500 })) seen.push(...ids(batch));
  expect(seen).toEqual(all);
  reader.close();
});

it('tells a group, as ELOST with the seq range, of entries a maxLen trim took before the group was given them, once', async () => {
  const { engine, replicator } = await replicatedStream(10, 20);
  const reader = await open('c');
  await reader.ack(await reader.read({ max: 5 }));
  const lastGiven = (await streamIds(f.redis, 'changes'))[4]!;
  // The group is behind: 100 more creates, and the trim keeps the last 20 entries only.
  await work(engine, 10, 100);
  await replicator.caughtUp();
  const first = (await streamIds(f.redis, 'changes'))[0]!;
  const error = (await rejection(() => reader.read({ max: 1000 }))) as FanlogError;
  expect(error.code).toBe('ELOST');
  const seq = (id: string): bigint => BigInt(id.split('-')[0]!);
  const trimmedLast = (await deliverable(engine)).filter((record) => record.seq < seq(first)).pop()!.seq;
  expect(error.lost).toEqual({ fromSeq: seq(lastGiven) + 1n, toSeq: trimmedLast });
  // Told once: the group then reads on from the stream's first entry, and a new group (created after the trim) is not told.
  const next = await reader.read({ max: 1000 });
  expect(ids(next)).toEqual(await streamIds(f.redis, 'changes'));
  await reader.ack(next);
  expect(await reader.read({ max: 1000 })).toEqual([]);
  reader.close();
  const late = await RedisConsumer.open({ url: f.url, stream: 'changes', group: 'late', consumer: 'c' });
  expect((await late.read({ max: 1000 })).length).toBe(20);
  late.close();
  await replicator.stop();
});
