/**
 * An engine restored from an older copy of its directory (same journal id,
 * a shorter journal), replicating again into the stream it replicated into
 * before (issue 26, attack 3, finding 4): the stream holds records of the
 * journal's lost future at the seqs the restored engine writes its new
 * records at. The replicator must refuse it (EJOURNALID), idle or not,
 * and acknowledge nothing it did not append; never skip the new records
 * as if they were the stream's.
 */
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Engine } from '../../index.js';
import { tempDir } from '../helpers.js';
import { outcome, streamIds, useRedis } from './fixture.js';

const f = useRedis();

/** An engine directory replicated into `stream` twice, its copy taken between the two; returns the directory, restored from that copy. */
async function restoredEngine(stream: string): Promise<{ dir: string; streamEnd: bigint }> {
  const root = tempDir();
  const dir = path.join(root, 'engine');
  const backup = path.join(root, 'backup');
  const session = async (from: number): Promise<void> => {
    const engine = await Engine.open(dir, { store: 'files' });
    if (from === 0) await engine.fs.mkdir('/d');
    for (let i = from; i < from + 10; i++) await engine.fs.create(`/d/old${i}`);
    const replicator = await engine.replicate({ url: f.server.url, stream });
    await replicator.caughtUp();
    await replicator.stop();
    await engine.close();
  };
  await session(0);
  cpSync(dir, backup, { recursive: true });
  await session(10);
  rmSync(dir, { recursive: true });
  cpSync(backup, dir, { recursive: true });
  const ids = await streamIds(f.redis, stream);
  return { dir, streamEnd: BigInt(ids[ids.length - 1]!.split('-')[0]!) };
}

it('refuses with EJOURNALID, while idle, a stream that goes past the restored journal, and acknowledges nothing', async () => {
  const { dir, streamEnd } = await restoredEngine('idle');
  const before = await streamIds(f.redis, 'idle');
  const engine = await Engine.open(dir, { store: 'files' });
  try {
    const cursor = engine.consumers.get('redis:idle').cursor;
    expect(engine.journal.headSeq).toBeLessThan(streamEnd);
    const replicator = await engine.replicate({ url: f.server.url, stream: 'idle' });
    const error = await outcome(replicator.caughtUp());
    expect(error?.code).toBe('EJOURNALID');
    expect(error?.message).toContain(`through seq ${streamEnd}`);
    for (let i = 0; i < 3; i++) await engine.fs.create(`/d/new${i}`);
    expect((await outcome(replicator.done))?.code).toBe('EJOURNALID');
    expect(engine.consumers.get('redis:idle').cursor).toBe(cursor);
    expect(await streamIds(f.redis, 'idle')).toEqual(before);
  } finally {
    await engine.close();
  }
});

it('refuses with EJOURNALID the restored engine’s new records at seqs the stream already holds, whatever their number', async () => {
  for (const [stream, creates] of [
    ['short', 3],
    ['even', 10],
    ['long', 40],
  ] as const) {
    const { dir } = await restoredEngine(stream);
    const before = await streamIds(f.redis, stream);
    const engine = await Engine.open(dir, { store: 'files' });
    try {
      const cursor = engine.consumers.get(`redis:${stream}`).cursor;
      for (let i = 0; i < creates; i++) await engine.fs.create(`/d/new${i}`);
      const replicator = await engine.replicate({ url: f.server.url, stream, batchRecords: 7 });
      const error = await outcome(replicator.caughtUp());
      expect(error?.code, stream).toBe('EJOURNALID');
      expect(engine.consumers.get(`redis:${stream}`).cursor, stream).toBe(cursor);
      expect(await streamIds(f.redis, stream), stream).toEqual(before);
    } finally {
      await engine.close();
    }
  }
});
