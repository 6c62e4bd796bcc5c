/**
 * `fanlog/journal`: the durable log under the engine, for a log of your
 * own: the journal, its readers and follower, and the Io it writes through.
 * MemoryIo, the simulated disk for crash tests, is in `fanlog/testing`.
 *
 * @module fanlog/journal
 */
export type { Io, IoFile, IoLock, IoOpenMode } from './io.js';
export { NodeIo, type NodeIoOptions } from './node-io.js';
export { Journal, type JournalOptions, type ReadRange, type SyncPolicy } from './journal.js';
export type { ByteWriter } from './byte-writer.js';
export { JournalReader, type JournalRecord, type RecordVisitor } from './reader.js';
export { JournalFollower } from './follower.js';
export type { RecoveryReport } from './recovery.js';
export type { ByteOffset, JournalId, Seq } from './types.js';
