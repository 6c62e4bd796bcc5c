/**
 * The read path: a consumer's records are views over the journal's bytes
 * that read as the decoded records did, stay valid after later reads, and
 * come from one journal reader kept across reads; built-in filters decide
 * from the bytes exactly as they did from decoded headers; and a record this
 * version cannot read is ECORRUPT whether it would be delivered or not.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../interop/index.js';
import { CODEC_VERSION } from '../../engine/record/fields.js';
import { Engine, FAN_CREATE, FAN_MODIFY, FAN_ONDIR, FAN_XATTR, type DeliveredRecord } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import type { IoFile, IoOpenMode } from '../../journal/io.js';
import { rejection } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
});

/** A MemoryIo that counts the files opened for reading. */
class CountingIo extends MemoryIo {
  readOpens = 0;
  override async open(filePath: string, mode: IoOpenMode): Promise<IoFile> {
    if (mode === 'read') this.readOpens++;
    return super.open(filePath, mode);
  }
}

async function open(io = new MemoryIo()): Promise<Engine> {
  const engine = await Engine.open('/e', { io, store: 'files' });
  engines.push(engine);
  return engine;
}

/** Operations whose events carry every delivered field an fs op produces, with non-ASCII names. */
async function workload(engine: Engine): Promise<void> {
  const fs = engine.fs;
  await fs.mkdir('/d');
  await fs.mkdir('/dé');
  await fs.create('/d/a', { size: 10 }, { pid: 7, uid: 1000 });
  const fd = await fs.open('/d/a', 'w', {}, { pid: 7 });
  await fs.write(fd, 0, 4096, { pid: 7 });
  await fs.close(fd, { pid: 7 });
  await fs.rename('/d/a', '/dé/ü', { pid: 8 });
  await fs.setxattr('/dé/ü', 'user.x', new Uint8Array([1, 2]));
  await fs.symlink('../d', '/dé/link');
  await fs.truncate('/dé/ü', 5);
  await fs.chmod('/dé/ü', 0o600);
  await fs.create('/d/b');
  await fs.unlink('/d/b');
}

/** What a consumer was handed before records became views: each non-op record decoded, its internal fields dropped, its seq last. */
async function decodedRecords(engine: Engine): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const { seq, payload } of engine.journal.read()) {
    const record = decodeRecord(payload) as unknown as Record<string, unknown>;
    if (record.kind === 'op') continue;
    for (const internal of ['intent', 'step', 'steps', 'args', 'attrs', 'value', 'config']) delete record[internal];
    record.seq = seq;
    out.push(record);
  }
  return out;
}

const asJson = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

describe('records as views', () => {
  it('read as the decoded records did: every field, toJSON and JSON.stringify in the same order, inspect showing them', async () => {
    const engine = await open();
    await workload(engine);
    const expected = await decodedRecords(engine);
    const consumer = await engine.consumers.register('c');
    const records = await consumer.read({ max: 1000 });
    expect(records.length).toBe(expected.length);
    expect(records.some((record) => record.oldPath !== undefined && record.range === undefined)).toBe(true);
    records.forEach((record, i) => {
      const want = expected[i]!;
      for (const [name, value] of Object.entries(want)) expect((record as unknown as Record<string, unknown>)[name], `${name} of ${i}`).toEqual(value);
      expect(asJson(record)).toBe(asJson(want));
      expect(Object.keys(record)).toEqual(['seq', 'kind']);
      expect(inspect(record)).toContain(String(want.path ?? want.kind));
    });
    // toJSON() is the plain copy: structuredClone and spread give every field.
    const plain = (records[2] as unknown as { toJSON(): Record<string, unknown> }).toJSON();
    expect(structuredClone(plain)).toEqual(expected[2]);
    expect({ ...plain }).toEqual(expected[2]);
  });

  it('stay valid after later reads', async () => {
    const engine = await open();
    for (let i = 0; i < 300; i++) await engine.fs.mkdir(`/m${i}`);
    const consumer = await engine.consumers.register('c');
    const first = await consumer.read({ max: 5 });
    const snapshot = first.map((record) => asJson(record));
    let later = 0;
    for (let batch = await consumer.read({ max: 7 }); batch.length > 0; batch = await consumer.read({ max: 7 })) later += batch.length;
    expect(later).toBe(295);
    expect(first.map((record) => asJson(record))).toEqual(snapshot);
    expect(first.map((record) => record.path)).toEqual(['/m0', '/m1', '/m2', '/m3', '/m4']);
  });
});

describe('one reader per consumer', () => {
  it('opens the journal once for many reads, and not at all when there is nothing new', async () => {
    const io = new CountingIo();
    const engine = await open(io);
    for (let i = 0; i < 200; i++) await engine.fs.mkdir(`/m${i}`);
    const consumer = await engine.consumers.register('c');
    const opensBefore = io.readOpens;
    let count = 0;
    for (let batch = await consumer.read({ max: 10 }); batch.length > 0; batch = await consumer.read({ max: 10 })) count += batch.length;
    expect(count).toBe(200);
    expect(io.readOpens - opensBefore).toBe(1);
    const atHead = io.readOpens;
    for (let i = 0; i < 5; i++) expect(await consumer.read()).toEqual([]);
    expect(io.readOpens).toBe(atHead);
    await engine.fs.mkdir('/late');
    expect((await consumer.read()).map((record) => record.path)).toEqual(['/late']);
  });

  it('serves concurrent reads in call order, each record once, and starts after an ack that passed the read position', async () => {
    const engine = await open();
    for (let i = 0; i < 20; i++) await engine.fs.mkdir(`/m${i}`);
    const consumer = await engine.consumers.register('c');
    const [a, b] = await Promise.all([consumer.read({ max: 3 }), consumer.read({ max: 3 })]);
    expect([...a, ...b].map((record) => record.path)).toEqual(['/m0', '/m1', '/m2', '/m3', '/m4', '/m5']);
    const peek = await engine.consumers.register('peek');
    const all = await peek.read({ max: 100 });
    await consumer.ack(all[11]!.seq);
    expect((await consumer.read({ max: 1 }))[0]!.path).toBe('/m12');
  });
  it('rejects, never throws, on bad arguments and after deregistration, as an async read always did', async () => {
    const engine = await open();
    const consumer = await engine.consumers.register('c');
    const bad = (() => {
      try {
        return consumer.read({ max: 0 });
      } catch (error) {
        return `threw ${String(error)}`;
      }
    })();
    expect(bad).toBeInstanceOf(Promise);
    expect((await rejection(() => bad as Promise<unknown>)).code).toBe('EINVAL');
    await engine.consumers.deregister('c');
    const gone = (() => {
      try {
        return consumer.read();
      } catch (error) {
        return `threw ${String(error)}`;
      }
    })();
    expect(gone).toBeInstanceOf(Promise);
    expect((await rejection(() => gone as Promise<unknown>)).code).toBe('ENOENT');
  });
});

describe('filters on bytes', () => {
  it('keep exactly what the same test on decoded paths and masks keeps', async () => {
    const engine = await open();
    await workload(engine);
    const all = (await decodedRecords(engine)) as unknown as DeliveredRecord[];
    const under = (p: string | undefined, prefix: string): boolean =>
      p !== undefined && (prefix === '/' || p === prefix || p.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    const cases: [string, string, (record: DeliveredRecord) => boolean][] = [];
    for (const prefix of ['/', '/d', '/d/', '/dé', '/dé/ü', '/dé/', '/d/a', '/nothing', '/dé/ü/x']) {
      cases.push(['path-prefix', prefix, (record) => under(record.path, prefix) || under(record.oldPath, prefix)]);
    }
    for (const mask of [FAN_CREATE, FAN_MODIFY | FAN_ONDIR, FAN_XATTR, FAN_XATTR | FAN_CREATE]) {
      cases.push(['mask', mask.toString(16), (record) => record.mask !== undefined && (record.mask & mask) !== 0n]);
    }
    for (const [i, [name, argument, keeps]] of cases.entries()) {
      const consumer = await engine.consumers.register(`f${i}`);
      await consumer.attachFilter(name, argument);
      const kept = (await consumer.read({ max: 1000 })).map((record) => record.seq);
      expect(kept, `${name} ${argument}`).toEqual(all.filter(keeps).map((record) => record.seq));
    }
    // A consumer's own mask is tested from the bytes too (FAN_XATTR is above bit 32).
    const masked = await engine.consumers.register('masked', { mask: FAN_XATTR });
    expect((await masked.read({ max: 1000 })).map((record) => record.seq)).toEqual(
      all.filter((r) => r.mask === undefined || (r.mask & FAN_XATTR) !== 0n).map((r) => r.seq),
    );
  });

  it('reject a record this version cannot read, whether the filter would keep it or not', async () => {
    for (const filter of [null, '/elsewhere']) {
      const engine = await open();
      await engine.fs.mkdir('/d');
      const good = encodeRecord({ kind: 'event', op: 'mkdir', time: 1n, mask: FAN_CREATE, path: '/d/x' });
      const future = Uint8Array.of(CODEC_VERSION + 1, ...good.subarray(1));
      const seq = await engine.journal.appendEntry([future]);
      const consumer = await engine.consumers.register('c');
      if (filter !== null) await consumer.attachFilter('path-prefix', filter);
      const error = await rejection(() => consumer.read({ max: 1000 }));
      expect(error.code, `filter ${filter}`).toBe('ECORRUPT');
      expect(error.message).toContain(`codec version ${CODEC_VERSION + 1}`);
      expect(seq).toBeGreaterThan(0n);
      await engine.close();
    }
  });
});
