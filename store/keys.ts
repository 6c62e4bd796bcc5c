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
 *                           oldest pending request, inode count (JSON 3;
 *                           2 is read)
 *   fs/page/<page, 16 hex>  a page of up to 16 inodes (binary, format 1)    engine/model/inode-pages.ts
 *   fs/large/<ino, 16 hex>  one inode too large for a page (binary, 1)      engine/model/inode-pages.ts
 *   fs/inode/<ino, 16 hex>  one inode (JSON, `v: 1`): checkpoint header 2,  engine/model/inode.ts
 *                           read, and deleted by the next checkpoint
 *   group/<name>            a group's settings and marks (JSON 1)           engine/notify/group-codec.ts
 *   catalog/group           the names of every group (JSON 1)               store/catalog.ts
 *   consumer/<name>         a consumer's cursor, settings, filter (JSON 1)  consumers/consumer.ts
 *   catalog/consumer        the names of every consumer (JSON 1)            store/catalog.ts
 *   journal/durable         the journal's id and the seq it was fsynced     engine/fail-stop-store.ts
 *                           through when the store last committed (JSON 1)
 *   config/changelog-mask   the events the changelog keeps (JSON 1);        engine/changelog-mask.ts
 *                           absent: every event
 *
 * The catalogs and the checkpoint's inode count make a key that vanished
 * (damage to a B-tree page, a dropped log record) loud: whatever is listed
 * must be found. `journal/durable` makes a journal that lost records the
 * store saw durable (its newest segment deleted) loud.
 */

export const CHECKPOINT_KEY = 'fs/checkpoint';
export const INODE_PREFIX = 'fs/inode/';
export const PAGE_PREFIX = 'fs/page/';
export const LARGE_PREFIX = 'fs/large/';
export const GROUP_PREFIX = 'group/';
export const GROUP_CATALOG_KEY = 'catalog/group';
export const CONSUMER_PREFIX = 'consumer/';
export const CONSUMER_CATALOG_KEY = 'catalog/consumer';
export const HIGH_WATER_KEY = 'journal/durable';
export const CHANGELOG_MASK_KEY = 'config/changelog-mask';

/** The key of inode `ino` in a checkpoint of header version 2: fixed-width hex, so that a scan yields inodes in number order. */
export function inodeKey(ino: number): string {
  return INODE_PREFIX + hex16(ino);
}

/** The key of page `page` (inode-pages.ts). */
export function pageKey(page: number): string {
  return PAGE_PREFIX + hex16(page);
}

/** The key of a large inode (inode-pages.ts). */
export function largeKey(ino: number): string {
  return LARGE_PREFIX + hex16(ino);
}

function hex16(value: number): string {
  return value.toString(16).padStart(16, '0');
}

/** The prefixes whose keys end in a number as 16 hex digits. */
const NUMBERED_PREFIXES = [INODE_PREFIX, PAGE_PREFIX, LARGE_PREFIX];

/** Whether `key` is one fanlog writes (anything else in a store is damage, or someone else's). */
export function isFanlogKey(key: string): boolean {
  if ([CHECKPOINT_KEY, GROUP_CATALOG_KEY, CONSUMER_CATALOG_KEY, HIGH_WATER_KEY, CHANGELOG_MASK_KEY].includes(key)) return true;
  const numbered = NUMBERED_PREFIXES.find((prefix) => key.startsWith(prefix));
  if (numbered !== undefined) return /^[0-9a-f]{16}$/.test(key.slice(numbered.length));
  return (key.startsWith(GROUP_PREFIX) && key.length > GROUP_PREFIX.length) || (key.startsWith(CONSUMER_PREFIX) && key.length > CONSUMER_PREFIX.length);
}
