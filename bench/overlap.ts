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

export function describeOverlap(name: string, count: OverlapCount): string {
  return `  ${name.padEnd(36)}${count.duringSync.toLocaleString('en-US')} of ${count.entries.toLocaleString('en-US')} entries appended during an fdatasync (${(count.entries / Math.max(1, count.syncs)).toFixed(1)} entries per fdatasync)`;
}
