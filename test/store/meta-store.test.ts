/**
 * One conformance suite for every MetaStore backend, on its own (sealed
 * values) and through the engine's FailStopStore (which adds the journal's
 * high-water mark to every commit): atomic durable commits, gets, ordered
 * prefix scans, binary values, and reopen. The `files` backend also runs
 * under simulated power cuts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryIo } from '../../testing.js';
import { NodeIo } from '../../journal/index.js';
import { FailStopStore } from '../../engine/fail-stop-store.js';
import { HIGH_WATER_KEY } from '../../store/keys.js';
import { Journal } from '../../journal/journal.js';
import { metaStoreDir, openMetaStore, type MetaOp, type MetaStore, STORE_KINDS, type StoreKind } from '../../store/meta-store.js';
import { tempDir, text, untext } from '../helpers.js';

type Store = Pick<MetaStore, 'get' | 'scan' | 'close'> & { commit(ops: readonly MetaOp[]): Promise<void> };
const WRAPPERS = ['sealed', 'fail-stop'] as const;

/** The store of `kind` in `dir`, as the suite's `wrapper` variant sees it. */
async function open(kind: StoreKind, wrapper: (typeof WRAPPERS)[number], dir: string): Promise<Store> {
  const sealed = await openMetaStore(kind, dir, new NodeIo());
  if (wrapper === 'sealed') return sealed;
  const journal = await Journal.open(`${dir}/journal`);
  const store = new FailStopStore(
    sealed,
    journal,
    () => undefined,
    (error) => error as Error,
  );
  return {
    get: (key) => store.get(key),
    scan: (prefix) => store.scan(prefix),
    commit: (ops) => store.commit(ops),
    close: async () => {
      await store.close();
      await journal.close();
    },
  };
}

async function scanAll(store: Store, prefix: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [key, value] of store.scan(prefix)) out.push([key, untext(value)]);
  return out;
}

for (const kind of STORE_KINDS)
  for (const wrapper of WRAPPERS) {
    describe(`MetaStore ${kind} (${wrapper})`, () => {
      it('commits puts and deletes and reads them back', async () => {
        const store = await open(kind, wrapper, tempDir());
        expect(await store.get('a')).toBeUndefined();
        await store.commit([
          { type: 'put', key: 'a', value: text('1') },
          { type: 'put', key: 'b', value: text('2') },
        ]);
        await store.commit([
          { type: 'del', key: 'a' },
          { type: 'put', key: 'b', value: text('3') },
        ]);
        expect(await store.get('a')).toBeUndefined();
        expect(untext((await store.get('b'))!)).toBe('3');
        await store.close();
      });

      it('scans a prefix in ascending key order and nothing outside it', async () => {
        const store = await open(kind, wrapper, tempDir());
        await store.commit(['g/b', 'g/a', 'g/c', 'f/z', 'h/a', 'g', 'g/a/x'].map((key) => ({ type: 'put' as const, key, value: text(key) })));
        expect((await scanAll(store, 'g/')).map(([key]) => key)).toEqual(['g/a', 'g/a/x', 'g/b', 'g/c']);
        await store.close();
      });

      it('keeps binary values exactly, including empty ones', async () => {
        const store = await open(kind, wrapper, tempDir());
        const value = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
        await store.commit([
          { type: 'put', key: 'bin', value },
          { type: 'put', key: 'empty', value: new Uint8Array(0) },
        ]);
        expect(await store.get('bin')).toEqual(value);
        expect(await store.get('empty')).toEqual(new Uint8Array(0));
        await store.close();
      });

      it('keeps every resolved commit across a reopen', async () => {
        const dir = tempDir();
        const store = await open(kind, wrapper, dir);
        for (let i = 0; i < 50; i++) await store.commit([{ type: 'put', key: `k/${String(i).padStart(3, '0')}`, value: text(`v${i}`) }]);
        await store.commit([{ type: 'del', key: 'k/007' }]);
        await store.close();
        const reopened = await open(kind, wrapper, dir);
        const entries = await scanAll(reopened, 'k/');
        expect(entries.length).toBe(49);
        expect(entries[0]).toEqual(['k/000', 'v0']);
        expect(entries.find(([key]) => key === 'k/007')).toBeUndefined();
        // Through the engine's view, every commit also stored the journal's high-water mark.
        expect((await reopened.get(HIGH_WATER_KEY)) !== undefined).toBe(wrapper === 'fail-stop');
        await reopened.close();
      });
    });
  }

describe('MetaStore files under power cuts', () => {
  it('applies each commit wholly or not at all, keeps every resolved one, and survives compaction', async () => {
    for (let cut = 0; cut < 400; cut += 7) {
      const io = new MemoryIo();
      const store = await openMetaStore('files', '/m', io);
      io.cutPowerAfter(cut);
      let resolved = 0;
      try {
        for (let i = 1; i <= 60; i++) {
          // Each commit writes the same counter under two keys, plus a large value to force snapshots.
          await store.commit([
            { type: 'put', key: 'x/a', value: text(String(i)) },
            { type: 'put', key: 'x/b', value: text(String(i)) },
            { type: 'put', key: `big/${i % 5}`, value: new Uint8Array(100_000).fill(i) },
          ]);
          resolved = i;
        }
        await store.close();
      } catch (error) {
        expect(io.isPoweredOff, String(error)).toBe(true);
      }
      io.crash(cut, 'any');
      const recovered = await openMetaStore('files', '/m', io);
      const a = await recovered.get('x/a');
      const b = await recovered.get('x/b');
      const value = a === undefined ? 0 : Number(untext(a));
      expect(b === undefined ? 0 : Number(untext(b)), `cut ${cut}`).toBe(value);
      expect(value, `cut ${cut}`).toBeGreaterThanOrEqual(resolved);
      await recovered.close();
    }
  });
});

describe('MetaStore lmdb read from its file (read-only, no LMDB environment)', () => {
  /** A seeded generator, so that a failure names a reproducible data set. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return state / 2 ** 32;
    };
  }

  it('reads what the writer wrote: every key, absent keys, and every prefix, over a tree three levels deep with overflow values', async () => {
    const dir = tempDir();
    const next = random(26);
    const model = new Map<string, Uint8Array>();
    const writer = await openMetaStore('lmdb', dir, new NodeIo());
    // 24,000 keys of 20 to 90 characters (some past lmdb-js's 64-character key encoding boundary), values of 0 bytes to 40 KiB, then deletes and overwrites.
    for (let batch = 0; batch < 24; batch++) {
      const ops: MetaOp[] = [];
      for (let i = 0; i < 1000; i++) {
        const key = `k${batch % 3}/${'x'.repeat(Math.floor(next() * 70))}/${(batch * 1000 + i).toString(36)}`;
        const size = next() < 0.01 ? Math.floor(next() * 40_000) : Math.floor(next() * 40);
        const value = Uint8Array.from({ length: size }, (_, j) => (j * 31 + batch) & 0xff);
        ops.push({ type: 'put', key, value });
        model.set(key, value);
      }
      for (const key of [...model.keys()].filter(() => next() < 0.02)) {
        ops.push({ type: 'del', key });
        model.delete(key);
      }
      await writer.commit(ops);
    }
    await writer.close();
    const file = readFileSync(path.join(metaStoreDir(dir, 'lmdb'), 'data.mdb'));
    const pageBytes = file.readUInt32LE(48);
    expect(Math.max(file.readUInt16LE(102), file.readUInt16LE(pageBytes + 102)), "the main tree's depth").toBeGreaterThanOrEqual(3);
    const reader = await openMetaStore('lmdb', dir, new NodeIo(), { readOnly: true });
    // Byte comparisons counted, not an expect per entry: the suite reads 100,000 of them.
    const differs = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => a === undefined || b === undefined || Buffer.compare(a, b) !== 0;
    try {
      // Every key by scan below; a seeded sample by get.
      const sample = [...model].filter(() => next() < 0.1);
      const wrong: string[] = [];
      for (const [key, value] of sample) if (differs(await reader.get(key), value)) wrong.push(key);
      expect(wrong).toEqual([]);
      expect(sample.length).toBeGreaterThan(1000);
      for (const key of ['k0', 'k1/', 'k9/x', 'zzz', 'k2/x/0']) expect(await reader.get(key)).toBeUndefined();
      for (const prefix of ['', 'k0/', 'k1/xxxxxxxxxx', 'k2/x/', 'k3/', 'k']) {
        const expected = [...model.keys()].filter((key) => key.startsWith(prefix)).sort();
        const scanned: string[] = [];
        for await (const [key, value] of reader.scan(prefix)) {
          if (differs(value, model.get(key))) wrong.push(key);
          scanned.push(key);
        }
        expect(scanned, `prefix '${prefix}'`).toEqual(expected);
        expect(wrong, `prefix '${prefix}'`).toEqual([]);
      }
      await expect(reader.commit([{ type: 'del', key: 'k0' }])).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      await reader.close();
    }
  });
});
