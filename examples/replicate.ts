/**
 * Replication: the changelog of an engine into a Redis stream, exactly once
 * by seq, for readers elsewhere (examples/redis-reader.ts is one).
 *
 *   node dist/examples/replicate.js redis://127.0.0.1:6379 [DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Engine } from 'fanlog';

const url = process.argv[2] ?? 'redis://127.0.0.1:6379';
const dir = process.argv[3] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-replicate-'));
/** Made here (no directory given): removed at the end, so that nothing is left in the temp dir. */
const madeHere = process.argv[3] === undefined;

const engine = await Engine.open(dir);
const replicator = await engine.replicate({ url, stream: 'changes', trim: 'acked' });
await engine.fs.mkdir('/projects');
for (let i = 0; i < 10; i++) await engine.fs.create(`/projects/file-${i}`, { size: 1000 * i }, { pid: 42, uid: 1000, gid: 1000 });
await replicator.caughtUp();
const { replicatedSeq, records, lagRecords } = replicator.stats();
console.log(`replicated through seq ${replicatedSeq}: ${records} records appended, lag ${lagRecords}`);
await replicator.stop();
await engine.close();
if (madeHere) rmSync(dir, { recursive: true, force: true });
