// A remote reader that dies holding entries: it reads COUNT records of
// STREAM through group GROUP as consumer NAME, acknowledges none, prints
// `holding <seq> <seq> ...` and waits to be SIGKILLed (replication.test.ts).
import { RedisConsumer } from '../../dist/replication/index.js';

const [url, stream, group, name, count] = process.argv.slice(2);
const reader = await RedisConsumer.open({ url, stream, group, consumer: name });
const records = await reader.read({ max: Number(count) });
console.log(`ready holding ${records.map((record) => record.seq).join(' ')}`);
setInterval(() => undefined, 1 << 30); // until killed
