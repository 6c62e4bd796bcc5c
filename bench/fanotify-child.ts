/**
 * `node dist/bench/fanotify-child.js reader FILE MS | storm DIR MS RATE`:
 * the fanotify bench's reader and storm in Node, for a machine without gcc,
 * where bench/fanotify-handler.c cannot be built. They do what its modes of
 * the same names do and print the same output (see its header): a reader
 * writes u64 operations, u64 elapsed ns and a u32 latency in ns per
 * operation, in binary and host order; a storm prints "cycles N
 * elapsed_ns E". They cost more CPU than the C ones, so figures taken with
 * them are lower, and the bench says which ran.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [mode, target, msText, rateText] = process.argv.slice(2);
const ms = Number(msText);
if ((mode !== 'reader' && mode !== 'storm') || target === undefined || !(ms > 0)) {
  process.stderr.write('usage: node dist/bench/fanotify-child.js reader FILE MS | storm DIR MS RATE\n');
  process.exit(2);
}

const nowNs = (): bigint => process.hrtime.bigint();

function reader(file: string): void {
  const buffer = Buffer.alloc(4096);
  let latencies = new Uint32Array(1 << 16);
  let operations = 0;
  const started = nowNs();
  const deadline = started + BigInt(ms) * 1_000_000n;
  let before = started;
  while (before < deadline) {
    const fd = openSync(file, 'r');
    readSync(fd, buffer, 0, buffer.length, 0);
    closeSync(fd);
    const after = nowNs();
    if (operations === latencies.length) {
      const grown = new Uint32Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[operations++] = Number(after - before > 0xffffffffn ? 0xffffffffn : after - before);
    before = after;
  }
  const header = Buffer.alloc(16);
  header.writeBigUInt64LE(BigInt(operations), 0);
  header.writeBigUInt64LE(before - started, 8);
  writeSync(1, header);
  writeSync(1, new Uint8Array(latencies.buffer, 0, operations * 4));
}

async function storm(dir: string, rate: number): Promise<void> {
  const started = nowNs();
  const deadline = started + BigInt(ms) * 1_000_000n;
  let cycles = 0;
  let at = started;
  while (at < deadline) {
    // Paced: cycle n starts n/rate seconds after the first; a timer sleeps at least 1 ms, so it waits only that far behind.
    if (rate > 0 && Number(started + BigInt(Math.floor((cycles * 1e9) / rate)) - at) > 1e6) await sleep(1);
    const name = `${dir}/f${cycles}`;
    closeSync(openSync(name, 'w'));
    unlinkSync(name);
    cycles++;
    at = nowNs();
  }
  process.stdout.write(`cycles ${cycles} elapsed_ns ${at - started}\n`);
}

if (mode === 'reader') reader(target);
else await storm(target, Number(rateText ?? 0));
