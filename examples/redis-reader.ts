/**
 * A remote reader of a replicated changelog: no engine, only Redis. It
 * reads through a consumer group (restartable: what it did not acknowledge
 * comes back; what a dead reader of its group held is claimed), prints each
 * record and acknowledges the batch after.
 *
 *   node dist/examples/redis-reader.js redis://127.0.0.1:6379
 */
import { maskNames } from 'fanlog';
import { RedisConsumer } from 'fanlog/redis';

const url = process.argv[2] ?? 'redis://127.0.0.1:6379';

const reader = await RedisConsumer.open({ url, stream: 'changes', group: 'backup', consumer: 'worker-1' });
for (let records = await reader.read({ max: 100, waitMs: 500 }); records.length > 0; records = await reader.read({ max: 100 })) {
  for (const record of records) console.log(`${record.seq} ${maskNames(record.mask ?? 0n).join('|')} ${record.path ?? ''} uid=${record.uid} gid=${record.gid}`);
  await reader.ack(records);
}
reader.close();
