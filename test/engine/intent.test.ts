/**
 * A guarded operation's intent as its requests journal it
 * (engine/permission/intent.ts): format 2 (binary, on the operation's first
 * request; a step on each) and format 1 (JSON in every request) read back
 * to the same intent, mixed too, and what recovery could not act on is
 * ECORRUPT naming the request's seq.
 */
import { expect, it } from 'vitest';
import { FAN_ACCESS_PERM, FAN_PRE_ACCESS } from '../../engine/notify/masks.js';
import { type Intent, intentFields, intentOf } from '../../engine/permission/intent.js';
import type { RequestRecord } from '../../engine/record/record.js';
import { rejectionSync } from '../helpers.js';

const intent: Intent = {
  op: 'read',
  offset: 4096,
  length: 65536,
  fid: { ino: 7, gen: 3 },
  parentFid: { ino: 2, gen: 2 },
  name: 'big',
  path: '/data/big',
  pid: 77,
  tid: 78,
  uid: 1000,
  steps: [{ mask: FAN_ACCESS_PERM }, { mask: FAN_PRE_ACCESS, range: { offset: 4096, count: 65536 } }],
};

/** A request record for `step` of `intent` as the broker journals it, with `fields` for its intent. */
function request(step: number, fields: Partial<RequestRecord>): RequestRecord {
  return {
    kind: 'request',
    op: intent.op,
    time: 1n,
    mask: intent.steps[step]!.mask,
    fid: intent.fid,
    parentFid: intent.parentFid,
    name: intent.name,
    path: intent.path,
    stat: { ino: 7, mode: 0o100644, uid: 0, gid: 0, size: 1 << 20, nlink: 1, atime: 0n, mtime: 0n, ctime: 0n },
    pid: intent.pid,
    tid: intent.tid,
    uid: intent.uid,
    group: 'hsm',
    ...fields,
  };
}

const legacy = (step: number): string => JSON.stringify({ ...intent, steps: intent.steps.map((s) => ({ ...s, mask: s.mask.toString() })), step });

it('reads the intent of format 2 from the first request, and the step from each', () => {
  const first = request(0, intentFields(intent, 0, true));
  const later = request(1, { operationSeq: 10n, ...intentFields(intent, 1, false) });
  expect(Object.keys(intentFields(intent, 1, false))).toEqual(['step']);
  expect(intentOf(first, 10n, first, 10n)).toEqual({ intent, step: 0 });
  expect(intentOf(first, 10n, later, 12n)).toEqual({ intent, step: 1 });
});

it('reads format 1, and an operation begun in format 1 and continued in format 2', () => {
  const first = request(0, { intent: legacy(0) });
  expect(intentOf(first, 10n, request(1, { operationSeq: 10n, intent: legacy(1) }), 12n)).toEqual({ intent, step: 1 });
  expect(intentOf(first, 10n, request(1, { operationSeq: 10n, step: 1 }), 12n)).toEqual({ intent, step: 1 });
});

it('refuses what recovery could not act on with ECORRUPT naming the seq', () => {
  const first = request(0, intentFields(intent, 0, true));
  const cases: [string, () => unknown, bigint][] = [
    ['a first request without steps', () => intentOf(request(0, { step: 0 }), 10n, request(0, { step: 0 }), 10n), 10n],
    ['a step past the steps', () => intentOf(first, 10n, request(1, { operationSeq: 10n, step: 2 }), 12n), 12n],
    ['a read without its length', () => intentOf(request(0, { step: 0, steps: intent.steps, args: { offset: 1 } }), 10n, first, 10n), 10n],
    ['format 1 that is not JSON', () => intentOf(request(0, { intent: '{' }), 10n, request(0, { intent: '{' }), 10n), 10n],
    // Each number is one the codec holds, but the write would end past 2^53 - 1: a size no event can carry.
    [
      'a write ending past 2^53 - 1',
      () => intentOf(request(0, { step: 0, steps: intent.steps, args: { offset: 2 ** 53 - 8, length: 16 } }), 10n, request(0, { step: 0 }), 10n),
      10n,
    ],
  ];
  for (const [what, read, seq] of cases) {
    const error = rejectionSync(read) as Error & { code?: string; seq?: bigint };
    expect(error.code, what).toBe('ECORRUPT');
    expect(error.seq, what).toBe(seq);
  }
});
