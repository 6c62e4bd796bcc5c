/**
 * Checks each peer's durability claim by counting its syncs: `strace -f -c
 * -e trace=fsync,fdatasync` around a child (this file run as a script:
 * `node dist/bench/peers-strace.js PEER DIR COUNT`) that opens the peer's
 * store and makes COUNT single appends, each awaited. Each peer is run with
 * 0 appends and with COUNT, so opening and closing cancel out: the
 * difference divided by COUNT is the syncs per append.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchSettings } from './harness.js';
import { openPeer, PEER_NAMES, type PeerName } from './peers-stores.js';

export interface SyncCounts {
  fsync: number;
  fdatasync: number;
}

const script = fileURLToPath(import.meta.url);

/** fsync and fdatasync calls per single append, by peer; empty when strace is missing. */
export async function countSyncs(dir: string, count: number, settings: BenchSettings): Promise<Record<string, SyncCounts>> {
  const strace = ['/usr/bin/strace', '/bin/strace'].find((file) => existsSync(file));
  if (strace === undefined) {
    settings.log('strace: not installed, syncs not counted');
    return {};
  }
  mkdirSync(dir, { recursive: true });
  const out: Record<string, SyncCounts> = {};
  settings.log(`syncs per single append (strace -f -c, ${count} appends less 0):`);
  for (const peer of PEER_NAMES) {
    const base = traced(strace, peer, path.join(dir, `${peer}-0`), 0);
    const many = traced(strace, peer, path.join(dir, `${peer}-n`), count);
    out[peer] = { fsync: (many.fsync - base.fsync) / count, fdatasync: (many.fdatasync - base.fdatasync) / count };
    settings.log(
      `  ${peer.padEnd(14)} fsync ${out[peer].fsync.toFixed(2)}, fdatasync ${out[peer].fdatasync.toFixed(2)}  (raw: ${base.fsync}+${base.fdatasync} at 0, ${many.fsync}+${many.fdatasync} at ${count})`,
    );
  }
  return out;
}

function traced(strace: string, peer: PeerName, dir: string, count: number): SyncCounts {
  const summary = `${dir}.strace`;
  execFileSync(strace, ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', summary, process.execPath, script, peer, dir, String(count)], { stdio: 'inherit' });
  // strace -c prints a table: "% time  seconds  usecs/call  calls  errors  syscall".
  const calls = (name: string): number => {
    const line = readFileSync(summary, 'utf8')
      .split('\n')
      .find((row) => row.trim().endsWith(` ${name}`));
    if (line === undefined) return 0;
    const columns = line.trim().split(/\s+/);
    return Number(columns[3]);
  };
  return { fsync: calls('fsync'), fdatasync: calls('fdatasync') };
}

// Run as a script: COUNT single appends to PEER's store in DIR.
if (process.argv[1] === script) {
  const [peer, dir, countText] = process.argv.slice(2) as [PeerName, string, string];
  const store = await openPeer(peer, dir);
  const payload = new Uint8Array(200).fill(7);
  for (let i = 0; i < Number(countText); i++) await store.appendOne(payload);
  await store.close();
}
