/**
 * The engine's changelog mask, durable: which events the changelog keeps
 * (engine.ts journals an event only when its mask meets this one), as
 * Lustre keeps `changelog_mask` among an MDT's persistent parameters.
 *
 * Stored in the MetaStore under `config/changelog-mask` (store/keys.ts):
 * JSON, version 1, `{ version, mask }`, the mask a decimal string (u64).
 * Absent: every event (FAN_ALL_EVENTS). `Engine.open`'s `changelogMask`,
 * when given, is the mask from then on: stored, with the high-water mark
 * as every commit is, when it differs from the one stored (not by a
 * read-only open); when not given, the stored one applies. `fanlog init
 * --changelog-mask LIST` sets it; `fanlog stat` shows it.
 */
import { highWaterOp } from './fail-stop-store.js';
import { FAN_ALL_EVENTS } from './notify/masks.js';
import type { Journal } from '../journal/journal.js';
import { parseVersioned } from '../store/envelope.js';
import { CHANGELOG_MASK_KEY } from '../store/keys.js';
import type { MetaOp, SealedStore } from '../store/meta-store.js';

const CHANGELOG_MASK_VERSION = 1;

/** The op that stores `mask` as the changelog mask. */
export function changelogMaskOp(mask: bigint): MetaOp {
  const value = { version: CHANGELOG_MASK_VERSION, mask: mask.toString() };
  return { type: 'put', key: CHANGELOG_MASK_KEY, value: new TextEncoder().encode(JSON.stringify(value)) };
}

/** The changelog mask stored in `raw`: ECORRUPT from `store` when it is not one this version reads. */
export function parseChangelogMask(store: { corrupt(key: string, what: string): Error }, raw: Uint8Array): bigint {
  const stored = parseVersioned<{ version: number; mask: unknown }>(raw, 'changelog mask', CHANGELOG_MASK_VERSION, (what) =>
    store.corrupt(CHANGELOG_MASK_KEY, what),
  );
  if (typeof stored.mask !== 'string' || !/^\d{1,20}$/.test(stored.mask) || BigInt(stored.mask) >= 2n ** 64n)
    throw store.corrupt(CHANGELOG_MASK_KEY, 'malformed');
  return BigInt(stored.mask);
}

/** The stored changelog mask; null when none was stored (every event). */
export async function storedChangelogMask(store: SealedStore): Promise<bigint | null> {
  const raw = await store.get(CHANGELOG_MASK_KEY);
  return raw === undefined ? null : parseChangelogMask(store, raw);
}

/** The mask an engine opens with (see the header): `given`, stored when it differs and `persist`, or else the stored one. */
export async function resolveChangelogMask(store: SealedStore, journal: Journal, given: bigint | undefined, persist: boolean): Promise<bigint> {
  const stored = await storedChangelogMask(store);
  if (given === undefined) return stored ?? FAN_ALL_EVENTS;
  if (persist && given !== (stored ?? FAN_ALL_EVENTS)) await store.commit([changelogMaskOp(given), highWaterOp(journal)]);
  return given;
}
