/**
 * The writer beside which lock-free inspection is tried (the campaign's
 * `inspect` runs and test/cli/purge-race.test.ts): a child process that
 * holds an lmdb engine with the smallest segments and frequent checkpoints,
 * runs a seeded churn of files, and has a consumer read and acknowledge as
 * it goes, so that segments are created and purged all the time while the
 * readers look.
 *
 *   node dist/crash/inspect-writer.js DIR SEED OPS END
 *
 * END is what it does after OPS operations: `close` (takes a checkpoint,
 * whose store commit records the head as durable, closes the engine and
 * exits), or `hold` (keeps it open until killed). It reports on stdout, one
 * line each, what the parent's model needs:
 *
 *   ready               the engine is open, the consumer registered
 *   durable SEQ         the journal called SEQ durable after a call resolved
 *   acked NAME SEQ      NAME's ack of SEQ resolved
 *   closed SEQ          the engine closed cleanly with its head at SEQ,
 *                       which its store saw durable
 *
 * Writes to a pipe are synchronous on Linux: a line is out before the
 * process can be killed after it.
 */
import { Engine } from '../fanlog.js';
import { SEGMENT_BYTES_MIN } from '../journal/options.js';
import { Prng } from '../journal/prng.js';

export const INSPECT_CONSUMER = 'backup';
/** The writer's engine options: tiny segments, frequent checkpoints, so that purges follow one another. */
export const INSPECT_ENGINE = { store: 'lmdb', segmentBytesMax: SEGMENT_BYTES_MIN, checkpointEveryRecords: 24 } as const;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** One seeded filesystem call in /w; a POSIX failure (a name drawn twice) is part of the churn. */
async function churn(engine: Engine, prng: Prng, made: string[]): Promise<void> {
  const name = `/w/f${prng.int(40)}`;
  const call = prng.int(10);
  try {
    if (call < 4 || made.length === 0) {
      await engine.fs.create(name, { size: prng.int(4096) });
      made.push(name);
    } else if (call < 6) {
      await engine.fs.truncate(prng.pick(made), prng.int(8192));
    } else if (call < 8) {
      const from = made.splice(prng.int(made.length), 1)[0]!;
      await engine.fs.rename(from, name);
      made.push(name);
    } else {
      await engine.fs.unlink(made.splice(prng.int(made.length), 1)[0]!);
    }
  } catch (error) {
    if (!['ENOENT', 'EEXIST'].includes((error as { code?: string }).code ?? '')) throw error;
  }
}

async function main([dir, seedText, opsText, end]: string[]): Promise<void> {
  if (dir === undefined || !/^\d+$/.test(seedText ?? '') || !/^\d+$/.test(opsText ?? '') || !['close', 'hold'].includes(end ?? '')) {
    throw new Error('usage: inspect-writer DIR SEED OPS close|hold');
  }
  const prng = new Prng(Number(seedText));
  const engine = await Engine.open(dir, INSPECT_ENGINE);
  await engine.fs.mkdir('/w').catch((error: { code?: string }) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const consumer = await engine.consumers.register(INSPECT_CONSUMER, { from: 'oldest' });
  say('ready');
  const made: string[] = [];
  const ops = Number(opsText);
  // Half the writers stop acknowledging half-way: their consumer keeps several segments to the end.
  const ackUntil = prng.chance(0.5) ? ops : Math.floor(ops / 2);
  for (let op = 0; op < ops; op++) {
    await churn(engine, prng, made);
    say(`durable ${engine.journal.durableSeq}`);
    if (op < ackUntil && prng.chance(0.3)) {
      const batch = await consumer.read({ max: 200 });
      const last = batch[batch.length - 1];
      if (last !== undefined) {
        await consumer.ack(last.seq);
        say(`acked ${INSPECT_CONSUMER} ${last.seq}`);
      }
    }
  }
  if (end === 'hold') {
    await new Promise(() => setInterval(() => undefined, 1 << 30));
  }
  // The checkpoint's store commit writes the high-water mark: the store then saw the head durable.
  await engine.checkpoint();
  const head = engine.journal.headSeq;
  await engine.close();
  say(`closed ${head}`);
}

await main(process.argv.slice(2));
