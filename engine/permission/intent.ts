/**
 * Intent: a guarded operation as its requests journal it, so that recovery
 * can finish it after its caller died. One type per operation; the fields
 * every one has come first.
 *
 * Format 2 (written): an operation's first request record carries its
 * `steps` and its own `args` as binary fields (engine/record/fields.ts), and
 * every request its `step`; the rest of the intent (op, fid, parent, name,
 * path, pid, tid, uid) is the first request record's own fields. A later
 * request refers to the first by its `operationSeq`, which retention keeps
 * (the first request's seq is the operation's, and the oldest pending).
 *
 * Format 1 (read only): every request carried the whole intent as JSON,
 * `{ ...intent, step }`, masks as decimal strings, in its `intent` field.
 * Reading either checks every field, so that a request recovery cannot act
 * on is ECORRUPT naming its seq, never a crash later.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../../errors.js';
import type { FsState } from '../model/fs-state.js';
import { fidOf, statOf } from '../model/inode.js';
import { FAN_ONDIR } from '../notify/masks.js';
import type { Fid, FileHandle, IntentArgs as ArgFields, IntentStep, Range, RequestEvent, RequestRecord, Stat } from '../record/record.js';

export type { IntentStep };

export interface IntentBase {
  fid: Fid;
  path: string;
  parentFid: Fid;
  name: string;
  pid: number;
  tid: number;
  uid: number;
  /** Absent in a request journaled before record format 3 (the operation then runs with gid 0, as it did). */
  gid?: number;
  /** The permission events the operation raises, in order, with their ranges. */
  steps: IntentStep[];
}

export type OpenIntent = IntentBase & { op: 'open'; flags: 'r' | 'w' | 'rw'; exec: boolean; truncate: boolean };
export type ReadIntent = IntentBase & { op: 'read'; offset: number; length: number };
export type WriteIntent = IntentBase & { op: 'write'; offset: number; length: number };
export type TruncateIntent = IntentBase & { op: 'truncate'; size: number };
export type FaultIntent = IntentBase & { op: 'fault'; offset: number; write: boolean };
/**
 * A kernel permission event (kernel/permission.ts): a process on a real
 * filesystem waits in the kernel, not in this engine, so there is nothing to
 * perform once allowed; the answer itself is the outcome, written to the
 * kernel after the decision is durable. It asks its one `group`, whatever
 * that group's marks say (the kernel's mark chose the event), and
 * `kernelEvent` names the event the kernel holds. One step: its mask and,
 * for FAN_PRE_ACCESS, its range. Journaled as a request of op `external`.
 */
export type ExternalIntent = IntentBase & {
  op: 'external';
  group: string;
  kernelEvent: string;
  stat: Stat;
  /** The file's handle where its filesystem's holds no fid (xfs, btrfs): its fid is then its inode number with generation 0. */
  handle?: FileHandle;
  /**
   * Held by the live kernel source, never journaled: the event file's
   * descriptor, and what to do once the request is durable, before its
   * listener may see it (tell the supervisor its seq).
   */
  kernel?: { fd: number; journaled(seq: bigint): Promise<void> };
};

/** A guarded operation, as it is journaled in its requests. */
export type Intent = OpenIntent | ReadIntent | WriteIntent | TruncateIntent | FaultIntent | ExternalIntent;
export type IntentOp = Intent['op'];

/** An intent's own arguments, by operation. */
export type IntentArgs = Intent extends infer I ? (I extends Intent ? Omit<I, keyof IntentBase> : never) : never;

const INTENT_OPS: readonly IntentOp[] = ['open', 'read', 'write', 'truncate', 'fault', 'external'];

/** The fields a request for `step` of `intent` carries: on the operation's first request, its steps and arguments too. */
export function intentFields(intent: Intent, step: number, first: boolean): { step: number; steps?: IntentStep[]; args?: ArgFields } {
  if (!(Number.isInteger(step) && step >= 0 && step < intent.steps.length)) assert.fail(`step ${step} of ${intent.steps.length}`);
  return first ? { step, steps: intent.steps, args: argsOf(intent) } : { step };
}

/** An intent's own arguments: what its op adds to the fields every request carries. */
function argsOf(intent: Intent): ArgFields {
  switch (intent.op) {
    case 'open':
      return { flags: intent.flags, exec: intent.exec, truncate: intent.truncate };
    case 'read':
    case 'write':
      return { offset: intent.offset, length: intent.length };
    case 'truncate':
      return { size: intent.size };
    case 'fault':
      return { offset: intent.offset, write: intent.write };
    case 'external':
      // Its group and kernel event are the request's own fields.
      return {};
  }
}

const count = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;

/** Checks an intent read from the journal; ECORRUPT naming `seq` if recovery could not act on it. */
function checked(intent: Intent, step: unknown, seq: bigint): { intent: Intent; step: number } {
  const bad = (what: string): FanlogError => new FanlogError('ECORRUPT', `request ${seq}: its intent ${what}`, { seq });
  const isFid = (value: unknown): boolean => typeof value === 'object' && value !== null && count((value as Fid).ino) && count((value as Fid).gen);
  if (!INTENT_OPS.includes(intent.op)) throw bad(`has op ${String(intent.op)}`);
  if (!isFid(intent.fid) || !isFid(intent.parentFid)) throw bad('has no fid');
  if (typeof intent.path !== 'string' || typeof intent.name !== 'string') throw bad('has no path');
  if (!count(intent.pid) || !count(intent.tid) || !count(intent.uid) || (intent.gid !== undefined && !count(intent.gid))) throw bad('has no process');
  const isRange = (range: Range | undefined): boolean => range === undefined || (count(range.offset) && count(range.count));
  if (!Array.isArray(intent.steps) || !intent.steps.every((s) => typeof s?.mask === 'bigint' && isRange(s.range))) throw bad('has malformed steps');
  if (!count(step) || (step as number) >= intent.steps.length) throw bad(`has step ${String(step)}`);
  const argsOk =
    intent.op === 'open'
      ? ['r', 'w', 'rw'].includes(intent.flags) && typeof intent.exec === 'boolean' && typeof intent.truncate === 'boolean'
      : intent.op === 'truncate'
        ? count(intent.size)
        : intent.op === 'fault'
          ? count(intent.offset) && typeof intent.write === 'boolean'
          : intent.op === 'external'
            ? typeof intent.group === 'string' && typeof intent.kernelEvent === 'string' && intent.stat !== undefined && intent.steps.length === 1
            : count(intent.offset) && count(intent.length);
  if (!argsOk) throw bad(`has malformed ${intent.op} arguments`);
  // A read or write ending past the largest size a record holds would apply a size no event could carry.
  if ((intent.op === 'read' || intent.op === 'write') && intent.offset + intent.length > Number.MAX_SAFE_INTEGER)
    throw bad(`ends past 2^53 - 1 (${intent.offset}+${intent.length})`);
  return { intent, step: step as number };
}

/**
 * The intent of an operation and the step its request `last` (seq
 * `lastSeq`) asks about, from its first request `first` (which is `last`
 * for a one-request operation): format 2's binary fields, or format 1's
 * JSON. ECORRUPT naming the seq of the record that lacks what it needs.
 */
export function intentOf(first: RequestRecord, firstSeq: bigint, last: RequestRecord, lastSeq: bigint): { intent: Intent; step: number } {
  const step = last.step ?? (last.intent === undefined ? undefined : legacyIntent(last.intent, lastSeq).step);
  if (first.intent !== undefined) return checked(legacyIntent(first.intent, firstSeq).intent, step, lastSeq);
  if (first.steps === undefined || first.args === undefined) {
    throw new FanlogError('ECORRUPT', `request ${firstSeq}: the first request of its operation carries no steps and arguments`, { seq: firstSeq });
  }
  const { op, fid, path, parentFid, name, pid, tid, uid, gid } = first;
  const intent = { ...first.args, op, fid, path, parentFid, name, pid, tid, uid, steps: first.steps } as Intent;
  if (intent.op === 'external') {
    Object.assign(intent, { group: first.group, kernelEvent: first.kernelEvent, stat: first.stat });
    if (first.handle !== undefined) intent.handle = first.handle;
  }
  if (gid !== undefined) intent.gid = gid;
  return checked(intent, step, lastSeq);
}

/** A format 1 request's JSON intent, its masks made bigints; ECORRUPT naming `seq` if it is not JSON of an object. */
function legacyIntent(json: string, seq: bigint): { intent: Intent; step: unknown } {
  const bad = (what: string): FanlogError => new FanlogError('ECORRUPT', `request ${seq}: its intent ${what}`, { seq });
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw bad('is not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw bad('is not an object');
  const { step, operationSeq: _ignored, steps, ...fields } = raw;
  const wellFormed = (s: unknown): boolean => typeof (s as { mask?: unknown } | null)?.mask === 'string' && /^\d+$/.test((s as { mask: string }).mask);
  if (!Array.isArray(steps) || !steps.every(wellFormed)) throw bad('has malformed steps');
  const converted = steps.map((s: { mask: string; range?: Range }) => ({ ...s, mask: BigInt(s.mask) }));
  return { intent: { ...fields, steps: converted } as unknown as Intent, step };
}

/**
 * The permission event a step of `intent` raises on its object, as of now,
 * or null if the object is gone. A kernel event's object is on the real
 * filesystem: its fid and stat are the intent's own.
 */
export function stepEvent(intent: Intent, step: IntentStep, host: { readonly state: FsState; now(): bigint }): RequestEvent | null {
  let { mask } = step;
  let { fid } = intent;
  let stat: RequestEvent['stat'];
  if (intent.op === 'external') stat = intent.stat;
  else {
    const inode = host.state.byFid(intent.fid);
    if (inode === undefined) return null;
    if (inode.type === 'dir') mask |= FAN_ONDIR;
    fid = fidOf(inode);
    stat = statOf(inode);
  }
  const event: RequestEvent = {
    kind: 'request',
    op: intent.op,
    time: host.now(),
    mask,
    fid,
    parentFid: intent.parentFid,
    name: intent.name,
    path: intent.path,
    stat,
    pid: intent.pid,
    tid: intent.tid,
    uid: intent.uid,
  };
  if (intent.gid !== undefined) event.gid = intent.gid;
  if (step.range !== undefined) event.range = step.range;
  if (intent.op === 'external') {
    event.kernelEvent = intent.kernelEvent;
    if (intent.handle !== undefined) event.handle = intent.handle;
  }
  return event;
}
