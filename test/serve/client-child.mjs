// A process beside the engine's holder, for test/serve/server.test.ts.
//   read DIR NAME COUNT   attaches consumer NAME through the holder's socket,
//                         reads COUNT records without acknowledging them,
//                         prints `ready <seq> <seq> ...` and waits to be killed
//   connect DIR           connects to the holder's socket and prints
//                         `ready ok` or `ready <code>`, then exits
import { EngineClient, LocalConsumer } from '../../dist/index.js';

const [mode, dir, name, count] = process.argv.slice(2);
if (mode === 'read') {
  const reader = await LocalConsumer.open(dir, name);
  const records = await reader.read({ max: Number(count), waitMs: 10_000 });
  console.log(`ready ${records.map((record) => record.seq).join(' ')}`);
  setInterval(() => undefined, 2 ** 30);
} else if (mode === 'connect') {
  try {
    const client = await EngineClient.connect(dir);
    await client.list();
    await client.close();
    console.log('ready ok');
  } catch (error) {
    console.log(`ready ${error.code ?? error.message}`);
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
