/**
 * The peers suite's consumer case (bench/peers.ts): read 1,000 records,
 * then make the progress durable, one call after another.
 *
 *   fanlog         a consumer (lmdb store) over a changelog of event records
 *                  (bench/consumers.ts's createEvent), `read({ max: 1000 })` then `ack`
 *   fanlog_blocking  the same over the `files` store (a journal of its own: an ack is one
 *                  write and one fdatasync, where lmdb's commit syncs twice) with blocking
 *                  commits (`new NodeIo({ blocking: true })`)
 *   sqlite_full    the same records' bytes as blobs; `SELECT … WHERE id > cursor LIMIT 1000`,
 *                  then `UPDATE cursor` in a transaction, WAL with synchronous=FULL
 *   sqlite_normal  the same with synchronous=NORMAL (the ack is not synced)
 *
 * Both start again from the first record when they reach the end (fanlog
 * by registering the consumer anew), so any number of calls can run.
 */
import path from 'node:path';
import { Engine, type EngineOptions } from '../fanlog.js';
import { NodeIo } from '../journal/node-io.js';
import { createEvent, writeChangelog } from './consumers.js';
import { openSqlite } from './peers-stores.js';

/** One case of one peer, run in alternating rounds. */
export interface RoundCase {
  kase: string;
  peer: string;
  recordsPerCall: number;
  run: () => Promise<unknown>;
}

const READ_RECORDS = 1000;

export async function consumerPeers(dir: string, records: number): Promise<{ cases: RoundCase[]; close: () => Promise<void> }> {
  const fanlog = [
    await fanlogConsumer(path.join(dir, 'engine'), 'fanlog', records, { store: 'lmdb' }),
    await fanlogConsumer(path.join(dir, 'engine-blocking'), 'fanlog_blocking', records, { store: 'files', io: new NodeIo({ blocking: true }) }),
  ];
  const sqlite = (['FULL', 'NORMAL'] as const).map((level) => sqliteConsumer(path.join(dir, `sqlite-${level}.db`), level, records));
  return {
    cases: [...fanlog.map((f) => f.kase), ...sqlite.map((s) => s.kase)],
    close: async () => {
      for (const f of fanlog) await f.close();
      for (const s of sqlite) s.close();
    },
  };
}

/** A consumer of an engine opened with `options` over a changelog of `records` event records, as the case `peer`. */
async function fanlogConsumer(dir: string, peer: string, records: number, options: EngineOptions): Promise<{ kase: RoundCase; close: () => Promise<void> }> {
  await writeChangelog(path.join(dir, 'journal'), records, null);
  const engine = await Engine.open(dir, options);
  let consumer = await engine.consumers.register('peer');
  const kase: RoundCase = {
    kase: 'consumer',
    peer,
    recordsPerCall: READ_RECORDS,
    run: async () => {
      let batch = await consumer.read({ max: READ_RECORDS });
      if (batch.length === 0) {
        await engine.consumers.deregister('peer');
        consumer = await engine.consumers.register('peer');
        batch = await consumer.read({ max: READ_RECORDS });
      }
      if (batch.length !== READ_RECORDS) throw new Error(`consumer read ${batch.length} records, expected ${READ_RECORDS}`);
      await consumer.ack(batch[batch.length - 1]!.seq);
    },
  };
  return { kase, close: () => engine.close() };
}

function sqliteConsumer(file: string, level: 'FULL' | 'NORMAL', records: number): { kase: RoundCase; close: () => void } {
  const db = openSqlite(file, level);
  db.exec('CREATE TABLE cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)');
  db.prepare("INSERT INTO cursor (name, seq) VALUES ('peer', 0)").run();
  const insert = db.prepare('INSERT INTO log (payload) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < records; i++) insert.run(createEvent(i));
  })();
  const cursor = db.prepare("SELECT seq FROM cursor WHERE name = 'peer'").pluck();
  const select = db.prepare('SELECT id, payload FROM log WHERE id > ? ORDER BY id LIMIT ?');
  const update = db.prepare("UPDATE cursor SET seq = ? WHERE name = 'peer'");
  const ack = db.transaction((seq: number) => {
    update.run(seq);
  });
  const kase: RoundCase = {
    kase: 'consumer',
    peer: level === 'FULL' ? 'sqlite_full' : 'sqlite_normal',
    recordsPerCall: READ_RECORDS,
    run: async () => {
      let rows = select.all(cursor.get(), READ_RECORDS) as { id: number; payload: Uint8Array }[];
      if (rows.length === 0) rows = select.all(0, READ_RECORDS) as { id: number; payload: Uint8Array }[];
      if (rows.length !== READ_RECORDS) throw new Error(`sqlite read ${rows.length} rows, expected ${READ_RECORDS}`);
      ack(rows[rows.length - 1]!.id);
    },
  };
  return { kase, close: () => db.close() };
}
