/**
 * Checks every value of an engine's MetaStore against its envelope, its own
 * format and the journal, without stopping at the first damage: what
 * `fanlog verify` reports and what `fanlog repair --rebuild-store` salvages.
 *
 * What is checked, key by key (store/meta-store.ts lists the key space):
 *   every key          its envelope (checksum over key and payload); a key
 *                      outside the key space is damage
 *   fs/checkpoint      it parses; it is of this journal; its seq is not
 *                      beyond the journal's head; the journal still holds
 *                      every record it needs (DESIGN invariant 8's bound)
 *   fs/page/..., fs/large/..., fs/inode/...
 *                      each decodes; each inode is under its own number
 *                      (in its page, or its own key), and in one place;
 *                      as many as the checkpoint counted, all in the
 *                      layout of its header's version
 *   group/..., consumer/...  each decodes; the catalogs list exactly them;
 *                      no cursor is beyond the journal's head
 *   journal/durable    the journal reaches the seq the store saw durable;
 *                      present, when the engine expects it (expectMark)
 */
import { decodeConsumer, type StoredConsumer } from '../consumers/consumer.js';
import { readCheckpointBound } from '../engine/checkpoint.js';
import { parseHighWater } from '../engine/fail-stop-store.js';
import { decodeGroup } from '../engine/notify/group-codec.js';
import { decodeInode } from '../engine/model/inode.js';
import { decodeLarge, decodePage, pageOf } from '../engine/model/inode-pages.js';
import { checkCatalog, readCatalog } from '../store/catalog.js';
import type { SealedStore } from '../store/meta-store.js';

import { parseChangelogMask } from '../engine/changelog-mask.js';
import {
  CHANGELOG_MASK_KEY,
  CHECKPOINT_KEY,
  CONSUMER_CATALOG_KEY,
  CONSUMER_PREFIX,
  GROUP_CATALOG_KEY,
  GROUP_PREFIX,
  HIGH_WATER_KEY,
  INODE_PREFIX,
  inodeKey,
  isFanlogKey,
  LARGE_PREFIX,
  largeKey,
  PAGE_PREFIX,
  pageKey,
} from '../store/keys.js';

/** What the checks need to know of the journal. */
export interface JournalFacts {
  dir: string;
  journalId: bigint;
  firstSeq: bigint;
  headSeq: bigint;
  /**
   * The store must hold a high-water mark (the engine directory is marked,
   * so its store got one when it was made): a store without one beside a
   * journal that holds records was lost or recreated, which the engine's
   * open refuses (engine/fail-stop-store.ts, checkHighWater).
   */
  expectMark?: boolean;
}

export interface StoreDamage {
  /** The key the damage is in (absent for damage to the store as a whole). */
  key?: string;
  what: string;
}

export interface StoreCheck {
  /** Keys scanned. */
  keys: number;
  damage: StoreDamage[];
  /** Groups whose values are sound, by name, as stored. */
  groups: Map<string, Uint8Array>;
  /** Consumers whose values are sound and whose cursor the journal reaches, by name. */
  consumers: Map<string, { stored: StoredConsumer; payload: Uint8Array }>;
  /** Whether the checkpoint and every inode are sound, so the filesystem can start from them. */
  checkpointSound: boolean;
  /** The stored changelog mask's value when it is sound (engine/changelog-mask.ts); null when there is none. */
  changelogMask: Uint8Array | null;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function checkStore(store: SealedStore, journal: JournalFacts): Promise<StoreCheck> {
  const result: StoreCheck = { keys: 0, damage: [], groups: new Map(), consumers: new Map(), checkpointSound: false, changelogMask: null };
  // Each damaged key once, with the first damage found in it: later checks that read it again (a catalog, the
  // checkpoint) find the same damage, or its consequence.
  const damage = (key: string | undefined, what: string): void => {
    if (key !== undefined && result.damage.some((found) => found.key === key)) return;
    result.damage.push(key === undefined ? { what } : { key, what });
  };
  const inodes = new InodeTally();
  const groupNames: string[] = [];
  const consumerNames: string[] = [];
  for await (const entry of store.check('')) {
    result.keys++;
    const { key } = entry;
    if (entry.damage !== null) {
      damage(key, entry.damage);
      if (InodeTally.holds(key) || key === CHECKPOINT_KEY) inodes.sound = false;
      continue;
    }
    try {
      if (InodeTally.holds(key)) {
        inodes.take(key, entry.payload);
      } else if (key.startsWith(GROUP_PREFIX)) {
        groupNames.push(key.slice(GROUP_PREFIX.length));
        decodeGroup(entry.payload, (what) => new Error(what));
        result.groups.set(key.slice(GROUP_PREFIX.length), entry.payload);
      } else if (key.startsWith(CONSUMER_PREFIX)) {
        const name = key.slice(CONSUMER_PREFIX.length);
        consumerNames.push(name);
        const stored = decodeConsumer(entry.payload, (what) => new Error(what));
        if (BigInt(stored.cursor) > journal.headSeq)
          throw new Error(`cursor ${stored.cursor} is beyond the journal's head ${journal.headSeq}: records are missing`);
        result.consumers.set(name, { stored, payload: entry.payload });
      } else if (key === CHANGELOG_MASK_KEY) {
        parseChangelogMask(store, entry.payload);
        result.changelogMask = entry.payload;
      } else if (!isFanlogKey(key)) {
        throw new Error("not a key of fanlog's key space");
      }
    } catch (error) {
      if (InodeTally.holds(key)) inodes.sound = false;
      damage(key, message(error));
    }
  }
  await inodes.checkLargeAlone(store, damage);
  for (const [catalogKey, prefix, names] of [
    [GROUP_CATALOG_KEY, GROUP_PREFIX, groupNames],
    [CONSUMER_CATALOG_KEY, CONSUMER_PREFIX, consumerNames],
  ] as const) {
    try {
      checkCatalog(store, prefix, await readCatalog(store, catalogKey), names);
    } catch (error) {
      damage((error as { key?: string }).key ?? catalogKey, message(error));
    }
  }
  result.checkpointSound = await checkCheckpoint(store, journal, inodes, damage);
  await checkHighWaterMark(store, journal, damage);
  return result;
}

type Damage = (key: string | undefined, what: string) => void;

/**
 * The inodes of the three layouts, counted and checked key by key: pages
 * and large inodes (checkpoint header 3), or an inode per key (header 2).
 */
class InodeTally {
  /** Inodes in pages and large keys; inodes under version 2 keys. */
  paged = 0;
  legacy = 0;
  sound = true;
  readonly #large: number[] = [];

  static holds(key: string): boolean {
    return key.startsWith(PAGE_PREFIX) || key.startsWith(LARGE_PREFIX) || key.startsWith(INODE_PREFIX);
  }

  /** Counts the inodes of a sound value; throws an Error saying what is wrong with it. */
  take(key: string, payload: Uint8Array): void {
    if (key.startsWith(INODE_PREFIX)) {
      this.legacy++;
      const inode = decodeInode(payload);
      if (inodeKey(inode.ino) !== key) throw new Error(`holds inode ${inode.ino}`);
    } else if (key.startsWith(LARGE_PREFIX)) {
      this.paged++;
      const inode = decodeLarge(payload);
      if (largeKey(inode.ino) !== key) throw new Error(`holds inode ${inode.ino}`);
      this.#large.push(inode.ino);
    } else {
      const inodes = decodePage(payload);
      this.paged += inodes.length;
      for (const [i, inode] of inodes.entries()) {
        if (pageKey(pageOf(inode.ino)) !== key || (i > 0 && inode.ino <= inodes[i - 1]!.ino)) throw new Error(`holds inode ${inode.ino} out of place`);
      }
    }
  }

  /** A large inode must not be in its page too (the page is read again: large inodes are few). */
  async checkLargeAlone(store: SealedStore, damage: Damage): Promise<void> {
    for (const ino of this.#large) {
      const key = pageKey(pageOf(ino));
      try {
        const page = await store.get(key);
        if (page !== undefined && decodePage(page).some((inode) => inode.ino === ino)) throw new Error(`holds inode ${ino}, which is stored alone too`);
      } catch (error) {
        this.sound = false;
        damage(key, message(error));
      }
    }
  }
}

/** Whether the checkpoint is sound: of this journal, within it, its records retained, its inodes all there. */
async function checkCheckpoint(store: SealedStore, journal: JournalFacts, inodes: InodeTally, damage: Damage): Promise<boolean> {
  try {
    const checkpoint = await readCheckpointBound(store);
    if (checkpoint === null) {
      if (journal.firstSeq > 1n) damage(CHECKPOINT_KEY, `missing, and the journal starts at ${journal.firstSeq}`);
      else return inodes.sound && inodes.paged + inodes.legacy === 0;
    } else {
      const problems: string[] = [];
      if (checkpoint.journalId !== journal.journalId) problems.push(`it is of journal ${checkpoint.journalId}, not ${journal.journalId}`);
      if (checkpoint.seq > journal.headSeq) problems.push(`it covers seq ${checkpoint.seq}, beyond the journal's head ${journal.headSeq}`);
      if (checkpoint.needsFromSeq < journal.firstSeq) {
        problems.push(
          `it needs records from ${checkpoint.needsFromSeq}, but the journal starts at ${journal.firstSeq}: records ${checkpoint.needsFromSeq}..${journal.firstSeq - 1n} are missing`,
        );
      }
      // Version 2 keeps its inodes one per key; version 3 in pages, and a version 2 key left beside it is damage.
      const [counted, other] = checkpoint.version === 2 ? [inodes.legacy, inodes.paged] : [inodes.paged, inodes.legacy];
      if (checkpoint.inodes !== counted) problems.push(`it counted ${checkpoint.inodes} inodes, the store holds ${counted}`);
      if (other !== 0) problems.push(`the store holds ${other} inodes in the layout of another checkpoint version`);
      for (const problem of problems) damage(CHECKPOINT_KEY, problem);
      return problems.length === 0 && inodes.sound;
    }
  } catch (error) {
    damage(CHECKPOINT_KEY, message(error));
  }
  return false;
}

/** The high-water mark must not be beyond the journal's head (lost records), nor missing where the engine expects one. */
async function checkHighWaterMark(store: SealedStore, journal: JournalFacts, damage: Damage): Promise<void> {
  try {
    const raw = await store.get(HIGH_WATER_KEY);
    if (raw === undefined && journal.expectMark === true && (journal.headSeq > 0n || journal.firstSeq > 1n)) {
      damage(
        HIGH_WATER_KEY,
        `the store holds no high-water mark, but the journal holds records up to ${journal.headSeq}: the store was lost or made again, and opening the engine fails (ECORRUPT)`,
      );
    }
    if (raw !== undefined) {
      const mark = parseHighWater(store, raw);
      if (mark.journalId === journal.journalId && mark.seq > journal.headSeq) {
        damage(
          HIGH_WATER_KEY,
          `the store saw the journal durable through ${mark.seq}, but it ends at ${journal.headSeq}: records ${journal.headSeq + 1n}..${mark.seq} are missing`,
        );
      }
    }
  } catch (error) {
    damage(HIGH_WATER_KEY, message(error));
  }
}
