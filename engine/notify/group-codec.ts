/**
 * A group's stored configuration: the value under `group/<name>` in the
 * MetaStore (JSON, sealed by the store), its version, and its encoder and
 * checked decoder, side by side.
 *
 * Payload: { version: 1, class, queueEventsMax, restartable,
 * permissionTimeoutMs, onTimeout, evictAfterTimeouts, evicted, marks }.
 */
import assert from 'node:assert/strict';
import { parseVersioned } from '../../store/envelope.js';
import type { Mark, MarkScope } from './marks.js';
import type { Fid } from '../record/record.js';

export type GroupClass = 'notif' | 'content' | 'pre-content';
export const GROUP_CLASSES: readonly GroupClass[] = ['notif', 'content', 'pre-content'];

export interface GroupSettings {
  restartable: boolean;
  permissionTimeoutMs: number | null;
  onTimeout: 'allow' | 'deny';
  evictAfterTimeouts: number | null;
}

export const GROUP_VERSION = 1;

export interface StoredGroup extends GroupSettings {
  version: number;
  class: GroupClass;
  queueEventsMax: number;
  evicted?: boolean;
  marks: { scope: MarkScope; fid?: Fid; path?: string; mask: string; ignore: string }[];
}

export function encodeGroup(groupClass: GroupClass, queueEventsMax: number, settings: GroupSettings, marks: Iterable<Mark>, evicted: boolean): Uint8Array {
  const stored: StoredGroup = {
    version: GROUP_VERSION,
    class: groupClass,
    queueEventsMax,
    ...settings,
    evicted,
    marks: [...marks].map((mark) => {
      // What cannot be stored: an empty mark (a removal drops it), or one without what its scope needs.
      assert.ok((mark.mask | mark.ignore) !== 0n, 'an empty mark is dropped, never stored');
      assert.ok(mark.scope !== 'inode' || mark.fid !== undefined, 'an inode mark names its object');
      assert.ok(mark.scope !== 'mount' || mark.path !== undefined, 'a mount mark names its directory');
      return {
        scope: mark.scope,
        ...(mark.fid === undefined ? {} : { fid: mark.fid }),
        ...(mark.path === undefined ? {} : { path: mark.path }),
        mask: mark.mask.toString(),
        ignore: mark.ignore.toString(),
      };
    }),
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

/** A stored group, checked; `fail` reports what is wrong with it (ECORRUPT from the store). */
export function decodeGroup(bytes: Uint8Array, fail: (what: string) => Error): StoredGroup {
  const stored = parseVersioned<StoredGroup>(bytes, 'group', GROUP_VERSION, fail);
  if (!GROUP_CLASSES.includes(stored.class) || !Array.isArray(stored.marks)) throw fail('group fields are malformed');
  return stored;
}
