// Child process for lock.test.ts. Arguments: DIR MODE.
//   MODE hold:  opens the journal, prints "open", and waits to be killed.
//   MODE race:  tries to open the journal; prints "busy" and exits on EBUSY,
//               else prints "open", appends 100 records one after another,
//               prints "done" and closes.
import { Journal } from '../../dist/journal/index.js';

const [dir, mode] = process.argv.slice(2);
let journal;
try {
  journal = await Journal.open(dir);
} catch (error) {
  if (error.code !== 'EBUSY') throw error;
  process.stdout.write('busy\n');
  process.exit(0);
}
process.stdout.write('open\n');
if (mode === 'hold') await new Promise(() => setInterval(() => undefined, 1000));
for (let i = 0; i < 100; i++) await journal.append(new TextEncoder().encode(`${process.pid} ${i}`));
process.stdout.write('done\n');
await journal.close();
