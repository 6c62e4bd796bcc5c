/**
 * A child process (or worker thread) of the crash campaign's real-disk
 * runs, which opens an engine where the parent must not risk it:
 *
 *   snapshot DIR STORE   opens the engine and prints one JSON line: the
 *                        snapshot of damage.ts, or the error's code; a
 *                        crash by a signal shows in the exit status
 *   probe DIR STORE      tries to open the engine and prints 'open' (then
 *                        closes it) or the error's code: lock contention
 *   race DIR STORE N     tries to open the engine; if it gets it, makes N
 *                        directories one after another, printing
 *                        'made PATH SEQ' once each is durable, then closes;
 *                        prints 'busy' when the engine is locked
 *
 * As a worker thread it takes { mode, dir, store } as workerData and posts
 * the line instead of printing it.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../fanlog.js';
import type { StoreKind } from '../store/meta-store.js';
import { engineSnapshot } from './damage.js';

/** What a worker thread is given, as the command line's words are to a process. */
interface OpenWork {
  mode: string;
  dir: string;
  store: string;
  count?: number;
}

const work = workerData as OpenWork;
const [mode, dir, store, countText] = isMainThread ? process.argv.slice(2) : [work.mode, work.dir, work.store, String(work.count ?? 0)];
const say = (line: string): void => {
  if (isMainThread) process.stdout.write(`${line}\n`);
  else parentPort!.postMessage(line);
};

let engine: Engine;
try {
  engine = await Engine.open(dir!, { store: store as StoreKind, segmentBytesMax: 8192 });
} catch (error) {
  const code = (error as { code?: string }).code ?? (error as Error).name;
  if (mode === 'snapshot') say(JSON.stringify({ ok: false, code, message: String((error as Error).message) }));
  else say(mode === 'race' && code === 'EBUSY' ? 'busy' : code);
  process.exit(0);
}
if (mode === 'snapshot') say(JSON.stringify({ ok: true, snapshot: engineSnapshot(engine) }));
else if (mode === 'probe') say('open');
else {
  say('open');
  for (let i = 0; i < Number(countText); i++) {
    const made = `/racer-${process.pid}-${i}`;
    await engine.fs.mkdir(made);
    say(`made ${made} ${engine.journal.durableSeq}`);
  }
}
await engine.close();
