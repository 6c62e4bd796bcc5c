// Child process for kill.test.ts: filesystem operations on a real engine
// (lmdb store) while a consumer reads and acknowledges; prints
// "acked <seq>" after each acknowledgement resolved, until it is killed.
import { Engine, Prng } from '../../dist/index.js';

const [dir, seedText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const engine = await Engine.open(dir, { store: 'lmdb', checkpointEveryRecords: 100, segmentBytesMax: 16 * 1024 });
const consumer = engine.consumers.list().length === 0 ? await engine.consumers.register('backup') : engine.consumers.get('backup');
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  await engine.fs.create(`/f${seedText}-${i}`, { size: prng.int(1000) });
  if (prng.chance(0.3)) {
    const records = await consumer.read({ max: prng.between(1, 30) });
    if (records.length > 0) {
      const seq = prng.pick(records).seq;
      await consumer.ack(seq);
      process.stdout.write(`acked ${seq}\n`);
    }
  }
}
