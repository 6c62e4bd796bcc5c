// A busy holder of an engine, for read-only-beside.test.ts: it opens DIR
// with STORE (the smallest segments and a checkpoint every 24 records, so
// that purges follow one another), registers the consumer `audit`, and
// churns files in /w until SIGTERM, when it closes the engine and exits.
// Now and then it reads and acknowledges `audit`, and registers or
// deregisters a consumer `passing`: store commits that let the next purge
// go further, and that change a catalog. It prints, one line each:
//
//   ready PID             the engine is open (and its first state printed)
//   state SEQ DIGEST      the journal's head after a call resolved, and /w
//                         then: `name=size` of each file, sorted, joined by ','
//   acked SEQ             the ack of `audit` through SEQ resolved
//
// Writes to a pipe are synchronous on Linux: a line is out before the
// process can be killed after it.
import { Engine } from '../../dist/index.js';

const [dir, store] = process.argv.slice(2);
const engine = await Engine.open(dir, { store, segmentBytesMax: 4096, checkpointEveryRecords: 24 });
const say = (line) => void process.stdout.write(`${line}\n`);

async function digest() {
  const names = await engine.fs.readdir('/w');
  const files = [];
  for (const name of names) files.push(`${name}=${(await engine.fs.stat(`/w/${name}`)).size}`);
  return files.join(',');
}

await engine.fs.mkdir('/w').catch((error) => {
  if (error.code !== 'EEXIST') throw error;
});
const audit = await engine.consumers.open('audit', { from: 'oldest' });
say(`state ${engine.journal.headSeq} ${await digest()}`);
say(`ready ${process.pid}`);

let stopping = false;
process.once('SIGTERM', () => (stopping = true));
const made = [];
for (let op = 0; !stopping; op++) {
  const name = `/w/f${op % 40}`;
  try {
    if (op % 5 < 2 || made.length === 0) {
      await engine.fs.create(name, { size: op % 4096 });
      made.push(name);
    } else if (op % 5 === 2) {
      await engine.fs.truncate(made[op % made.length], (op * 7) % 8192);
    } else if (op % 5 === 3) {
      await engine.fs.rename(made.splice(op % made.length, 1)[0], name);
      made.push(name);
    } else {
      await engine.fs.unlink(made.splice(op % made.length, 1)[0]);
    }
  } catch (error) {
    // A name taken twice, or one taken away: part of the churn, and journaled nowhere.
    if (!['ENOENT', 'EEXIST'].includes(error.code)) throw error;
  }
  say(`state ${engine.journal.headSeq} ${await digest()}`);
  if (op % 3 === 0) {
    const batch = await audit.read({ max: 200 });
    const last = batch[batch.length - 1];
    if (last !== undefined) {
      await audit.ack(last.seq);
      say(`acked ${last.seq}`);
    }
  }
  if (op % 10 === 0) {
    if (op % 20 === 0) await engine.consumers.register('passing', { from: 'next' });
    else await engine.consumers.deregister('passing');
  }
}
await engine.close();
process.exit(0);
