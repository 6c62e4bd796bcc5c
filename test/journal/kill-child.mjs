// Child process for kill.test.ts: appends to a real journal with sync
// 'always' until it is killed, printing "ack <seq>" for every append that
// resolved. Each record's payload names its own seq and its entry's range,
// so the parent can check bytes and atomicity after the kill.
import { Journal, Prng } from '../../dist/index.js';

const [dir, seedText] = process.argv.slice(2);
const prng = new Prng(Number(seedText));
const journal = await Journal.open(dir, { segmentBytesMax: 64 * 1024 });
const encoder = new TextEncoder();

function payload(seq, first, last) {
  return encoder.encode(`seq=${seq} entry=${first}-${last} `.padEnd(20 + Number(seq % 200n), '#'));
}

process.stdout.write(`ready ${journal.headSeq}\n`);
for (;;) {
  const burst = [];
  for (let i = prng.between(1, 8); i > 0; i--) {
    const count = prng.between(1, 4);
    const first = journal.headSeq + 1n;
    const last = first + BigInt(count) - 1n;
    const payloads = [];
    for (let seq = first; seq <= last; seq++) payloads.push(payload(seq, first, last));
    burst.push(journal.appendEntry(payloads).then((seq) => process.stdout.write(`ack ${seq}\n`)));
  }
  await Promise.all(burst);
  if (prng.chance(0.02)) await journal.purge(journal.headSeq / 2n);
}
