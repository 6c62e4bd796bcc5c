/**
 * A second process beside the application that holds the engine: an
 * indexer that reads a durable consumer through the holder's socket, with
 * no Redis and no lock of its own. The application creates files; the
 * indexer (this file again, in a child process) reads them, acknowledges,
 * and is killed half-way through a batch; a new indexer is given what the
 * dead one had not acknowledged.
 *
 *   node dist/examples/beside.js [DIR]     (default: a new temporary directory)
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, EngineClient, LocalConsumer } from 'fanlog';

if (process.argv[2] === '--indexer') {
  // The other process: it attaches the consumer through the application's socket.
  const [dir, name, acknowledge] = process.argv.slice(3) as [string, string, string];
  // EBUSY while another reader has it: a dead one's until the holder has seen it go.
  let indexer: LocalConsumer | null = null;
  while (indexer === null) {
    indexer = await LocalConsumer.open(dir, name, { register: { from: 'oldest' } }).catch(async (error: { code?: string }) => {
      if (error.code !== 'EBUSY') throw error;
      return new Promise<null>((resolve) => setTimeout(() => resolve(null), 20));
    });
  }
  const records = await indexer.read({ max: 3, waitMs: 10_000 });
  if (acknowledge === 'ack') await indexer.ack(records.at(-1)!.seq); // durable when it resolves
  process.send!(records.map((record) => `${record.seq} ${record.path}`));
  if (acknowledge === 'ack') await indexer.close();
  else setInterval(() => undefined, 1000); // holds its batch, unacknowledged, until it is killed
} else {
  const dir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-beside-'));
  const madeHere = process.argv[2] === undefined;
  // The application: it holds the engine, and serves it on <dir>/run/fanlog.sock (serve: false turns that off).
  const engine = await Engine.open(dir);
  await engine.fs.mkdir('/docs');
  for (const name of ['a', 'b', 'c', 'd', 'e']) await engine.fs.create(`/docs/${name}.txt`, { size: 100 });

  /** Runs the indexer in a process of its own: what it read, and the process. */
  const indexer = async (acknowledge: string): Promise<{ read: string[]; child: ReturnType<typeof fork> }> => {
    const child = fork(fileURLToPath(import.meta.url), ['--indexer', dir, 'index', acknowledge]);
    const read = await new Promise<string[]>((resolve) => child.once('message', (lines) => resolve(lines as string[])));
    return { read, child };
  };
  const first = await indexer('ack');
  console.log(`indexer 1 read and acknowledged: ${first.read.join(', ')}`);
  const second = await indexer('hold');
  console.log(`indexer 2 read: ${second.read.join(', ')}; then it was killed`);
  second.child.kill('SIGKILL');
  await new Promise((resolve) => second.child.once('exit', resolve));
  // Any process of the user can ask the holder, too.
  const client = await EngineClient.connect(dir);
  const [info] = await client.list();
  console.log(`the holder says: consumer ${info!.name} at cursor ${info!.cursor}`);
  await client.close();
  // The dead indexer's batch is let go, rewound: the next indexer is given it again.
  const third = await indexer('ack');
  console.log(`indexer 3 read and acknowledged: ${third.read.join(', ')}`);
  await engine.close();
  if (madeHere) rmSync(dir, { recursive: true, force: true });
}
