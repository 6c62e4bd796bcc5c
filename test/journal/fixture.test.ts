/**
 * A journal written by format version 1 (test/fixtures/journal-v1, made by
 * make-journal-v1.mjs) still opens and reads back exactly: a format change
 * that breaks old journals fails here.
 */
import { cpSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Journal } from '../../journal/index.js';
import { readAll, tempDir, untext } from '../helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/journal-v1', import.meta.url));
const EXPECTED = JSON.parse(readFileSync(new URL('../fixtures/journal-v1.json', import.meta.url), 'utf8')) as {
  journalId: string;
  firstSeq: string;
  headSeq: string;
};

/** The records make-journal-v1.mjs appended, by seq. */
function expectedPayloads(): string[] {
  const payloads = [''];
  for (let i = 1; i <= 120; i++) {
    payloads.push(`fixture record ${i}`.padEnd(40, '.'));
    if (i % 10 === 0) payloads.push(`entry tail ${i}`);
  }
  return payloads;
}

it('reads a format version 1 journal back exactly, with nothing to repair', async () => {
  const dir = tempDir();
  cpSync(FIXTURE, dir, { recursive: true });
  const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
  expect(journal.journalId).toBe(BigInt(EXPECTED.journalId));
  expect(journal.firstSeq).toBe(BigInt(EXPECTED.firstSeq));
  expect(journal.headSeq).toBe(BigInt(EXPECTED.headSeq));
  expect(journal.recovery.repairs).toEqual([]);
  const payloads = expectedPayloads();
  const records = await readAll(journal);
  expect(records.length).toBe(Number(journal.headSeq - journal.firstSeq + 1n));
  for (const record of records) expect(untext(record.payload)).toBe(payloads[Number(record.seq)]);
  await journal.close();
});
