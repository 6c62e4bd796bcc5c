/**
 * `node dist/bench/pipeline-model.js [CPU_US...]`: would a pipelined commit
 * win on this disk? A model of the engine's closed loop on raw `node:fs`,
 * with the engine taken out so that only the commit policy varies.
 *
 * 64 workers each spend CPU_US of CPU on an operation (busy, as encoding
 * is), then wait for their record to be durable, then start the next. A
 * group-commit writer gathers what they append and makes it durable with one
 * write and one fdatasync per batch, acknowledging batches in order:
 *   depth 1            one batch in write and sync at a time (the journal today);
 *   depth 2            a second batch may be written and synced while the first syncs;
 *   depth D, split S   as depth D, and a batch starts as soon as S records wait,
 *                      so that its sync overlaps the CPU of the records after it.
 * Default CPU per operation: 7 µs (an engine operation, `cpu-per-op.js`) and
 * 2.5 µs (a bare journal append).
 */
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const WORKERS = 64;
const RECORD_BYTES = 200;
const RUN_MS = 1500;

interface Policy {
  depth: number;
  split: number;
}

const POLICIES: Policy[] = [
  { depth: 1, split: Infinity },
  { depth: 2, split: Infinity },
  { depth: 2, split: 32 },
  { depth: 3, split: 16 },
];

/** Busy for `us` microseconds: the model's stand-in for an operation's CPU. */
function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** A group-commit writer over one file, acknowledging batches in order. */
class ModelWriter {
  #waiting: (() => void)[] = [];
  #inFlight = 0;
  #scheduled = false;
  #acked: Promise<unknown> = Promise.resolve();
  #position = 0;
  readonly batchSizes: number[] = [];

  readonly #file: fsp.FileHandle;
  readonly #policy: Policy;
  constructor(file: fsp.FileHandle, policy: Policy) {
    this.#policy = policy;
    this.#file = file;
  }

  append(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#waiting.length >= this.#policy.split && this.#inFlight < this.#policy.depth) this.#start();
      else this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#start();
    });
  }

  #start(): void {
    if (this.#waiting.length === 0 || this.#inFlight >= this.#policy.depth) return;
    const batch = this.#waiting;
    this.#waiting = [];
    this.#inFlight++;
    this.batchSizes.push(batch.length);
    const bytes = Buffer.alloc(batch.length * RECORD_BYTES, 3);
    const at = this.#position;
    this.#position += bytes.length;
    const durable = this.#file.write(bytes, 0, bytes.length, at).then(() => this.#file.datasync());
    this.#acked = Promise.all([this.#acked, durable]).then(() => {
      this.#inFlight--;
      for (const resolve of batch) resolve();
      this.#schedule();
    });
  }
}

async function measure(file: fsp.FileHandle, policy: Policy, cpuUs: number): Promise<{ opsPerSecond: number; meanBatch: number }> {
  const writer = new ModelWriter(file, policy);
  let operations = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      spin(cpuUs);
      await writer.append();
      operations++;
    }
  };
  const started = performance.now();
  const timer = setTimeout(() => {
    stop = true;
  }, RUN_MS);
  await Promise.all(Array.from({ length: WORKERS }, worker));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  const sizes = writer.batchSizes;
  return { opsPerSecond: operations / seconds, meanBatch: sizes.reduce((a, b) => a + b, 0) / sizes.length };
}

const cpuArgs = process.argv.slice(2).map(Number);
if (cpuArgs.some((us) => !(us >= 0 && us < 1000))) {
  process.stderr.write('usage: node dist/bench/pipeline-model.js [CPU_US...]   (microseconds of CPU per operation, default 7 2.5)\n');
  process.exit(2);
}
const root = mkdtempSync(path.join(tmpdir(), 'fanlog-pipeline-'));
const file = await fsp.open(path.join(root, 'model.log'), 'a');
try {
  console.log(`${WORKERS} workers in a closed loop, ${RECORD_BYTES}-byte records, one write + fdatasync per batch; two rounds each, alternating`);
  console.log('| CPU per op | policy | operations/s (two rounds) | mean batch |');
  console.log('|---:|---|---:|---:|');
  for (const cpuUs of cpuArgs.length > 0 ? cpuArgs : [7, 2.5]) {
    const rows = POLICIES.map((policy) => ({ policy, rates: [] as number[], batch: 0 }));
    for (let round = 0; round < 2; round++) {
      for (const row of rows) {
        const { opsPerSecond, meanBatch } = await measure(file, row.policy, cpuUs);
        row.rates.push(opsPerSecond);
        row.batch = meanBatch;
      }
    }
    for (const { policy, rates, batch } of rows) {
      const name = `depth ${policy.depth}${policy.split === Infinity ? '' : `, split ${policy.split}`}`;
      const shown = rates.map((rate) => Math.round(rate).toLocaleString('en-US')).join(' / ');
      console.log(`| ${cpuUs} µs | ${name} | ${shown} | ${batch.toFixed(1)} |`);
    }
  }
} finally {
  await file.close();
  rmSync(root, { recursive: true, force: true });
}
