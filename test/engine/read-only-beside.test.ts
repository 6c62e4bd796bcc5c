/**
 * A read-only open beside the process that holds the engine (issue 30).
 * A child process (busy-holder-child.mjs) holds the engine and churns
 * files in it without pause, acknowledging a consumer and changing the
 * consumer catalog as it goes, with the smallest segments and frequent
 * checkpoints, so that purges follow one another; it prints the journal's
 * head and its files after every call.
 *
 * lmdb: this process opens the engine read-only again and again beside it.
 * Every open must succeed (never EBUSY, never damage that is not there)
 * and be one consistent moment of the holder: its files are exactly the
 * holder's at the head it opened at, every cursor lies between the last
 * ack printed before the open began and that head, the journal holds
 * everything the cursors and the checkpoint need, and `consumers.list()`,
 * `metrics()` and a consumer's `read()` work on it. The loop ends once it
 * has seen the holder purge and checkpoint several times, not after a time.
 *
 * level and files: a read-only open beside the holder is EBUSY saying why
 * that store cannot be read there and what works instead; with no holder it
 * takes the lock, as a writable open does.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { Engine, FanlogError } from '../../index.js';
import { type NodeChild, rejection, startNodeChild, tempDir } from '../helpers.js';

const HOLDER = fileURLToPath(new URL('./busy-holder-child.mjs', import.meta.url));

const holders: NodeChild[] = [];
afterEach(async () => {
  for (const holder of holders.splice(0)) {
    if (holder.child.exitCode === null && holder.child.signalCode === null) process.kill(holder.child.pid!, 'SIGKILL');
    await holder.exited;
  }
});

/** What the holder printed: its files by head seq, and the last ack. */
interface HolderLines {
  states: Map<bigint, string>;
  acked: bigint;
  /** Called with every line, after the maps are updated (a wait for a state). */
  onLine: (() => void) | null;
}

async function startHolder(dir: string, store: 'lmdb' | 'level' | 'files'): Promise<{ holder: NodeChild; lines: HolderLines }> {
  const lines: HolderLines = { states: new Map(), acked: 0n, onLine: null };
  const holder = await startNodeChild(HOLDER, [dir, store], (words) => {
    if (words[0] === 'state') lines.states.set(BigInt(words[1]!), words[2] ?? '');
    if (words[0] === 'acked') lines.acked = BigInt(words[1]!);
    lines.onLine?.();
  });
  holders.push(holder);
  return { holder, lines };
}

/** The holder's files after the call that left the head at `seq`, once it has printed them. */
function holderState(lines: HolderLines, seq: bigint): Promise<string> {
  return new Promise((resolve) => {
    const look = (): void => {
      const state = lines.states.get(seq);
      if (state === undefined) return;
      lines.onLine = null;
      resolve(state);
    };
    lines.onLine = look;
    look();
  });
}

/** The engine's files in /w as the holder prints them. */
async function digest(engine: Engine): Promise<string> {
  const files: string[] = [];
  for (const name of await engine.fs.readdir('/w')) files.push(`${name}=${(await engine.fs.stat(`/w/${name}`)).size}`);
  return files.join(',');
}

it('opens an lmdb engine read-only beside a busy holder, each open one consistent moment of it', async () => {
  const dir = path.join(tempDir(), 'engine');
  const { lines } = await startHolder(dir, 'lmdb');
  const oldest = new Set<bigint>();
  const checkpoints = new Set<bigint>();
  let opens = 0;
  let reads = 0;
  let purgedReads = 0;
  while (opens < 40 || oldest.size < 4 || checkpoints.size < 4) {
    const ackedBefore = lines.acked;
    const engine = await Engine.open(dir, { readOnly: true });
    opens++;
    try {
      const head = engine.journal.headSeq;
      const first = engine.journal.firstSeq;
      oldest.add(first);
      checkpoints.add(engine.checkpointSeq);
      expect(engine.readOnly).toBe(true);
      expect(engine.checkpointSeq).toBeLessThanOrEqual(head);
      expect(engine.checkpointSeq + 1n).toBeGreaterThanOrEqual(first);
      expect(await digest(engine)).toBe(await holderState(lines, head));
      const consumers = engine.consumers.list();
      const audit = consumers.find((consumer) => consumer.name === 'audit')!;
      expect(audit.cursor).toBeGreaterThanOrEqual(ackedBefore);
      for (const consumer of consumers) {
        expect(consumer.cursor, consumer.name).toBeLessThanOrEqual(head);
        // The journal holds every record a cursor has yet to read: the holder never purges past one.
        expect(consumer.cursor + 1n, consumer.name).toBeGreaterThanOrEqual(first);
      }
      const metrics = await engine.metrics();
      expect(metrics.seqs.head).toBe(head);
      expect(metrics.seqs.oldestRetained).toBe(first);
      expect(metrics.consumers.map((consumer) => [consumer.name, consumer.cursor])).toEqual(consumers.map((consumer) => [consumer.name, consumer.cursor]));
      try {
        const records = await engine.consumers.get('audit').read({ max: 50 });
        reads++;
        for (const record of records) {
          expect(record.seq).toBeGreaterThan(audit.cursor);
          expect(record.seq).toBeLessThanOrEqual(head);
        }
        expect(engine.consumers.get('audit').cursor).toBe(audit.cursor);
      } catch (error) {
        // What the open saw may since have been purged by the holder: only that may fail a read, and it is EPURGED.
        if (!(error instanceof FanlogError && error.code === 'EPURGED')) throw error;
        purgedReads++;
      }
    } finally {
      await engine.close();
    }
  }
  expect(reads).toBeGreaterThan(purgedReads);
});

it('opens an lmdb engine read-only without taking its lock: a holder can start beside it', async () => {
  const dir = path.join(tempDir(), 'engine');
  const made = await Engine.open(dir, { store: 'lmdb' });
  await made.fs.mkdir('/w');
  await made.close();
  const reader = await Engine.open(dir, { readOnly: true });
  try {
    const { lines } = await startHolder(dir, 'lmdb');
    expect(lines.states.size).toBeGreaterThan(0);
    expect(await reader.fs.readdir('/')).toEqual(['w']);
  } finally {
    await reader.close();
  }
});

it.each(['level', 'files'] as const)('refuses a read-only open of a %s engine beside its holder with EBUSY saying why and what works', async (store) => {
  const dir = path.join(tempDir(), 'engine');
  const { holder } = await startHolder(dir, store);
  const error = await rejection(() => Engine.open(dir, { readOnly: true }));
  expect(error).toBeInstanceOf(FanlogError);
  expect(error.code).toBe('EBUSY');
  expect(error.message).toContain(`process ${holder.child.pid}`);
  expect(error.message).toMatch(store === 'level' ? /LevelDB's LOCK/ : /consistent only under the engine's lock/);
  expect(error.message).toMatch(/fanlog stat.*tail/);
  holder.child.kill('SIGTERM');
  await holder.exited;
  // With no holder, the read-only open takes the lock, as before.
  const reader = await Engine.open(dir, { readOnly: true });
  try {
    expect((await rejection(() => Engine.open(dir))).code).toBe('EBUSY');
  } finally {
    await reader.close();
  }
});
