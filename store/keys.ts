/**
 * The MetaStore key space: every key fanlog writes, in one place, with the
 * format of its value. Every value is sealed in an envelope by the store
 * (envelope.ts: magic, version, CRC-32 over key and payload), and every
 * payload carries its own version, which its reader checks
 * (`parseVersioned`): a value written by a newer version is refused with
 * ECORRUPT naming the key, never misread.
 *
 *   key                     payload (version)                               codec
 *   ----------------------  ----------------------------------------------  -----------------------------
 *   fs/checkpoint           checkpoint header: seq, journalId, counters,    engine/checkpoint.ts
 *                           oldest pending request, inode count (JSON 2)
 *   fs/inode/<ino, 16 hex>  one inode (JSON, `v: 1`)                        engine/fs/inode.ts
 *   group/<name>            a group's settings and marks (JSON 1)           engine/notify/group-codec.ts
 *   catalog/group           the names of every group (JSON 1)               store/catalog.ts
 *   consumer/<name>         a consumer's cursor, settings, filter (JSON 1)  consumers/consumer.ts
 *   catalog/consumer        the names of every consumer (JSON 1)            store/catalog.ts
 *   journal/durable         the journal's id and the seq it was fsynced     engine/fail-stop-store.ts
 *                           through when the store last committed (JSON 1)
 *
 * The catalogs and the checkpoint's inode count make a key that vanished
 * (damage to a B-tree page, a dropped log record) loud: whatever is listed
 * must be found. `journal/durable` makes a journal that lost records the
 * store saw durable (its newest segment deleted) loud.
 */

export const CHECKPOINT_KEY = 'fs/checkpoint';
export const INODE_PREFIX = 'fs/inode/';
export const GROUP_PREFIX = 'group/';
export const GROUP_CATALOG_KEY = 'catalog/group';
export const CONSUMER_PREFIX = 'consumer/';
export const CONSUMER_CATALOG_KEY = 'catalog/consumer';
export const HIGH_WATER_KEY = 'journal/durable';

/** The key of inode `ino`: fixed-width hex, so that a scan yields inodes in number order. */
export function inodeKey(ino: number): string {
  return INODE_PREFIX + ino.toString(16).padStart(16, '0');
}

/** Whether `key` is one fanlog writes (anything else in a store is damage, or someone else's). */
export function isFanlogKey(key: string): boolean {
  if ([CHECKPOINT_KEY, GROUP_CATALOG_KEY, CONSUMER_CATALOG_KEY, HIGH_WATER_KEY].includes(key)) return true;
  if (key.startsWith(INODE_PREFIX)) return /^[0-9a-f]{16}$/.test(key.slice(INODE_PREFIX.length));
  return (key.startsWith(GROUP_PREFIX) && key.length > GROUP_PREFIX.length) || (key.startsWith(CONSUMER_PREFIX) && key.length > CONSUMER_PREFIX.length);
}
