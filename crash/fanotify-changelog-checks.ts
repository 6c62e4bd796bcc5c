/**
 * What a changelog run of the fanotify campaign (fanotify-run.ts) checks
 * of the journal once the supervisor has exited: a supervised changelog
 * loses nothing silently. The kernel never queues an event again once it
 * was read, so a handler killed between its read and its journal loses
 * what it read; the read tally (kernel/read-tally.ts) makes the next
 * handler, or the supervisor's stop, journal a loss note naming it.
 *
 *   changes   each change the change maker was told to make was made
 *   records   every changelog record (an event record of op `external`)
 *             is of source 'fanotify', by the change maker (its tid), and
 *             one of its changes' events: its name and each of its mask
 *             bits one the change raises (fanotify-plan.ts), a FAN_RENAME
 *             with the old name too
 *   once      each event of each change is in at most one record: more is
 *             an event journaled twice
 *   or said   an event in none is lost, and must be covered by a loss
 *             note of the tally, one that
 *               names a handler this run started and saw killed, that
 *               died after the change was asked for (this process heard
 *               of the death after it told the change maker): the
 *               handler could have read the event;
 *               is journaled after every record of the changes before
 *               it and before every record of those after it (the kernel
 *               queues a change's events after the last change's, reads
 *               give them in order, and the next handler journals its
 *               note before anything it reads): the note is at the gap
 *   notes     every loss note of the tally names a handler this run saw
 *             killed. A note where nothing was lost is no violation: the
 *             tally's window is a system call wide, and a kill after the
 *             journal's write and before its fdatasync leaves one too
 *             (docs/guide/fanotify.md); several deaths before a note is
 *             journaled give one note, naming the last, which covers
 *             them all by the rule above.
 *
 * What this cannot tell apart: an event lost silently by the next handler
 * right after a real loss, of a change asked for before the dead one died,
 * sits at the same gap as that loss, and its note covers it.
 *
 * The plan names no file in two changes, so the kernel merges no two
 * changes' events (it merges events of one name), and each record is one
 * change's. Violations count under invariant 10's promise, kept by the
 * kernel's changelog as by a mirror: the changelog is the filesystem's
 * changes, or a loss note says where it may not be.
 */
import type { RecordView } from '../engine/record/record.js';
import { FAN_CREATE, FAN_DELETE, FAN_MODIFY, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_RENAME, maskNames, type Mask } from '../engine/notify/masks.js';
import type { ChangeOutcome } from './fanotify-changes.js';
import type { Change } from './fanotify-plan.js';
import type { Model } from './model.js';

const INVARIANT = 10;
/**
 * The loss note of the read tally (kernel/supervisor.ts handlerExited). A
 * loss note is a reason and a path, no more: the handler it names is in
 * its text only, so the check reads it there.
 */
const TALLY_NOTE = /^a changelog handler \(pid (\d+)\) .* holding kernel events it had read and not journaled/;

/** A handler the supervisor started, in order: whether it was SIGKILLed, and when the run heard of its death (performance.now()). */
export interface HandlerLife {
  pid: number;
  killed: boolean;
  diedSeenAt: number | null;
}

export interface ChangelogRun {
  /** The change maker's, and its main thread's tid: every change's events are its. */
  pid: number;
  outcomes: readonly ChangeOutcome[];
  lives: readonly HandlerLife[];
}

/** Whether `record` is the read tally's loss note: judged here, not by the permission checks. */
export function isTallyNote(record: RecordView): boolean {
  return record.kind === 'note' && record.op === 'loss' && TALLY_NOTE.test(record.reason ?? '');
}

/** One event a change raises: its bit, the name it carries, and a rename's old name. */
interface Expected {
  change: number;
  bit: Mask;
  name: string;
  oldName?: string;
  /** The seqs of the records that hold it. */
  seqs: bigint[];
}

function expectedOf(change: Change, index: number): Expected[] {
  const one = (bit: Mask, name: string, oldName?: string): Expected => ({ change: index, bit, name, seqs: [], ...(oldName === undefined ? {} : { oldName }) });
  if (change.kind === 'create' || change.kind === 'fill') return [one(FAN_CREATE, change.name)];
  if (change.kind === 'write') return [one(FAN_MODIFY, change.name)];
  if (change.kind === 'delete') return [one(FAN_DELETE, change.name)];
  return [one(FAN_RENAME, change.to!, change.name), one(FAN_MOVED_FROM, change.name), one(FAN_MOVED_TO, change.to!)];
}

const describeChange = (change: Change): string => `${change.kind} ${change.name}${change.to === undefined ? '' : ` to ${change.to}`}`;

export function checkChangelog(records: readonly { seq: bigint; record: RecordView }[], run: ChangelogRun, model: Model, where: string): void {
  for (const { change, failure } of run.outcomes) {
    model.check(INVARIANT, failure === null, () => `${where}: the change maker could not ${describeChange(change)}: ${failure}`);
  }
  const expected = run.outcomes.flatMap(({ change }, index) => expectedOf(change, index));
  matchRecords(records, expected, run.pid, model, where);
  const notes = tallyNotes(records, run.lives, model, where);
  const seqs: bigint[][] = run.outcomes.map(() => []);
  for (const one of expected) seqs[one.change]!.push(...one.seqs);
  for (const one of expected) {
    const { change, sentAt } = run.outcomes[one.change]!;
    const what = `${where}: the ${maskNames(one.bit).join('|')} of ${describeChange(change)} (change ${one.change})`;
    if (one.seqs.length > 0) {
      model.check(INVARIANT, one.seqs.length === 1, () => `${what} was journaled ${one.seqs.length} times, at ${one.seqs.join(', ')}`);
      continue;
    }
    const before = seqs.slice(0, one.change).flat();
    const after = seqs.slice(one.change + 1).flat();
    const covered = notes.some(
      ({ seq, life }) => life.diedSeenAt !== null && life.diedSeenAt > sentAt && before.every((at) => at < seq) && after.every((at) => at > seq),
    );
    model.check(INVARIANT, covered, () => `${what} is in no record, and no loss note of a handler that died after it was made is at the gap: a silent loss`);
  }
}

/** Matches each changelog record to the events it holds; a record of no change, or of another process, is a violation. */
function matchRecords(records: readonly { seq: bigint; record: RecordView }[], expected: Expected[], pid: number, model: Model, where: string): void {
  const byName = new Map<string, Expected[]>();
  for (const one of expected) byName.set(one.name, [...(byName.get(one.name) ?? []), one]);
  for (const { seq, record } of records) {
    if (record.kind !== 'event' || record.op !== 'external') continue;
    const what = `${where}: changelog record ${seq} (${maskNames(record.mask ?? 0n).join('|')} ${record.name ?? record.path ?? '?'})`;
    model.check(INVARIANT, record.source === 'fanotify', () => `${what} is of source ${record.source}, not fanotify`);
    // The kernel's tid, not the pid found from it later: the change maker's calls are its main thread's, whose tid is its pid.
    if (!model.check(INVARIANT, record.tid === pid, () => `${what} is by thread ${record.tid}, not the change maker's ${pid}: no change made it`)) continue;
    const candidates = byName.get(record.name ?? '') ?? [];
    for (const bit of bitsOf(record.mask ?? 0n)) {
      const one = candidates.find((candidate) => candidate.bit === bit && (bit !== FAN_RENAME || candidate.oldName === record.oldName));
      if (model.check(INVARIANT, one !== undefined, () => `${what}: no change raises ${maskNames(bit).join('|')} on ${record.name}`)) one!.seqs.push(seq);
    }
  }
}

/** Each bit set in `mask`, alone. */
function bitsOf(mask: Mask): Mask[] {
  const out: Mask[] = [];
  for (let bit = 1n; bit <= mask; bit <<= 1n) if ((mask & bit) !== 0n) out.push(bit);
  return out;
}

/** The tally's loss notes, each with the life it names; one naming no handler this run saw killed is a violation. */
function tallyNotes(
  records: readonly { seq: bigint; record: RecordView }[],
  lives: readonly HandlerLife[],
  model: Model,
  where: string,
): { seq: bigint; life: HandlerLife }[] {
  return records.flatMap(({ seq, record }) => {
    if (!isTallyNote(record)) return [];
    const pid = Number(TALLY_NOTE.exec(record.reason!)![1]);
    const life = lives.find((one) => one.pid === pid);
    const named = model.check(
      INVARIANT,
      life?.killed === true,
      () => `${where}: loss note ${seq} names pid ${pid}, ${life === undefined ? 'no handler of this run' : 'a handler that was not killed'}: ${record.reason}`,
    );
    return named ? [{ seq, life: life! }] : [];
  });
}
