/**
 * What a pipelined commit could overlap: how many records are appended
 * while one of the journal's fdatasyncs is in flight. A pipelined commit
 * writes such records during the sync instead of after it; with none, there
 * is nothing to overlap, and the commit stays one write and one fdatasync
 * per batch. Measured on the real disk through an `Io` whose files report
 * their fdatasyncs, reading the journal's head before and after each.
 */
import { NodeIo } from '../journal/node-io.js';
import type { IoFile, IoOpenMode } from '../journal/io.js';
import type { BenchSettings } from './harness.js';

export interface OverlapCount {
  /** Records appended while counting. */
  records: bigint;
  /** Of them, those appended while an fdatasync was in flight. */
  duringSync: bigint;
  syncs: number;
}

/** A NodeIo whose files count fdatasyncs and the records appended during them, once `watch` names the journal's head. */
export class CountingIo extends NodeIo {
  #head: () => bigint = () => 0n;
  #startHead = 0n;
  readonly count: OverlapCount = { records: 0n, duringSync: 0n, syncs: 0 };

  override async open(file: string, mode: IoOpenMode): Promise<IoFile> {
    const handle = await super.open(file, mode);
    return {
      path: handle.path,
      size: () => handle.size(),
      read: (buffer, position) => handle.read(buffer, position),
      write: (data, position) => handle.write(data, position),
      truncate: (length) => handle.truncate(length),
      datasync: async () => {
        const before = this.#head();
        try {
          await handle.datasync();
        } finally {
          this.count.syncs++;
          this.count.duringSync += this.#head() - before;
        }
      },
      close: () => handle.close(),
    };
  }

  /** Reads the head of the journal written through this Io (`journal.headSeq`). */
  watch(head: () => bigint): void {
    this.#head = head;
  }

  /** Counts from zero. */
  reset(): void {
    this.#startHead = this.#head();
    Object.assign(this.count, { records: 0n, duringSync: 0n, syncs: 0 });
  }

  /** The count since the last reset. */
  total(): OverlapCount {
    return { ...this.count, records: this.#head() - this.#startHead };
  }
}

/** Runs `round` 200 times (10 quick) counting from zero, and prints what was appended during an fdatasync. */
export async function countOverlap(name: string, io: CountingIo, round: () => Promise<unknown>, settings: BenchSettings): Promise<void> {
  io.reset();
  for (let i = 0; i < (settings.quick ? 10 : 200); i++) await round();
  const { records, duringSync, syncs } = io.total();
  settings.log('what a pipelined commit could overlap (bench/overlap.ts):');
  settings.log(
    `  ${name.padEnd(36)}${duringSync.toLocaleString('en-US')} of ${records.toLocaleString('en-US')} records appended during an fdatasync (${(Number(records) / Math.max(1, syncs)).toFixed(1)} records per fdatasync)`,
  );
}
