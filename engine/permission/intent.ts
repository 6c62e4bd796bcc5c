/**
 * Intent: a guarded operation as it is journaled in each of its requests,
 * so that recovery can finish it after its caller died. One type per
 * operation; the fields every one has come first.
 *
 * Encoding (format 1): the JSON of the intent with the index of the step
 * the request was for, `{ ...intent, step }`, in the request record's
 * `intent` field. Masks are decimal strings (JSON has no bigint). Journals
 * of format 1 may also hold `operationSeq` in it, which reading ignores:
 * the operation's seq is the `operationSeq` of the request record itself.
 * Reading checks every field, so that a request recovery cannot act on is
 * ECORRUPT naming its seq, never a crash later.
 */
import assert from 'node:assert/strict';
import { FanlogError } from '../../errors.js';
import type { Fid, Range } from '../record/record.js';

export interface IntentStep {
  /** One permission event bit, as a decimal string (JSON has no bigint). */
  mask: string;
  range?: Range;
}

interface IntentBase {
  fid: Fid;
  path: string;
  parentFid: Fid;
  name: string;
  pid: number;
  tid: number;
  uid: number;
  /** The permission events the operation raises, in order, with their ranges. */
  steps: IntentStep[];
}

export type OpenIntent = IntentBase & { op: 'open'; flags: 'r' | 'w' | 'rw'; exec: boolean; truncate: boolean };
export type ReadIntent = IntentBase & { op: 'read'; offset: number; length: number };
export type WriteIntent = IntentBase & { op: 'write'; offset: number; length: number };
export type TruncateIntent = IntentBase & { op: 'truncate'; size: number };
export type FaultIntent = IntentBase & { op: 'fault'; offset: number; write: boolean };

/** A guarded operation, as it is journaled in its requests. */
export type Intent = OpenIntent | ReadIntent | WriteIntent | TruncateIntent | FaultIntent;
export type IntentOp = Intent['op'];

/** An intent's own arguments, by operation. */
export type IntentArgs = Intent extends infer I ? (I extends Intent ? Omit<I, keyof IntentBase> : never) : never;

const INTENT_OPS: readonly IntentOp[] = ['open', 'read', 'write', 'truncate', 'fault'];

export function encodeIntent(intent: Intent, step: number): string {
  if (!(Number.isInteger(step) && step >= 0 && step < intent.steps.length)) assert.fail(`step ${step} of ${intent.steps.length}`);
  return JSON.stringify({ ...intent, step });
}

/** The intent and step a request record holds; ECORRUPT naming `seq` if it is not one. */
export function decodeIntent(json: string, seq: bigint): { intent: Intent; step: number } {
  const bad = (what: string): FanlogError => new FanlogError('ECORRUPT', `request ${seq}: its intent ${what}`, { seq });
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw bad('is not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw bad('is not an object');
  const { step, operationSeq: _ignored, ...fields } = raw;
  const intent = fields as unknown as Intent;
  const count = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;
  const isFid = (value: unknown): boolean => typeof value === 'object' && value !== null && count((value as Fid).ino) && count((value as Fid).gen);
  if (!INTENT_OPS.includes(intent.op)) throw bad(`has op ${String(intent.op)}`);
  if (!isFid(intent.fid) || !isFid(intent.parentFid)) throw bad('has no fid');
  if (typeof intent.path !== 'string' || typeof intent.name !== 'string') throw bad('has no path');
  if (!count(intent.pid) || !count(intent.tid) || !count(intent.uid)) throw bad('has no process');
  if (!Array.isArray(intent.steps) || !intent.steps.every((s) => typeof s?.mask === 'string' && /^\d+$/.test(s.mask))) throw bad('has malformed steps');
  if (!count(step) || (step as number) >= intent.steps.length) throw bad(`has step ${String(step)}`);
  const argsOk =
    intent.op === 'open'
      ? ['r', 'w', 'rw'].includes(intent.flags) && typeof intent.exec === 'boolean' && typeof intent.truncate === 'boolean'
      : intent.op === 'truncate'
        ? count(intent.size)
        : intent.op === 'fault'
          ? count(intent.offset) && typeof intent.write === 'boolean'
          : count(intent.offset) && count(intent.length);
  if (!argsOk) throw bad(`has malformed ${intent.op} arguments`);
  return { intent, step: step as number };
}
