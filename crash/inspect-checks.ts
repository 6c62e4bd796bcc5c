/**
 * What the campaign's `inspect` runs (inspect-run.ts) check of a lock-free
 * view or read, and the damage they do to a closed engine's newest
 * segment. Each check counts in the Model; a failed one is a violation
 * under the invariant it breaks: 6 (a raw error, a silent stop, damage
 * where there is none or none where there is), 4 (a cursor), 1 (a view
 * that lost what the writer had made durable).
 */
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Inspection, inspect, readChangelog } from '../cli/inspect.js';
import { FanlogError } from '../errors.js';
import type { Unfinished } from '../journal/follower.js';
import type { Prng } from '../journal/prng.js';
import { SEGMENT_HEADER_BYTES } from '../journal/segment.js';
import type { Model } from './model.js';

/** What the writer had promised when a reader began: its durable seq and its consumers' resolved acknowledgements. */
export interface Before {
  durable: bigint;
  acks: Map<string, bigint>;
}

const describe = (error: unknown): string => (error instanceof Error ? (error.stack ?? error.message) : String(error));

/** A FanlogError a run may see: EPURGED while the writer purges (and ECORRUPT where damage was done, checked apart). */
function checkError(model: Model, error: unknown, what: string, allowed: readonly string[]): void {
  if (!model.check(6, error instanceof FanlogError, () => `${what} failed with a raw error: ${describe(error)}`)) return;
  const code = (error as FanlogError).code;
  model.check(6, allowed.includes(code), () => `${what} failed with ${(error as Error).message}`);
}

/**
 * A view: consistent, reaching what was durable before it began, its
 * cursors within the journal and at least the resolved acknowledgements.
 * `live`: the writer may still purge (EPURGED allowed).
 */
export function checkInspection(model: Model, result: Inspection | { error: unknown }, before: Before, { live }: { live: boolean }): void {
  if ('error' in result) return checkError(model, result.error, 'an inspection', live ? ['EPURGED'] : []);
  const { journal, durable } = result;
  model.check(6, journal.damage === null, () => `an inspection of an undamaged engine reports damage: ${journal.damage!.message}`);
  model.check(6, journal.headSeq >= journal.firstSeq - 1n, () => `an inspection's head ${journal.headSeq} is below its oldest retained ${journal.firstSeq}`);
  model.check(
    1,
    journal.headSeq >= before.durable,
    () => `an inspection's head ${journal.headSeq} is below ${before.durable}, which the writer had made durable before it began`,
  );
  model.check(6, durable.seq === null || durable.seq === journal.headSeq, () => `an inspection says durable ${durable.seq}, head ${journal.headSeq}`);
  model.check(
    6,
    durable.atLeast <= journal.headSeq,
    () => `an inspection vouches for ${durable.atLeast} as durable, beyond its head ${journal.headSeq}, and reports no damage`,
  );
  for (const consumer of result.stored?.consumers ?? []) {
    const acked = before.acks.get(consumer.name) ?? 0n;
    model.check(4, consumer.cursor >= acked, () => `${consumer.name}'s cursor ${consumer.cursor} is below its resolved acknowledgement of ${acked}`);
    model.check(4, consumer.cursor <= journal.headSeq, () => `${consumer.name}'s cursor ${consumer.cursor} is beyond the head ${journal.headSeq}`);
    model.check(
      4,
      consumer.cursor >= journal.firstSeq - 1n,
      () => `${consumer.name}'s cursor ${consumer.cursor} is before the oldest retained record ${journal.firstSeq}: purged under it`,
    );
  }
}

/** A whole lock-free read: the seqs it gave, how it ended. */
export interface ReadResult {
  from: bigint | undefined;
  firstSeq: bigint | null;
  lastSeq: bigint | null;
  /** The first seq that did not follow the one before (null: none). */
  gapAt: bigint | null;
  unfinished: Unfinished | null;
  error: unknown;
}

/** Reads the changelog lock-free (what tail and export run) from `from` to its end. */
export async function readAll(dir: string, from: bigint | undefined): Promise<ReadResult> {
  const result: ReadResult = { from, firstSeq: null, lastSeq: null, gapAt: null, unfinished: null, error: null };
  try {
    result.unfinished = await readChangelog(dir, from, undefined, (records) => {
      for (const { seq } of records) {
        if (result.lastSeq === null) result.firstSeq = seq;
        else if (seq !== result.lastSeq + 1n && result.gapAt === null) result.gapAt = seq;
        result.lastSeq = seq;
      }
    });
  } catch (error) {
    result.error = error;
  }
  return result;
}

/** A read: in order without a gap, from where it was asked to start, and (when it ended well) through what was durable. */
export function checkRead(model: Model, read: ReadResult, before: Before, { live }: { live: boolean }): void {
  model.check(6, read.gapAt === null, () => `a read from ${read.from ?? 'the oldest'} skipped to ${read.gapAt} after ${read.gapAt! - 1n}`);
  if (read.from !== undefined && read.firstSeq !== null) {
    model.check(6, read.firstSeq === read.from, () => `a read from ${read.from} began at ${read.firstSeq}`);
  }
  if (read.error !== null) return checkError(model, read.error, `a read from ${read.from ?? 'the oldest'}`, live ? ['EPURGED'] : []);
  const end = read.lastSeq ?? (read.from === undefined ? 0n : read.from - 1n);
  model.check(
    6,
    end >= before.durable,
    () => `a read from ${read.from ?? 'the oldest'} stopped at ${end}, silently short of ${before.durable}, which was durable before it began`,
  );
}

/** The real binary's run during the race: exit 0, or EPURGED, never a stack trace; its view checked as in-process. */
export function checkCliRun(model: Model, args: string[], run: { status: number | null; stdout: string; stderr: string }, before: Before): void {
  const what = `fanlog ${args.join(' ')}`;
  model.check(6, !/^\s+at /m.test(run.stderr), () => `${what} printed a stack trace: ${run.stderr}`);
  if (run.status !== 0) {
    model.check(6, run.status === 1 && /^fanlog: EPURGED: /.test(run.stderr), () => `${what} exited ${run.status}: ${run.stderr.trim()}`);
    return;
  }
  if (args[0] === 'tail') {
    const seqs = run.stdout
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => BigInt((JSON.parse(line) as { seq: string }).seq));
    model.check(
      6,
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!),
      () => `${what} printed records out of order`,
    );
    return;
  }
  if (args[0] === 'stat') {
    const view = JSON.parse(run.stdout) as { metrics: { seqs: { head: string; durable: string | null } } };
    const head = BigInt(view.metrics.seqs.head);
    model.check(1, head >= before.durable, () => `${what} shows head ${head}, below ${before.durable}, which was durable before it began`);
    model.check(
      6,
      view.metrics.seqs.durable === null || view.metrics.seqs.durable === view.metrics.seqs.head,
      () => `${what} shows durable ${view.metrics.seqs.durable}, head ${head}`,
    );
  }
}

export type DamageKind = 'flip' | 'zero' | 'cut' | 'header' | 'delete' | 'garbage';

/** Damage done to the newest segment of a closed engine: where, and what the readers must then say. */
export interface DamagePlan {
  kind: DamageKind;
  /** The file the readers must name (for a deletion: the segment before the one deleted). */
  file: string;
  /** The readers' offset must be at or before this (garbage: the unfinished entry is here). */
  offset: number;
  expect: 'ECORRUPT' | 'unfinished';
}

/** Damages the newest journal segment by the seed (see inspect-run.ts); null when there is nothing to damage. */
export function planDamage(prng: Prng, dir: string): DamagePlan | null {
  const journal = path.join(dir, 'journal');
  const segments = readdirSync(journal)
    .filter((name) => name.endsWith('.seg'))
    .sort()
    .map((name) => path.join(journal, name));
  const file = segments[segments.length - 1]!;
  const size = statSync(file).size;
  if (size <= SEGMENT_HEADER_BYTES) return null;
  const kinds: DamageKind[] = ['flip', 'zero', 'cut', 'header', 'garbage', ...(segments.length > 1 ? (['delete'] as const) : [])];
  const kind = prng.pick(kinds);
  const bytes = readFileSync(file);
  switch (kind) {
    case 'flip':
    case 'zero': {
      const at = prng.between(SEGMENT_HEADER_BYTES, size - 1);
      const end = Math.min(size, at + prng.between(1, 16));
      for (let i = at; i < end; i++) bytes[i] = kind === 'flip' ? bytes[i]! ^ 0xff : 0;
      // Zeros over zeros change nothing: then nothing was damaged, and the readers must say nothing.
      if (
        kind === 'zero' &&
        readFileSync(file)
          .subarray(at, end)
          .every((byte) => byte === 0)
      )
        return null;
      writeFileSync(file, bytes);
      return { kind, file, offset: at, expect: 'ECORRUPT' };
    }
    case 'cut': {
      const to = prng.between(SEGMENT_HEADER_BYTES, size - 1);
      truncateSync(file, to);
      return { kind, file, offset: to, expect: 'ECORRUPT' };
    }
    case 'header': {
      // Bytes 36..39 are reserved zeros no reader checks: a flip there is no damage.
      const at = prng.between(0, SEGMENT_HEADER_BYTES - 5);
      bytes[at] = bytes[at]! ^ (1 << prng.int(8));
      writeFileSync(file, bytes);
      return { kind, file, offset: SEGMENT_HEADER_BYTES, expect: 'ECORRUPT' };
    }
    case 'delete': {
      rmSync(file);
      const previous = segments[segments.length - 2]!;
      return { kind, file: previous, offset: statSync(previous).size, expect: 'ECORRUPT' };
    }
    case 'garbage': {
      // The start of an entry a crash cut: a length that runs past the end, then bytes.
      const garbage = Buffer.from([0xff, 0xff, 0x00, 0x00, ...Array.from({ length: prng.between(0, 40) }, () => prng.int(256))]);
      writeFileSync(file, Buffer.concat([bytes, garbage]));
      return { kind, file, offset: size, expect: 'unfinished' };
    }
  }
}

/** Whether `error` is ECORRUPT naming the plan's file at or before its offset. */
function namesDamage(error: unknown, plan: DamagePlan): boolean {
  return error instanceof FanlogError && error.code === 'ECORRUPT' && error.file === plan.file && error.offset !== undefined && error.offset <= plan.offset;
}

type Cli = (args: string[]) => Promise<{ status: number | null; stdout: string; stderr: string }>;

/**
 * After the damage: a read from the oldest record, the view, and (with
 * `cli`) the binary's tail or export must say ECORRUPT at the damage, or,
 * for garbage above the durable seq, read everything and say unfinished.
 */
export async function checkAfterDamage(dir: string, plan: DamagePlan, durable: bigint, model: Model, cli: Cli | null): Promise<void> {
  const what = `${plan.kind} at ${plan.file}:${plan.offset}`;
  const read = await readAll(dir, undefined);
  model.check(6, read.gapAt === null, () => `after ${what}, a read skipped to ${read.gapAt}`);
  if (plan.expect === 'ECORRUPT') {
    model.check(
      6,
      namesDamage(read.error, plan),
      () => `after ${what} below the durable seq ${durable}, a read ended with ${read.error === null ? `no error at ${read.lastSeq}` : describe(read.error)}`,
    );
  } else {
    model.check(
      6,
      read.error === null && read.lastSeq === durable,
      () => `after ${what} above the durable seq ${durable}, a read ended at ${read.lastSeq} with ${describe(read.error)}`,
    );
    model.check(
      6,
      read.unfinished?.file === plan.file && read.unfinished.offset === plan.offset,
      () => `after ${what}, the read says unfinished ${JSON.stringify(read.unfinished)}`,
    );
  }
  const view = await inspect(dir).catch((error: unknown) => ({ error }));
  if ('error' in view) {
    // A damaged header of the newest segment is met before the view has a journal to show.
    model.check(6, plan.kind === 'header' && namesDamage(view.error, plan), () => `after ${what}, stat failed: ${describe(view.error)}`);
  } else if (plan.expect === 'ECORRUPT') {
    const damage = view.journal.damage;
    model.check(6, damage !== null && damage.file === plan.file && damage.offset <= plan.offset, () => `after ${what}, stat reports ${JSON.stringify(damage)}`);
    model.check(
      6,
      view.journal.headSeq < durable && view.durable.seq === null,
      () => `after ${what}, stat shows head ${view.journal.headSeq} and durable ${view.durable.seq}, not a head below ${durable}`,
    );
  } else {
    model.check(
      6,
      view.journal.damage === null && view.journal.headSeq === durable,
      () => `after ${what}, stat shows head ${view.journal.headSeq}, damage ${JSON.stringify(view.journal.damage)}`,
    );
  }
  if (cli !== null) await checkCliAfterDamage(dir, plan, model, cli);
}

/** The binary's tail or export after the damage: ECORRUPT naming it and exit 1, or exit 0 with the note. */
async function checkCliAfterDamage(dir: string, plan: DamagePlan, model: Model, cli: Cli): Promise<void> {
  const args = plan.offset % 2 === 0 ? ['tail', '--dir', dir] : ['export', '--format', 'fanotify', '--dir', dir, '--out', path.join(dir, '..', 'export.bin')];
  const run = await cli(args);
  const what = `fanlog ${args[0]} after ${plan.kind} at ${plan.file}:${plan.offset}`;
  model.check(6, !/^\s+at /m.test(run.stderr), () => `${what} printed a stack trace: ${run.stderr}`);
  if (plan.expect === 'unfinished') {
    model.check(
      6,
      run.status === 0 && run.stderr.startsWith(`fanlog: note: ${plan.file} ends in an unfinished entry at byte ${plan.offset} `),
      () => `${what} exited ${run.status}: ${run.stderr.trim()}`,
    );
    return;
  }
  const match = /^fanlog: ECORRUPT: (.+) at byte (\d+): /.exec(run.stderr);
  model.check(
    6,
    run.status === 1 && match !== null && match[1] === plan.file && Number(match[2]) <= plan.offset,
    () => `${what} exited ${run.status}: ${run.stderr.trim()}`,
  );
}
