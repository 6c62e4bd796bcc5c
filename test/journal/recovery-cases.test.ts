/**
 * Recovery's case table (journal/recovery-cases.ts) is total and
 * unambiguous: for every subject, every combination of its conditions,
 * enumerated here on its own, is matched by exactly one case, and that is
 * the case recovery dispatches to. Every case can be met, and a case is
 * ECORRUPT exactly when it builds one, naming the file and the offset.
 * What each case does to a journal directory is proven by damage.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FanlogError } from '../../errors.js';
import {
  casesMatching,
  type Found,
  RECOVERY_CASES,
  RECOVERY_CONDITIONS,
  type RecoveryCase,
  recoveryCase,
  type RecoverySubject,
} from '../../journal/recovery-cases.js';

const SUBJECTS = Object.keys(RECOVERY_CONDITIONS) as RecoverySubject[];

/** Every combination of true and false for `conditions`. */
function combinations(conditions: readonly string[]): Record<string, boolean>[] {
  if (conditions.length === 0) return [{}];
  const [first, ...rest] = conditions as [string, ...string[]];
  return combinations(rest).flatMap((others) => [
    { ...others, [first]: false },
    { ...others, [first]: true },
  ]);
}

describe('recovery cases', () => {
  it('match every combination of each subject’s conditions exactly once, and dispatch to that case', () => {
    let checked = 0;
    for (const subject of SUBJECTS) {
      const all = combinations(RECOVERY_CONDITIONS[subject]);
      expect(all).toHaveLength(2 ** RECOVERY_CONDITIONS[subject].length);
      for (const found of all) {
        const matching = casesMatching(subject, found as Found<typeof subject>);
        expect(matching, `${subject} ${JSON.stringify(found)}`).toHaveLength(1);
        expect(recoveryCase(subject, found as Found<typeof subject>)).toBe(matching[0]);
        checked++;
      }
    }
    expect(checked).toBe(2 + 16 + 128 + 2 + 16 + 2);
  });

  it('can each be met, and name only conditions of their subject', () => {
    for (const subject of SUBJECTS) {
      const conditions: readonly string[] = RECOVERY_CONDITIONS[subject];
      const met = new Set(combinations(conditions).flatMap((found) => casesMatching(subject, found as Found<typeof subject>)));
      for (const row of RECOVERY_CASES[subject] as readonly RecoveryCase<typeof subject>[]) {
        expect(met.has(row), `${subject}: '${row.found}' is never met`).toBe(true);
        for (const condition of Object.keys(row.when)) expect(conditions, `${subject}: '${row.found}'`).toContain(condition);
      }
    }
  });

  it('throw ECORRUPT naming the file and the offset exactly when their action is corrupt', () => {
    const contexts = {
      header: { file: '/j/1.seg', offset: 8, damage: 'bad', firstSeq: 3n, nameSeq: 1n },
      frame: { file: '/j/1.seg', offset: 8, damage: 'bad', seq: 9n, lastSeq: 4n },
      segment: { file: '/j/1.seg', journalId: 7n, firstJournalId: 5n },
      sequence: { file: '/j/1.seg', firstSeq: 9n, expectedSeq: 5n, previousName: '0.seg', previousLastSeq: 4n },
    };
    let corrupt = 0;
    for (const subject of SUBJECTS) {
      for (const row of RECOVERY_CASES[subject] as readonly RecoveryCase<typeof subject>[]) {
        expect('error' in row, `${subject}: '${row.found}'`).toBe(row.action === 'corrupt');
        if (!('error' in row)) continue;
        const error = (row.error as (context: unknown) => unknown)(contexts[subject as keyof typeof contexts]);
        expect(error).toBeInstanceOf(FanlogError);
        expect(error).toMatchObject({ code: 'ECORRUPT', file: '/j/1.seg' });
        expect(row.does).toMatch(/^ECORRUPT/);
        corrupt++;
      }
    }
    expect(corrupt).toBe(11);
  });
});
