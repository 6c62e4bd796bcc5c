/**
 * Peers suite: fanlog against what a Node developer would pick instead for
 * a durable log (better-sqlite3 in WAL mode, FULL and NORMAL; hypercore)
 * and against the physical limit (raw `node:fs` appends with fdatasync), on
 * the same disk (the OS temp dir, as the other suites), in one process.
 * Stores and what each write means for durability: bench/peers-stores.ts.
 *
 *   batch      1,000 × 200 B records per commit, each commit awaited
 *   single     one record per commit, each awaited
 *   append64   64 concurrent appenders, one record each (SQLite: one writer, 64 commits in turn)
 *   read       sequential read of a prepared store of N records (10,000; 2,000 with --quick;
 *              few, because hypercore reads one in 1.4 s at 14,000 records/s)
 *   consumer   read 1,000 records, then a durable ack: fanlog, a consumer (lmdb store) over a
 *              changelog of event records; SQLite, select 1,000 after a cursor row, then update
 *              the cursor row in a transaction (no hypercore or limit: they have no cursor)
 *
 * fanlog runs twice: as it is by default, and with blocking commits
 * (`fanlog_blocking`: bench/peers-stores.ts), in the write cases; the
 * blocking one's ratios to the other peers are reported as the cases
 * "batch, blocking commits" and so on.
 *
 * Rounds alternate: in each round every case runs for every peer in turn
 * (the peers' order rotating by round), for a fixed time; a ratio
 * fanlog/peer is taken within each round, and the median over rounds is
 * reported, as runSideBySide does (bench/harness.ts), since this VM's
 * fdatasync latency drifts within a minute. The extra measurement `strace`
 * counts fsync and fdatasync per single append of each peer
 * (bench/peers-strace.ts), when strace is installed and not with --quick.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BenchSettings, formatRate, percentile, selected, timedRound } from './harness.js';
import { consumerPeers, type RoundCase } from './peers-consumer.js';
import { countSyncs, type SyncCounts } from './peers-strace.js';
import { bytesUnder, openPeer, PEER_NAMES, type PeerName, type PeerStore } from './peers-stores.js';

const PAYLOAD_BYTES = 200;
const BATCH_RECORDS = 1000;
const CONCURRENT = 64;

export interface PeersSuiteResult {
  suite: 'peers';
  /** Median records/s by `case_peer`. */
  recordsPerSecond: Record<string, number>;
  /** By case, then peer: the median over rounds of fanlog's rate divided by the peer's. */
  peerRatios: Record<string, Record<string, number>>;
  /** Bytes on disk per record of the read stores, by peer. */
  bytesPerRecord: Record<string, number>;
  /** fsync and fdatasync calls per single append, by peer; empty when not measured. */
  syncsPerAppend: Record<string, SyncCounts>;
}

export async function peersSuite(settings: BenchSettings): Promise<PeersSuiteResult> {
  const root = mkdtempSync(path.join(tmpdir(), 'fanlog-bench-peers-'));
  const payloads = Array.from({ length: BATCH_RECORDS }, () => randomBytes(PAYLOAD_BYTES));
  const batchBytes = Buffer.concat(payloads);
  const group = payloads.slice(0, CONCURRENT);
  const groupBytes = batchBytes.subarray(0, CONCURRENT * PAYLOAD_BYTES);
  const readRecords = settings.quick ? 2_000 : 10_000;
  const opened: PeerStore[] = [];
  try {
    settings.log(`peers suite (${settings.quick ? 'quick' : 'full'}): ${PAYLOAD_BYTES}-byte payloads, in ${root}`);
    const writers = new Map<PeerName, PeerStore>();
    const readers = new Map<PeerName, PeerStore>();
    const bytesPerRecord: Record<string, number> = {};
    for (const peer of PEER_NAMES) {
      writers.set(peer, await openPeer(peer, path.join(root, 'write', peer)));
      opened.push(writers.get(peer)!);
      // Blocking commits change how fanlog writes, not how it reads: no read case of its own.
      if (peer === 'fanlog_blocking') continue;
      bytesPerRecord[peer] = await prepareReadStore(peer, path.join(root, 'read', peer), payloads, batchBytes, readRecords);
      readers.set(peer, await openPeer(peer, path.join(root, 'read', peer), false));
      opened.push(readers.get(peer)!);
    }
    const cases: RoundCase[] = [];
    for (const peer of PEER_NAMES) {
      const store = writers.get(peer)!;
      const reader = readers.get(peer);
      cases.push(
        { kase: 'batch', peer, recordsPerCall: BATCH_RECORDS, run: () => store.appendBatch(payloads, batchBytes) },
        { kase: 'single', peer, recordsPerCall: 1, run: () => store.appendOne(payloads[0]!) },
        { kase: 'append64', peer, recordsPerCall: CONCURRENT, run: () => store.append64(group, groupBytes) },
      );
      if (reader === undefined) continue;
      cases.push({
        kase: 'read',
        peer,
        recordsPerCall: readRecords,
        run: async () => {
          const count = await reader.readAll();
          if (count !== readRecords) throw new Error(`${peer} read ${count} records, expected ${readRecords}`);
        },
      });
    }
    const consumer = await consumerPeers(path.join(root, 'consumer'), settings.quick ? 20_000 : 100_000);
    cases.push(...consumer.cases);
    const chosen = cases.filter((c) => selected(settings, c.kase) || selected(settings, `${c.kase}_${c.peer}`));
    const { rates, peerRatios } = await alternate(chosen, settings);
    await consumer.close();
    logTable(rates, peerRatios, bytesPerRecord, settings);
    const syncsPerAppend =
      !settings.quick && selected(settings, 'strace') ? await countSyncs(path.join(root, 'strace'), 100, settings) : ({} as Record<string, SyncCounts>);
    return { suite: 'peers', recordsPerSecond: rates, peerRatios, bytesPerRecord, syncsPerAppend };
  } finally {
    for (const store of opened) await store.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Fills the read store of `peer` with `records` payloads, without syncs; resolves with its bytes on disk per record. */
async function prepareReadStore(peer: PeerName, dir: string, payloads: Uint8Array[], batchBytes: Uint8Array, records: number): Promise<number> {
  const store = await openPeer(peer, dir, false);
  for (let i = 0; i < records / payloads.length; i++) await store.appendBatch(payloads, batchBytes);
  await store.close();
  return bytesUnder(dir) / records;
}

/**
 * Runs `cases` in alternating rounds, each for a fixed time; resolves with
 * the median rate of each and, by case, the median per-round ratio of
 * fanlog's rate to each other peer's.
 */
async function alternate(
  cases: RoundCase[],
  settings: BenchSettings,
): Promise<{ rates: Record<string, number>; peerRatios: Record<string, Record<string, number>> }> {
  const rounds = settings.quick ? 2 : 5;
  const roundMs = settings.quick ? 40 : 200;
  const perRound = new Map<RoundCase, number[]>(cases.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    // Rotating the order keeps any one peer from always running first, on a disk just quiet.
    const order = cases.map((_, i) => cases[(i + round * 3) % cases.length]!);
    for (const benchCase of order) {
      if (round === 0) await benchCase.run(); // warm
      perRound.get(benchCase)!.push(await timedRound(benchCase, roundMs));
    }
  }
  const median = (values: number[]): number =>
    percentile(
      [...values].sort((x, y) => x - y),
      0.5,
    );
  const rates: Record<string, number> = {};
  const peerRatios: Record<string, Record<string, number>> = {};
  for (const benchCase of cases) rates[`${benchCase.kase}_${benchCase.peer}`] = median(perRound.get(benchCase)!);
  // fanlog against every other peer (its blocking self included: the cost of the pool), and fanlog with
  // blocking commits against the peers that are not fanlog, as the case "<case>, blocking commits".
  for (const ours of cases.filter((c) => c.peer === 'fanlog' || c.peer === 'fanlog_blocking')) {
    const key = ours.peer === 'fanlog' ? ours.kase : `${ours.kase}, blocking commits`;
    const rounds = perRound.get(ours)!;
    for (const other of cases.filter((c) => c.kase === ours.kase && c.peer !== ours.peer && (ours.peer === 'fanlog' || !c.peer.startsWith('fanlog')))) {
      const theirs = perRound.get(other)!;
      (peerRatios[key] ??= {})[other.peer] = median(rounds.map((value, i) => value / theirs[i]!));
    }
  }
  return { rates, peerRatios };
}

function logTable(
  rates: Record<string, number>,
  peerRatios: Record<string, Record<string, number>>,
  bytesPerRecord: Record<string, number>,
  settings: BenchSettings,
): void {
  settings.log('records/s (median of rounds), and fanlog / peer (median of per-round ratios):');
  for (const kase of [...new Set(Object.keys(rates).map((name) => name.slice(0, name.indexOf('_'))))]) {
    for (const peer of PEER_NAMES) {
      const rate = rates[`${kase}_${peer}`];
      if (rate === undefined) continue;
      const versus = peer === 'fanlog' ? '' : `  fanlog/${peer} ${(peerRatios[kase]?.[peer] ?? NaN).toFixed(2)}x`;
      const blocking = Object.hasOwn(peerRatios[`${kase}, blocking commits`] ?? {}, peer)
        ? `  fanlog_blocking/${peer} ${peerRatios[`${kase}, blocking commits`]![peer]!.toFixed(2)}x`
        : '';
      settings.log(`  ${`${kase} ${peer}`.padEnd(26)}${formatRate(rate)} records/s${versus}${blocking}`);
    }
  }
  settings.log(
    `bytes on disk per record: ${Object.entries(bytesPerRecord)
      .map(([peer, bytes]) => `${peer} ${bytes.toFixed(0)}`)
      .join(', ')}`,
  );
}
