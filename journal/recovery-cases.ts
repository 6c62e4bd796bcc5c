/**
 * Recovery's case table: what `Journal.open` does with each thing it finds
 * in a journal directory, as data the code dispatches on (TigerBeetle's
 * `recovery_cases`). recovery.ts walks the directory and says why the
 * torn-tail rule is sound; this file says what is decided, case by case.
 *
 * A case is a row: the conditions it needs (true or false; a condition it
 * leaves out may be either) and the action recovery takes. The cases are
 * grouped by what they are about, in the order recovery meets it:
 *
 *   subject   about                                  conditions
 *   --------  -------------------------------------  -----------------------------------------
 *   entry     each name in the directory             segmentName (<20 digits>.seg)
 *   header    each segment's header, unless the      sound (whole, magic, checksum, version),
 *             recovery point vouches for the         newest (highest first seq), headerOnly
 *             segment (recovery-point.ts)            (nothing past it), nameAgrees (first seq)
 *   frame     each frame of that segment, in order   sound, records (or a purge mark), seqFits
 *                                                    (records: the next seq; a purge mark: at
 *                                                    most the last record), newest, writtenSince
 *                                                    (sound when read again, and once more after
 *                                                    soundAfter: written beside a lock-free
 *                                                    reader after the scan read it), zerosAfter
 *                                                    (from it to the end, zeros: zero-tail.ts),
 *                                                    soundAfter (a sound frame after it, not of
 *                                                    the write it is in: frame.ts batch delta)
 *   segment   each segment, against the first one    journalAgrees (the same journal id)
 *   sequence  each segment in seq order, once all    purgedThrough, oldestKept, startsAfter and
 *             were scanned                           startsBefore the seq expected
 *   journal   the directory, once all was checked    segmentsKept
 *
 * For every subject, exactly one case matches each combination of its
 * conditions. That is checked when this module loads, where each subject's
 * cases are compiled into a lookup of every combination (so dispatching is
 * a few bit operations), and on its own by test/journal/recovery-cases.test.ts.
 * A condition that every case of the combination leaves out need not be
 * evaluated, and is passed as false: recovery reads the rest of a file for
 * `writtenSince`, `zerosAfter` and `soundAfter` only for a damaged frame of
 * the newest segment.
 *
 * Every action other than 'corrupt' is a step of recovery; 'corrupt' throws
 * the ECORRUPT its case builds, naming the file and the byte offset, and
 * nothing has been repaired yet when it does (recovery.ts).
 */
import assert from 'node:assert/strict';
import { corrupt, type FanlogError } from '../errors.js';
import type { ByteOffset, JournalId, Seq } from './types.js';

/** Each subject's conditions, in the order of the bits of a combination. */
export const RECOVERY_CONDITIONS = {
  entry: ['segmentName'],
  header: ['sound', 'newest', 'headerOnly', 'nameAgrees'],
  frame: ['sound', 'records', 'seqFits', 'newest', 'writtenSince', 'zerosAfter', 'soundAfter'],
  segment: ['journalAgrees'],
  sequence: ['purgedThrough', 'oldestKept', 'startsAfter', 'startsBefore'],
  journal: ['segmentsKept'],
} as const;

export type RecoverySubject = keyof typeof RECOVERY_CONDITIONS;
/** What was found about one thing of `S`: a value for each of its conditions. */
export type Found<S extends RecoverySubject> = Record<(typeof RECOVERY_CONDITIONS)[S][number], boolean>;

/** What an ECORRUPT of each subject is built from. */
export interface RecoveryContexts {
  entry: never;
  header: { file: string; offset: ByteOffset; damage: string; firstSeq: Seq; nameSeq: Seq };
  frame: { file: string; offset: ByteOffset; damage: string; seq: Seq; lastSeq: Seq };
  segment: { file: string; journalId: JournalId; firstJournalId: JournalId };
  /** `previousLastSeq`: for the oldest kept segment, the last purge mark, as if a segment had ended there. */
  sequence: { file: string; firstSeq: Seq; expectedSeq: Seq; previousName: string; previousLastSeq: Seq };
  journal: never;
}

/** The steps each subject's cases may take, besides 'corrupt'. */
interface RecoveryActions {
  entry: 'ignore' | 'scan';
  header: 'remove' | 'scan frames';
  frame: 'take records' | 'take purge mark' | 'end' | 'cut tail';
  segment: 'keep';
  sequence: 'finish purge' | 'keep';
  journal: 'create' | 'resume';
}

/** One row of the table. `found` is what it is about, in words; `does`, the action in words. */
export type RecoveryCase<S extends RecoverySubject> = { found: string; when: Partial<Found<S>>; does: string } & (
  { action: RecoveryActions[S] } | { action: 'corrupt'; error: (context: RecoveryContexts[S]) => FanlogError }
);

type CaseTable = { readonly [S in RecoverySubject]: readonly RecoveryCase<S>[] };

export const RECOVERY_CASES: CaseTable = {
  entry: [
    { found: 'files not named like segments (LOCK, ...)', when: { segmentName: false }, action: 'ignore', does: 'ignored' },
    { found: 'a segment file', when: { segmentName: true }, action: 'scan', does: 'checked, in seq order' },
  ],
  header: [
    {
      found: 'last segment: header short or damaged, no frames',
      when: { sound: false, newest: true, headerOnly: true },
      action: 'remove',
      does: 'creation torn by a crash: file removed, reported',
    },
    {
      found: 'any other segment: header short or damaged',
      when: { sound: false, newest: false },
      action: 'corrupt',
      does: 'ECORRUPT (file, offset)',
      error: (c) => corrupt(c.file, c.offset, c.damage),
    },
    {
      found: 'last segment: header short or damaged, bytes after it',
      when: { sound: false, newest: true, headerOnly: false },
      action: 'corrupt',
      does: 'ECORRUPT (file, offset)',
      error: (c) => corrupt(c.file, c.offset, c.damage),
    },
    {
      found: 'header firstSeq differs from the file name',
      when: { sound: true, nameAgrees: false },
      action: 'corrupt',
      does: 'ECORRUPT (duplicated or renamed segment)',
      error: (c) => corrupt(c.file, 24, `header says first seq ${c.firstSeq} but the name says ${c.nameSeq} (duplicated or renamed segment)`),
    },
    { found: 'a sound header naming its own first seq', when: { sound: true, nameAgrees: true }, action: 'scan frames', does: 'its frames are checked' },
  ],
  frame: [
    { found: 'sound records frame with the next seq', when: { sound: true, records: true, seqFits: true }, action: 'take records', does: 'taken' },
    {
      found: 'sound frame whose seq is not the next one',
      when: { sound: true, records: true, seqFits: false },
      action: 'corrupt',
      does: 'ECORRUPT (gap or duplicate)',
      error: (c) => corrupt(c.file, c.offset, `entry starts at seq ${c.seq}, expected ${c.lastSeq + 1n}`),
    },
    { found: 'sound purge mark, at most the last record', when: { sound: true, records: false, seqFits: true }, action: 'take purge mark', does: 'taken' },
    {
      found: 'sound purge mark beyond the last record',
      when: { sound: true, records: false, seqFits: false },
      action: 'corrupt',
      does: 'ECORRUPT',
      error: (c) => corrupt(c.file, c.offset, `purge mark ${c.seq} is beyond the last record ${c.lastSeq}`),
    },
    {
      found: 'last segment: a bad frame that is sound when read again',
      when: { sound: false, newest: true, writtenSince: true },
      action: 'end',
      does: 'the end of data as this reader found it: a writer beside a lock-free reader wrote there after the scan read it',
    },
    {
      found: 'last segment: zeros from here to its end',
      when: { sound: false, newest: true, writtenSince: false, zerosAfter: true },
      action: 'end',
      does: 'the end of data: the zero tail written ahead (zero-tail.ts), nothing to repair',
    },
    {
      found: 'last segment: bad frame, no sound frame after it but of the write it is in',
      when: { sound: false, newest: true, writtenSince: false, zerosAfter: false, soundAfter: false },
      action: 'cut tail',
      does: 'torn tail: cut off (truncate + fdatasync), reported',
    },
    {
      found: 'last segment: bad frame, a sound frame of another write after it',
      when: { sound: false, newest: true, writtenSince: false, zerosAfter: false, soundAfter: true },
      action: 'corrupt',
      does: 'ECORRUPT (damage in the middle)',
      error: (c) => corrupt(c.file, c.offset, `${c.damage} with sound entries after it`),
    },
    {
      found: 'any other segment: bad frame or trailing bytes',
      when: { sound: false, newest: false },
      action: 'corrupt',
      does: 'ECORRUPT',
      error: (c) => corrupt(c.file, c.offset, c.damage),
    },
  ],
  segment: [
    {
      found: "journalId differs from the first segment's",
      when: { journalAgrees: false },
      action: 'corrupt',
      does: 'ECORRUPT (foreign segment)',
      error: (c) => corrupt(c.file, 16, `segment belongs to journal ${c.journalId}, not ${c.firstJournalId}`),
    },
    { found: "journalId is the first segment's", when: { journalAgrees: true }, action: 'keep', does: 'kept' },
  ],
  sequence: [
    {
      found: 'segments wholly at or below the last purge mark (but the last)',
      when: { purgedThrough: true },
      action: 'finish purge',
      does: 'a purge a crash interrupted: finished',
    },
    {
      found: 'first segment starts after the last purge mark + 1',
      when: { purgedThrough: false, oldestKept: true, startsAfter: true },
      action: 'corrupt',
      does: 'ECORRUPT (an unpurged segment is missing)',
      error: (c) => corrupt(c.file, 24, `records ${c.expectedSeq}..${c.firstSeq - 1n} are missing but were never purged (segment missing)`),
    },
    {
      found: 'first segment starts at or before the last purge mark + 1',
      when: { purgedThrough: false, oldestKept: true, startsAfter: false },
      action: 'keep',
      does: 'kept',
    },
    {
      found: "firstSeq after the previous segment's last + 1",
      when: { purgedThrough: false, oldestKept: false, startsAfter: true },
      action: 'corrupt',
      does: 'ECORRUPT (segment missing)',
      error: (c) => corrupt(c.file, 24, `records ${c.expectedSeq}..${c.firstSeq - 1n} are missing (segment missing)`),
    },
    {
      found: 'firstSeq before it',
      when: { purgedThrough: false, oldestKept: false, startsAfter: false, startsBefore: true },
      action: 'corrupt',
      does: 'ECORRUPT (duplicated records)',
      error: (c) => corrupt(c.file, 24, `first seq ${c.firstSeq} overlaps ${c.previousName}, which ends at ${c.previousLastSeq} (duplicated segment)`),
    },
    {
      found: "firstSeq the previous segment's last + 1",
      when: { purgedThrough: false, oldestKept: false, startsAfter: false, startsBefore: false },
      action: 'keep',
      does: 'kept',
    },
  ],
  journal: [
    { found: 'no segment files (or only a torn creation)', when: { segmentsKept: false }, action: 'create', does: 'new, empty journal' },
    { found: 'segments kept', when: { segmentsKept: true }, action: 'resume', does: 'opened; appends go to the last' },
  ],
};

/** The combination `index` stands for: bit i is condition i of the subject. */
export function foundOf<S extends RecoverySubject>(subject: S, index: number): Found<S> {
  const found: Record<string, boolean> = {};
  RECOVERY_CONDITIONS[subject].forEach((condition, i) => (found[condition] = (index & (1 << i)) !== 0));
  return found as Found<S>;
}

/** Every case of `subject` that matches `found` (exactly one, in a sound table). */
export function casesMatching<S extends RecoverySubject>(subject: S, found: Found<S>): RecoveryCase<S>[] {
  const cases = RECOVERY_CASES[subject] as readonly RecoveryCase<S>[];
  return cases.filter((row) => Object.entries(row.when).every(([condition, value]) => found[condition as keyof Found<S>] === value));
}

/** The cases of `subject` by combination, checked to be exactly one for each. */
function compile<S extends RecoverySubject>(subject: S): readonly RecoveryCase<S>[] {
  return Array.from({ length: 2 ** RECOVERY_CONDITIONS[subject].length }, (_, index) => {
    const matching = casesMatching(subject, foundOf(subject, index));
    if (matching.length !== 1) assert.fail(`recovery cases: ${matching.length} '${subject}' cases match ${JSON.stringify(foundOf(subject, index))}`);
    return matching[0]!;
  });
}

const COMPILED: CaseTable = {
  entry: compile('entry'),
  header: compile('header'),
  frame: compile('frame'),
  segment: compile('segment'),
  sequence: compile('sequence'),
  journal: compile('journal'),
};

/** The one case of `subject` that matches `found`. */
export function recoveryCase<S extends RecoverySubject>(subject: S, found: Found<S>): RecoveryCase<S> {
  const conditions = RECOVERY_CONDITIONS[subject] as readonly (keyof Found<S>)[];
  let index = 0;
  for (let i = 0; i < conditions.length; i++) if (found[conditions[i]!]) index |= 1 << i;
  return (COMPILED[subject] as readonly RecoveryCase<S>[])[index]!;
}
