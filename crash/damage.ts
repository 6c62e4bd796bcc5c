/**
 * Damage for the crash campaign's `store-damage` and `segment-loss`
 * faults: a seeded choice of what to do to a file (flip a byte, zero a
 * range, cut it short, delete it), done through an `Io` so that it works
 * on MemoryIo and on the real disk alike; and the snapshot of an engine's
 * durable state (filesystem, consumers, groups) that a damaged store must
 * either give back exactly or refuse to open (ECORRUPT).
 */
import { createHash } from 'node:crypto';
import type { Engine } from '../fanlog.js';
import type { Io } from '../journal/io.js';
import type { Prng } from '../journal/prng.js';

export type DamagePlan =
  { kind: 'flip'; offset: number } | { kind: 'zero'; offset: number; bytes: number } | { kind: 'truncate'; bytes: number } | { kind: 'delete' };

/**
 * A seeded damage of a file of `size` bytes. With `tailStart` (the newest
 * file of an append-only store: its last record starts there), the damage
 * leaves that record the last sound one, or falls within it: cutting whole
 * records off the end of such a file, or deleting it, is a rollback no
 * store can tell from an older state (a documented limitation), not damage
 * it must report.
 */
export function planDamage(prng: Prng, size: number, tailStart?: number): DamagePlan {
  const roll = prng.next();
  if (size === 0) return { kind: 'delete' };
  const offset = prng.int(size);
  if (roll < 0.5) return { kind: 'flip', offset };
  if (roll < 0.75) {
    const bytes = prng.between(1, 4096);
    return { kind: 'zero', offset, bytes: tailStart !== undefined && offset < tailStart ? Math.min(bytes, tailStart - offset) : bytes };
  }
  if (tailStart !== undefined) return { kind: 'truncate', bytes: tailStart + prng.int(Math.max(1, size - tailStart)) };
  if (roll < 0.92) return { kind: 'truncate', bytes: offset };
  return { kind: 'delete' };
}

/** Where the last frame of a fanlog segment starts (journal/frame.ts: a 40-byte header, then frames led by their u32 length). */
export function lastFrameStart(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let last = 40;
  for (let at = 40; at + 24 <= bytes.length;) {
    const frameBytes = view.getUint32(at, true);
    if (frameBytes < 24 || at + frameBytes > bytes.length) break;
    last = at;
    at += frameBytes;
  }
  return last;
}

export function describeDamage(file: string, plan: DamagePlan): string {
  switch (plan.kind) {
    case 'flip':
      return `flipped byte ${plan.offset} of ${file}`;
    case 'zero':
      return `zeroed ${plan.bytes} bytes at ${plan.offset} of ${file}`;
    case 'truncate':
      return `cut ${file} to ${plan.bytes} bytes`;
    case 'delete':
      return `deleted ${file}`;
  }
}

/** Applies `plan` to `file` durably. */
export async function applyDamage(io: Io, file: string, plan: DamagePlan): Promise<void> {
  if (plan.kind === 'delete') {
    await io.unlink(file);
    await io.syncDir(file.slice(0, file.lastIndexOf('/')));
    return;
  }
  const handle = await io.open(file, 'readwrite');
  try {
    const size = await handle.size();
    if (plan.kind === 'flip') {
      const byte = new Uint8Array(1);
      await handle.read(byte, plan.offset);
      byte[0] = byte[0]! ^ 0x5a;
      await handle.write(byte, plan.offset);
    } else if (plan.kind === 'zero') {
      await handle.write(new Uint8Array(Math.min(plan.bytes, Math.max(0, size - plan.offset))), plan.offset);
    } else {
      await handle.truncate(plan.bytes);
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * What a damaged store must give back exactly, or refuse: the filesystem
 * (without its orphans, which the next open releases: their descriptors die
 * with the engine), the consumers and the groups.
 */
export function engineSnapshot(engine: Engine): string {
  const inodes = (JSON.parse(engine.state.fingerprint()) as { nlink: number }[]).filter((inode) => inode.nlink > 0);
  return JSON.stringify({
    fingerprint: createHash('sha1').update(JSON.stringify(inodes)).digest('hex'),
    consumers: engine.consumers.list().map((info) => [info.name, info.cursor.toString(), info.evicted === null ? null : info.evicted.toSeq.toString()]),
    groups: engine.groups
      .list()
      .map((info) => [info.name, info.class, info.marks.map((mark) => `${mark.scope}:${mark.path ?? ''}:${mark.mask}:${mark.ignore}`).sort()]),
  });
}
