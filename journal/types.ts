/**
 * Names for the numbers the journal deals in. They are plain `bigint` and
 * `number` underneath; the names say which is which in every signature.
 */

/** A record's sequence number: unsigned 64-bit, from 1, never reused. */
export type Seq = bigint;
/** A random 64-bit id chosen when a journal is created. */
export type JournalId = bigint;
/** A byte position inside a file. */
export type ByteOffset = number;

export const SEQ_MAX: Seq = 0xffff_ffff_ffff_ffffn;
