/**
 * Checks each peer's durability claim by counting what makes its appends
 * durable: `strace -f -e trace=openat,close,write,pwrite64,pwritev,fsync,fdatasync`
 * around a child (this file run as a script: `node dist/bench/peers-strace.js
 * PEER DIR COUNT`) that opens the peer's store and makes COUNT single
 * appends, each awaited. Counted: fsync and fdatasync calls, and writes to
 * a descriptor opened O_DSYNC (each durable when it returns: fanlog's
 * segments under the policy 'always'). Each peer is run with 0 appends and
 * with COUNT, so opening and closing cancel out: the difference divided by
 * COUNT is the count per append.
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
  /** Writes to a descriptor opened O_DSYNC. */
  dsyncWrites: number;
}

const script = fileURLToPath(import.meta.url);

/** Durable steps per single append, by peer; empty when strace is missing. */
export async function countSyncs(dir: string, count: number, settings: BenchSettings): Promise<Record<string, SyncCounts>> {
  const strace = ['/usr/bin/strace', '/bin/strace'].find((file) => existsSync(file));
  if (strace === undefined) {
    settings.log('strace: not installed, syncs not counted');
    return {};
  }
  mkdirSync(dir, { recursive: true });
  const out: Record<string, SyncCounts> = {};
  settings.log(`durable steps per single append (strace -f, ${count} appends less 0):`);
  for (const peer of PEER_NAMES) {
    const base = traced(strace, peer, path.join(dir, `${peer}-0`), 0);
    const many = traced(strace, peer, path.join(dir, `${peer}-n`), count);
    const per = (field: keyof SyncCounts): number => (many[field] - base[field]) / count;
    out[peer] = { fsync: per('fsync'), fdatasync: per('fdatasync'), dsyncWrites: per('dsyncWrites') };
    const raw = (counts: SyncCounts): string => `${counts.fsync}+${counts.fdatasync}+${counts.dsyncWrites}`;
    settings.log(
      `  ${peer.padEnd(14)} fsync ${out[peer].fsync.toFixed(2)}, fdatasync ${out[peer].fdatasync.toFixed(2)}, O_DSYNC writes ${out[peer].dsyncWrites.toFixed(2)}  (raw: ${raw(base)} at 0, ${raw(many)} at ${count})`,
    );
  }
  return out;
}

function traced(strace: string, peer: PeerName, dir: string, count: number): SyncCounts {
  const log = `${dir}.strace`;
  const calls = 'trace=openat,close,write,pwrite64,pwritev,fsync,fdatasync';
  execFileSync(strace, ['-f', '-e', calls, '-o', log, process.execPath, script, peer, dir, String(count)], { stdio: 'inherit' });
  return countLog(readFileSync(log, 'utf8'));
}

/**
 * Counts a `strace -f -o` log: each line is "TID call(args) = result", or a
 * call split in two ("<unfinished ...>", then "<... call resumed>") when
 * another thread ran between. Descriptors belong to the process, so an
 * O_DSYNC descriptor is known by number until it is closed.
 */
export function countLog(text: string): SyncCounts {
  const counts: SyncCounts = { fsync: 0, fdatasync: 0, dsyncWrites: 0 };
  const dsync = new Set<string>();
  const opening = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const call = /^(\d+)\s+(\w+)\((\d+)?/.exec(line);
    const resumed = /^(\d+)\s+<\.\.\. openat resumed>.*= (\d+)$/.exec(line);
    if (resumed !== null) {
      if (opening.get(resumed[1]!) === true) dsync.add(resumed[2]!);
      opening.delete(resumed[1]!);
      continue;
    }
    if (call === null) continue;
    const [, tid, name, fd] = call;
    if (name === 'openat') {
      const done = / = (\d+)$/.exec(line);
      if (done !== null && line.includes('O_DSYNC')) dsync.add(done[1]!);
      else if (line.includes('<unfinished')) opening.set(tid!, line.includes('O_DSYNC'));
    } else if (name === 'close' && fd !== undefined) dsync.delete(fd);
    else if (name === 'fsync') counts.fsync++;
    else if (name === 'fdatasync') counts.fdatasync++;
    else if ((name === 'write' || name === 'pwrite64' || name === 'pwritev') && fd !== undefined && dsync.has(fd)) counts.dsyncWrites++;
  }
  return counts;
}

// Run as a script: COUNT single appends to PEER's store in DIR.
if (process.argv[1] === script) {
  const [peer, dir, countText] = process.argv.slice(2) as [PeerName, string, string];
  const store = await openPeer(peer, dir);
  const payload = new Uint8Array(200).fill(7);
  for (let i = 0; i < Number(countText); i++) await store.appendOne(payload);
  await store.close();
}
