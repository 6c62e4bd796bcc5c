/**
 * What a pipelined commit could overlap: how many entries are appended
 * while one of the journal's fdatasyncs is in flight. A pipelined commit
 * writes such entries during the sync instead of after it; with none, there
 * is nothing to overlap, and the commit stays one write and one fdatasync
 * per batch. Measured on the real disk through an `Io` that counts, for a
 * workload of `rounds` rounds of `concurrency` callers.
 */
import { NodeIo } from '../journal/node-io.js';
import type { Io, IoFile } from '../journal/io.js';
import type { BenchSettings } from './harness.js';

export interface OverlapCount {
  entries: number;
  /** Entries appended while an fdatasync was in flight. */
  duringSync: number;
  syncs: number;
}

/** A NodeIo whose files count fdatasyncs in flight; `appended()` is called by the workload's journal hook. */
export class CountingIo extends NodeIo {
  private inFlight = 0;
  readonly count: OverlapCount = { entries: 0, duringSync: 0, syncs: 0 };

  override async open(file: string, mode: Parameters<Io['open']>[1]): Promise<IoFile> {
    const handle = await super.open(file, mode);
    const datasync = handle.datasync.bind(handle);
    handle.datasync = async () => {
      this.inFlight++;
      this.count.syncs++;
      try {
        await datasync();
      } finally {
        this.inFlight--;
      }
    };
    return handle;
  }

  /** One entry is being appended now. */
  appended(): void {
    this.count.entries++;
    if (this.inFlight > 0) this.count.duringSync++;
  }

  reset(): void {
    Object.assign(this.count, { entries: 0, duringSync: 0, syncs: 0 });
  }
}

/** Wraps a journal's appendRecords so that every entry is counted by `io`. */
export function countAppends(journal: { appendRecords: (...args: never[]) => Promise<bigint> }, io: CountingIo): void {
  const original = journal.appendRecords.bind(journal);
  journal.appendRecords = ((...args: never[]) => {
    io.appended();
    return original(...args);
  }) as typeof journal.appendRecords;
}

/** Runs `round` 200 times (10 quick) counting from zero, and prints what was appended during an fdatasync. */
export async function countOverlap(name: string, io: CountingIo, round: () => Promise<unknown>, settings: BenchSettings): Promise<void> {
  io.reset();
  for (let i = 0; i < (settings.quick ? 10 : 200); i++) await round();
  const { entries, duringSync, syncs } = io.count;
  settings.log('what a pipelined commit could overlap (bench/overlap.ts):');
  settings.log(`  ${name.padEnd(36)}${duringSync.toLocaleString('en-US')} of ${entries.toLocaleString('en-US')} entries appended during an fdatasync (${(entries / Math.max(1, syncs)).toFixed(1)} entries per fdatasync)`);
}
