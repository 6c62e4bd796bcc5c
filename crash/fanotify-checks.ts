/**
 * What a `fanotify` run of the crash campaign (fanotify-run.ts) checks once
 * the supervisor has exited: design invariant 11, a kernel permission event
 * is answered exactly once, by a decision, seen from both ends.
 *
 *   the readers   every reader ended once, by itself, with the outcome its
 *                 stub's name decides: an allowed stub's reader printed the
 *                 archive's bytes of its range, and never a zero (the
 *                 archive has none: a zero is a byte read before it was
 *                 filled, let through unanswered or answered for another
 *                 event); a denied stub's reader failed with EIO, having
 *                 printed nothing
 *   the journal   (opened read-only) each kernel event is one request (no
 *                 two requests share a kernelEvent); each request is
 *                 decided once; every decision is the one the stub's name
 *                 makes (FAN_ALLOW, or FAN_DENY_ERRNO(EIO)): a decision by
 *                 the supervisor's stop policy means an event was still
 *                 held after every reader ended; no loss note says that the
 *                 kernel let an event through (in a changelog run, the read
 *                 tally's notes are fanotify-changelog-checks.ts's to
 *                 judge); and there are at least as many requests as
 *                 readers (each reader's first read is one)
 */
import path from 'node:path';
import type { RecordView } from '../engine/record/record.js';
import { FAN_ALLOW, FAN_DENY_ERRNO } from '../engine/notify/masks.js';
import { Engine } from '../fanlog.js';
import { decodeRecord } from '../interop/index.js';
import { isTallyNote } from './fanotify-changelog-checks.js';
import { isDenied, type ReaderPlan } from './fanotify-plan.js';
import type { Model } from './model.js';

const INVARIANT = 11;
const FAN_DENY_EIO = FAN_DENY_ERRNO(5);

/** How a reader ended, as the run saw it. */
export interface ReaderOutcome {
  plan: ReaderPlan;
  /** How many times it ended: 1, or 0 if it never did. */
  ends: number;
  /** The run had to SIGKILL it to release the image (it hung). */
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

function describeReader({ stub, range }: ReaderPlan): string {
  return range === null ? `cat ${stub.name}` : `dd ${stub.name} bytes ${range.offset}..${range.offset + range.length}`;
}

export function checkReaders(readers: readonly ReaderOutcome[], model: Model, where: string): void {
  for (const reader of readers) {
    const what = `${describeReader(reader.plan)} (wave ${reader.plan.wave})`;
    const ended = reader.ends === 1 && !reader.killed;
    if (!model.check(INVARIANT, ended, () => `${where}: ${what} ${reader.killed ? 'hung, and was SIGKILLed' : `ended ${reader.ends} times`}`)) continue;
    if (reader.plan.stub.denied) checkDenied(reader, what, model, where);
    else checkFilled(reader, what, model, where);
  }
}

function checkDenied(reader: ReaderOutcome, what: string, model: Model, where: string): void {
  const refused = reader.code !== 0 && reader.signal === null && /Input\/output error/.test(reader.stderr) && reader.stdout.length === 0;
  model.check(
    INVARIANT,
    refused,
    () =>
      `${where}: ${what} of a denied stub was not refused with EIO: exit ${reader.code ?? reader.signal}, ${reader.stdout.length} bytes, stderr ${reader.stderr.trim()}`,
  );
}

function checkFilled(reader: ReaderOutcome, what: string, model: Model, where: string): void {
  const { stub, range } = reader.plan;
  const expected = range === null ? stub.content : stub.content.subarray(range.offset, range.offset + range.length);
  const ok = model.check(
    INVARIANT,
    reader.code === 0,
    () => `${where}: ${what} of an allowed stub failed: exit ${reader.code ?? reader.signal}: ${reader.stderr.trim()}`,
  );
  if (!ok) return;
  const zero = reader.stdout.indexOf(0);
  const offset = range?.offset ?? 0;
  model.check(INVARIANT, zero === -1, () => {
    const zeros = reader.stdout.reduce((count, byte) => count + (byte === 0 ? 1 : 0), 0);
    return `${where}: ${what} read unfilled bytes where a fill was decided: a zero at byte ${offset + zero} of ${stub.name} (${zeros} zeros in ${reader.stdout.length} bytes)`;
  });
  model.check(INVARIANT, reader.stdout.equals(expected), () => {
    let at = 0;
    while (at < expected.length && reader.stdout[at] === expected[at]) at++;
    return `${where}: ${what} printed ${reader.stdout.length} bytes, not the archive's ${expected.length}: they differ from byte ${offset + at} of ${stub.name}`;
  });
}

/** Every record of the journal of the engine in `engineDir` (opened read-only, its holder gone), with its seq, decoded. */
export async function journalRecords(engineDir: string): Promise<{ seq: bigint; record: RecordView }[]> {
  const engine = await Engine.open(engineDir, { readOnly: true });
  try {
    const out: { seq: bigint; record: RecordView }[] = [];
    for await (const { seq, payload } of engine.journal.read()) out.push({ seq, record: decodeRecord(payload) });
    return out;
  } finally {
    await engine.close();
  }
}

/**
 * `ownHandles`: the filesystem's file handles hold no fid (xfs, btrfs), so
 * every request must carry its file's own; `changelog`: the handler
 * journaled a changelog, whose tally's loss notes are judged apart.
 */
export function checkJournal(
  records: readonly { seq: bigint; record: RecordView }[],
  readers: number,
  ownHandles: boolean,
  changelog: boolean,
  model: Model,
  where: string,
): void {
  const requests = new Map<bigint, RecordView>();
  const byKernelEvent = new Map<string, bigint>();
  for (const { seq, record } of records) {
    if (record.kind !== 'request' || record.op !== 'external') continue;
    requests.set(seq, record);
    model.check(
      INVARIANT,
      (record.handle !== undefined) === ownHandles,
      () => `${where}: request ${seq} (${record.path}) ${ownHandles ? 'carries no file handle' : 'carries a handle where its fid holds one'}`,
    );
    const first = byKernelEvent.get(record.kernelEvent!);
    model.check(INVARIANT, first === undefined, () => `${where}: kernel event ${record.kernelEvent} was journaled twice, as requests ${first} and ${seq}`);
    byKernelEvent.set(record.kernelEvent!, seq);
  }
  model.check(INVARIANT, requests.size >= readers, () => `${where}: ${requests.size} requests journaled for ${readers} readers`);
  const decided = new Map<bigint, bigint>();
  for (const { seq, record } of records) {
    if (record.kind === 'note' && record.op === 'loss' && !(changelog && isTallyNote(record)))
      model.violation(INVARIANT, `${where}: loss note at ${seq}: ${record.reason}`);
    if (record.kind !== 'decision') continue;
    const request = requests.get(record.requestSeq!);
    if (!model.check(INVARIANT, request !== undefined, () => `${where}: decision ${seq} answers ${record.requestSeq}, no kernel request`)) continue;
    const first = decided.get(record.requestSeq!);
    model.check(INVARIANT, first === undefined, () => `${where}: request ${record.requestSeq} was decided twice, at ${first} and ${seq}`);
    decided.set(record.requestSeq!, seq);
    const name = path.basename(request!.path ?? '');
    const expected = isDenied(name) ? FAN_DENY_EIO : FAN_ALLOW;
    model.check(
      INVARIANT,
      record.response === expected,
      () => `${where}: request ${record.requestSeq} (${name}) was decided 0x${record.response!.toString(16)} at ${seq}, not 0x${expected.toString(16)}`,
    );
  }
  for (const [seq, request] of requests) {
    model.check(INVARIANT, decided.has(seq), () => `${where}: request ${seq} (kernel event ${request.kernelEvent}, ${request.path}) was never decided`);
  }
}
