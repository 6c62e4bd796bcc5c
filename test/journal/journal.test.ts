/**
 * Journal behaviour on the real file system and on MemoryIo: appending,
 * reading ranges, rolling segments, purging, reopening, sync policies,
 * group commit, argument checks and the failed state.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FanlogError } from '../../index.js';
import { Journal } from '../../journal/index.js';
import { MemoryIo } from '../../testing.js';
import { readAll, rejection, tempDir, text, untext } from '../helpers.js';

const payload = (seq: number): Uint8Array => text(`record ${seq} `.padEnd(40 + (seq % 23), '.'));

async function fill(journal: Journal, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await journal.append(payload(Number(journal.headSeq) + 1));
}

describe('Journal', () => {
  it('starts empty with seq 1 next and a random id', async () => {
    const journal = await Journal.open(tempDir());
    expect(journal.firstSeq).toBe(1n);
    expect(journal.headSeq).toBe(0n);
    expect(journal.durableSeq).toBe(0n);
    expect(typeof journal.journalId).toBe('bigint');
    expect(journal.journalId).not.toBe(0n);
    expect(await readAll(journal)).toEqual([]);
    await journal.close();
  });

  it('assigns contiguous seqs and reads back identical bytes', async () => {
    const journal = await Journal.open(tempDir());
    expect(await journal.append(text('a'))).toBe(1n);
    expect(await journal.appendEntry([text('b'), text('c'), text('d')])).toBe(4n);
    expect(await journal.append(new Uint8Array(0))).toBe(5n);
    const records = await readAll(journal);
    expect(records.map((r) => [r.seq, untext(r.payload)])).toEqual([
      [1n, 'a'],
      [2n, 'b'],
      [3n, 'c'],
      [4n, 'd'],
      [5n, ''],
    ]);
    await journal.close();
  });

  it('assigns seqs in call order to concurrent appends', async () => {
    const journal = await Journal.open(tempDir());
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(text(`c${i}`))));
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    const records = await readAll(journal);
    expect(records.map((r) => untext(r.payload))).toEqual(Array.from({ length: 50 }, (_, i) => `c${i}`));
    await journal.close();
  });

  it('rolls segments and reads across them, from any seq', async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    await fill(journal, 400);
    expect(readdirSync(dir).filter((name) => name.endsWith('.seg')).length).toBeGreaterThan(3);
    for (const [from, to] of [
      [1n, 400n],
      [77n, 311n],
      [200n, 200n],
      [399n, 1000n],
    ] as const) {
      const records = await readAll(journal, { from, to });
      const last = to < 400n ? to : 400n;
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: Number(last - from + 1n) }, (_, i) => from + BigInt(i)));
      for (const record of records) expect(record.payload).toEqual(payload(Number(record.seq)));
    }
    expect(await readAll(journal, { from: 401n })).toEqual([]);
    await journal.close();
  });

  it('finds records inside large segments through its index', async () => {
    const journal = await Journal.open(tempDir());
    const big = new Uint8Array(10_000);
    for (let i = 0; i < 300; i++) await journal.appendEntry([big, text(`marker ${i}`)]);
    const records = await readAll(journal, { from: 500n, to: 503n });
    // Entry i holds seqs 2i+1 (the big payload) and 2i+2 (its marker).
    expect(records.map((r) => [r.seq, r.payload.length === 10_000 ? 'big' : untext(r.payload)])).toEqual([
      [500n, 'marker 249'],
      [501n, 'big'],
      [502n, 'marker 250'],
      [503n, 'big'],
    ]);
    await journal.close();
  });

  it('reads small entries across read-chunk boundaries without losing or repeating one', async () => {
    const journal = await Journal.open(tempDir(), { sync: 'never' });
    // About 3 MiB of entries of one to three records: frames straddle the 1 MiB read chunks.
    let seq = 0;
    while (seq < 40_000) {
      const count = (seq % 3) + 1;
      await journal.appendEntry(Array.from({ length: count }, (_, i) => payload(seq + i + 1)));
      seq += count;
    }
    // One comparison at the end: 40,000 expect() calls cost more than the read they check.
    let expected = 1n;
    const wrong: string[] = [];
    for await (const record of journal.read()) {
      if (record.seq !== expected || !sameBytes(record.payload, payload(Number(record.seq)))) wrong.push(`seq ${record.seq} where ${expected} was due`);
      expected++;
    }
    expect(wrong).toEqual([]);
    expect(expected - 1n).toBe(journal.headSeq);
    const middle = await readAll(journal, { from: 25_001n, to: 25_003n });
    expect(middle.map((r) => r.seq)).toEqual([25_001n, 25_002n, 25_003n]);
    await journal.close();
  });

  it('stops reading cleanly when the caller breaks out early', async () => {
    const journal = await Journal.open(tempDir());
    await journal.appendEntry(Array.from({ length: 10 }, (_, i) => payload(i + 1)));
    const seen: bigint[] = [];
    for await (const record of journal.read()) {
      seen.push(record.seq);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([1n, 2n, 3n]);
    expect((await readAll(journal, { from: 9n })).map((r) => r.seq)).toEqual([9n, 10n]);
    await journal.close();
  });

  it('keeps everything across a clean reopen, with nothing to repair', async () => {
    const dir = tempDir();
    const first = await Journal.open(dir, { segmentBytesMax: 4096 });
    await fill(first, 150);
    const id = first.journalId;
    await first.close();
    const second = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(second.journalId).toBe(id);
    expect(second.headSeq).toBe(150n);
    expect(second.recovery).toMatchObject({ truncatedBytes: 0, records: 150, repairs: [] });
    expect(second.recovery.segments).toBeGreaterThan(1);
    expect(await second.append(text('next'))).toBe(151n);
    expect((await readAll(second)).length).toBe(151);
    await second.close();
  });

  it('purges whole segments only, keeps numbering, and rejects reads of purged records', async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    await fill(journal, 300);
    const segmentsBefore = readdirSync(dir).filter((name) => name.endsWith('.seg')).length;
    const deleted = await journal.purge(150n);
    expect(deleted).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((name) => name.endsWith('.seg')).length).toBe(segmentsBefore - deleted);
    expect(journal.firstSeq).toBeGreaterThan(1n);
    expect(journal.firstSeq).toBeLessThanOrEqual(151n);
    expect((await rejection(() => readAll(journal, { from: 1n }))).code).toBe('EPURGED');
    const rest = await readAll(journal);
    expect(rest[0]!.seq).toBe(journal.firstSeq);
    expect(rest[rest.length - 1]!.seq).toBe(300n);
    expect(await journal.append(text('after purge'))).toBe(301n);
    const firstSeq = journal.firstSeq;
    await journal.close();
    const reopened = await Journal.open(dir, { segmentBytesMax: 4096 });
    expect(reopened.firstSeq).toBe(firstSeq);
    expect(reopened.headSeq).toBe(301n);
    expect(reopened.recovery.repairs).toEqual([]);
    await reopened.close();
  });

  it('never purges the newest segment', async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    await fill(journal, 10);
    expect(await journal.purge(10n)).toBe(0);
    expect(journal.firstSeq).toBe(1n);
    expect((await readAll(journal)).length).toBe(10);
    await journal.close();
  });

  it('rejects a second open of the same directory with EBUSY, and allows it after close', async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir);
    expect((await rejection(() => Journal.open(dir))).code).toBe('EBUSY');
    await journal.close();
    const again = await Journal.open(dir);
    await again.close();
  });

  it('gives an entry larger than a segment a segment of its own, and reads it back after a reopen', async () => {
    const dir = tempDir();
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    await journal.append(text('before'));
    const big = new Uint8Array(10_000).fill(9);
    expect(await journal.appendEntry([big, text('same entry')])).toBe(3n);
    expect(await journal.append(text('after'))).toBe(4n);
    await journal.close();
    const segments = readdirSync(dir)
      .filter((name) => name.endsWith('.seg'))
      .sort();
    expect(segments).toEqual(['00000000000000000001.seg', '00000000000000000002.seg', '00000000000000000004.seg']);
    const reopened = await Journal.open(dir, { segmentBytesMax: 4096 });
    const records = await readAll(reopened);
    expect(records.map((record) => record.payload.length)).toEqual([6, 10_000, 10, 5]);
    expect(reopened.recovery.repairs).toEqual([]);
    await reopened.close();
  });

  it('validates its arguments with EINVAL and keeps working', async () => {
    const dir = tempDir();
    const bad: [string, () => Promise<unknown>][] = [
      ['empty dir', () => Journal.open('')],
      ['unknown option', () => Journal.open(dir, { syncEvery: 1 } as never)],
      ['bad sync', () => Journal.open(dir, { sync: 'sometimes' as never })],
      ['tiny segments', () => Journal.open(dir, { segmentBytesMax: 100 })],
      ['fractional interval', () => Journal.open(dir, { syncIntervalMs: 1.5 })],
    ];
    for (const [what, call] of bad) {
      const error = await rejection(call);
      expect(error, what).toBeInstanceOf(FanlogError);
      expect(error.code, what).toBe('EINVAL');
    }
    const journal = await Journal.open(dir, { segmentBytesMax: 4096 });
    const badCalls: [string, () => Promise<unknown>][] = [
      ['string payload', () => journal.append('text' as never)],
      ['empty entry', () => journal.appendEntry([])],
      ['entry with a number', () => journal.appendEntry([text('ok'), 5 as never])],
      ['no records to encode', () => journal.appendRecords(0, () => undefined)],
      ['a fractional count', () => journal.appendRecords(1.5, () => undefined)],
      ['no encoder', () => journal.appendRecords(1, 'bytes' as never)],
      ['number from', () => readAll(journal, { from: 1 as never })],
      ['negative from', () => readAll(journal, { from: -1n })],
      ['purge beyond head', () => journal.purge(10n)],
      ['purge with a number', () => journal.purge(1 as never)],
    ];
    for (const [what, call] of badCalls) {
      const error = await rejection(call);
      expect(error, what).toBeInstanceOf(FanlogError);
      expect(error.code, what).toBe('EINVAL');
    }
    expect(await journal.append(text('still fine'))).toBe(1n);
    await journal.close();
    expect((await rejection(() => journal.append(text('late')))).code).toBe('ECLOSED');
  });

  it("with sync 'always', shares one fdatasync among concurrent appenders (group commit)", async () => {
    const io = new MemoryIo();
    const journal = await Journal.open('/j', { io });
    const before = io.steps;
    await Promise.all(Array.from({ length: 64 }, (_, i) => journal.append(text(`g${i}`))));
    // One write and one fdatasync for all 64, not 64 of each (and, once, the zeros written ahead: zero-tail.ts).
    expect(io.steps - before).toBe(3);
    const single = io.steps;
    await journal.append(text('alone'));
    expect(io.steps - single).toBe(2);
    await journal.close();
  });

  it('encodes records in place: an encoder that throws appends nothing, and the entries around it are whole', async () => {
    const io = new MemoryIo();
    const journal = await Journal.open('/j', { io, segmentBytesMax: 4096 });
    const first = journal.appendRecords(2, (out, i) => out.raw(text(`in place ${i}`)));
    const broken = new Error('encoder bug');
    const refused = journal.appendRecords(3, (out, i) => {
      if (i === 1) throw broken;
      out.raw(text('half'));
    });
    expect(journal.headSeq).toBe(2n);
    const last = journal.appendRecords(1, (out) => out.string('after'));
    await expect(refused).rejects.toBe(broken);
    expect(await first).toBe(2n);
    expect(await last).toBe(3n);
    const records = await readAll(journal);
    expect(records.map((r) => untext(r.payload))).toEqual(['in place 0', 'in place 1', '\u0005after']);
    await journal.close();
  });

  it('reuses its batch buffers without mixing batches, across segment rolls', async () => {
    // Batches of varied sizes, each gathered while the one before is written,
    // rolling 4 KiB segments mid-batch: every record must come back as appended.
    for (const dir of [tempDir(), null]) {
      const io = new MemoryIo();
      const journal = dir === null ? await Journal.open('/j', { io, segmentBytesMax: 4096 }) : await Journal.open(dir, { segmentBytesMax: 4096 });
      let expected = 0;
      const rounds: Promise<unknown>[] = [];
      for (let round = 0; round < 40; round++) {
        const size = 1 + ((round * 7) % 13);
        for (let i = 0; i < size; i++) rounds.push(journal.append(payload(++expected)));
        if (round % 3 === 0) await Promise.all(rounds.splice(0));
      }
      await Promise.all(rounds);
      const records = await readAll(journal);
      expect(records.map((r) => untext(r.payload))).toEqual(Array.from({ length: expected }, (_, i) => untext(payload(i + 1))));
      await journal.close();
    }
  });

  it("with sync 'always', a resolved append survives a power cut", async () => {
    const io = new MemoryIo();
    const journal = await Journal.open('/j', { io });
    await journal.append(text('kept'));
    io.crash(1, 'drop');
    const reopened = await Journal.open('/j', { io });
    expect((await readAll(reopened)).map((r) => untext(r.payload))).toEqual(['kept']);
    await reopened.close();
  });

  it("with sync 'never', resolves before syncing and lets readers see written records", async () => {
    const io = new MemoryIo();
    const journal = await Journal.open('/j', { io, sync: 'never' });
    const before = io.steps;
    await journal.append(text('written'));
    expect(io.steps - before).toBe(1); // a write, no sync (and no zeros ahead: zero-tail.ts)
    expect(journal.durableSeq).toBe(1n);
    expect((await readAll(journal)).length).toBe(1);
    io.crash(2, 'drop');
    const reopened = await Journal.open('/j', { io });
    expect(reopened.headSeq).toBe(0n); // the OS never wrote it
    await reopened.close();
  });

  it("with sync 'interval', makes written records durable within the interval", async () => {
    const io = new MemoryIo();
    const journal = await Journal.open('/j', { io, sync: 'interval', syncIntervalMs: 5 });
    await journal.append(text('soon durable'));
    expect(journal.durableSeq).toBe(0n);
    expect(await readAll(journal)).toEqual([]);
    await expect.poll(() => journal.durableSeq, { timeout: 2000, interval: 5 }).toBe(1n);
    io.crash(3, 'drop');
    const reopened = await Journal.open('/j', { io });
    expect(reopened.headSeq).toBe(1n);
    await reopened.close();
  });

  it('closes durably under every policy', async () => {
    for (const sync of ['interval', 'never'] as const) {
      const io = new MemoryIo();
      const journal = await Journal.open('/j', { io, sync, syncIntervalMs: 3_600_000 });
      await journal.append(text(sync));
      await journal.close();
      io.crash(4, 'drop');
      const reopened = await Journal.open('/j', { io });
      expect(reopened.headSeq, sync).toBe(1n);
      await reopened.close();
    }
  });

  for (const [op, code] of [
    ['write', 'EIO'],
    ['sync', 'EIO'],
    ['write', 'ENOSPC'],
    ['sync', 'ENOSPC'],
  ] as const) {
    it(`fails the affected appends on ${code} at ${op}, then everything with EFAILED until reopened`, async () => {
      const io = new MemoryIo();
      const journal = await Journal.open('/j', { io });
      await journal.append(text('before'));
      io.injectFault({ op, nth: 1, code });
      const [failed, queued] = await Promise.allSettled([journal.append(text('hit')), journal.append(text('same batch'))]);
      expect(failed.status === 'rejected' && (failed.reason as FanlogError).code).toBe(code);
      expect(queued.status === 'rejected' && (queued.reason as FanlogError).code).toBe(code);
      expect(journal.failed).toBe(true);
      expect((await rejection(() => journal.append(text('after')))).code).toBe('EFAILED');
      expect((await rejection(() => readAll(journal))).code).toBe('EFAILED');
      expect((await rejection(() => journal.purge(0n))).code).toBe('EFAILED');
      const stepsBefore = io.steps;
      await journal.close();
      expect(io.steps).toBe(stepsBefore); // no retried sync on close
      const reopened = await Journal.open('/j', { io });
      const records = await readAll(reopened);
      expect(records[0] && untext(records[0].payload)).toBe('before');
      expect(await reopened.append(text('works again'))).toBe(reopened.headSeq);
      await reopened.close();
    });
  }
});

describe('Journal.open on a bad path', () => {
  it('names the problem with a POSIX code', async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/plain-file`, 'x');
    const error = await rejection(() => Journal.open(`${dir}/plain-file/journal`));
    expect(error).toBeInstanceOf(FanlogError);
    expect(error.code).toBe('ENOTDIR');
  });
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
