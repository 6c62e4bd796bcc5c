/**
 * Groups: the registry of notification and permission groups. It loads
 * them from the MetaStore on open, creates them durably, finds them, lists
 * them in the order permission events ask them, and offers every durable
 * event to each. The groups themselves are in groups.ts.
 *
 * The catalog (`catalog/group`, store/catalog.ts) changes in the same
 * commit as the group it names; creations and removals run one at a time
 * through the registry's Serial.
 */
import { FanlogError, invalid } from '../../errors.js';
import { catalogOp, checkCatalog, readCatalog } from '../../store/catalog.js';
import { decodeGroup, encodeGroup, GROUP_CLASSES, type GroupSettings } from './group-codec.js';
import { Group, type GroupClass, type GroupHost, type GroupInfo, type GroupOptions } from './groups.js';
import { Serial } from '../../journal/serial.js';
import { priorityKey } from '../permission/rules.js';
import type { EngineRecord } from '../record/record.js';
import { checkBoolean, checkInteger, checkName, checkOneOf, checkOptions } from '../../validate.js';

import { GROUP_CATALOG_KEY, GROUP_PREFIX } from '../../store/keys.js';

export class Groups {
  readonly #groups = new Map<string, Group>();
  /** byPriority, until the set of groups changes. */
  #priority: readonly Group[] | null = null;
  readonly #serial = new Serial();

  readonly #host: GroupHost;

  /** @internal */
  constructor(host: GroupHost) {
    this.#host = host;
  }

  /** @internal Loads every stored group (on open), checking them against the catalog. */
  async load(): Promise<void> {
    const { store } = this.#host;
    const listed = await readCatalog(store, GROUP_CATALOG_KEY);
    const found: string[] = [];
    for await (const [key, value] of store.scan(GROUP_PREFIX)) {
      found.push(key.slice(GROUP_PREFIX.length));
      const stored = decodeGroup(value, (what) => store.corrupt(key, what));
      const marks = stored.marks.map((mark) => ({ ...mark, mask: BigInt(mark.mask), ignore: BigInt(mark.ignore) }));
      const settings: GroupSettings = {
        restartable: stored.restartable ?? false,
        permissionTimeoutMs: stored.permissionTimeoutMs ?? null,
        onTimeout: stored.onTimeout ?? 'allow',
        evictAfterTimeouts: stored.evictAfterTimeouts ?? null,
      };
      const group = new Group(this.#host, this, key.slice(GROUP_PREFIX.length), stored.class, stored.queueEventsMax, settings, marks, stored.evicted ?? false);
      group.pruneMarks(this.#host.state);
      this.#groups.set(group.name, group);
    }
    this.#priority = null;
    checkCatalog(store, GROUP_PREFIX, listed, found);
  }

  /** Creates a group durably; EEXIST if the name is taken. */
  async create(name: string, options?: GroupOptions): Promise<Group> {
    this.#host.checkUsable();
    checkName('group', name);
    const wanted = groupOptions(options);
    return this.#serial.run(async () => {
      if (this.#groups.has(name)) throw new FanlogError('EEXIST', `group '${name}' exists`);
      return this.#add(name, wanted);
    });
  }

  /**
   * The group `name`, created durably if there is none: set-up that can
   * run again. An existing group is returned when it was created with the
   * same options (its marks are its own business); EEXIST, naming the
   * options that differ, when not.
   */
  async open(name: string, options?: GroupOptions): Promise<Group> {
    this.#host.checkUsable();
    checkName('group', name);
    const wanted = groupOptions(options);
    return this.#serial.run(async () => {
      const existing = this.#groups.get(name);
      if (existing === undefined) return this.#add(name, wanted);
      const has: WantedGroup = { groupClass: existing.groupClass, queueEventsMax: existing.queueEventsMax, settings: existing.settings };
      const differ = differences(has, wanted);
      if (differ.length > 0) throw new FanlogError('EEXIST', `group '${name}' exists with other options: ${differ.join(', ')}`);
      return existing;
    });
  }

  /** In the registry's turn: stores a new group and its catalog in one commit. */
  async #add(name: string, { groupClass, queueEventsMax, settings }: WantedGroup): Promise<Group> {
    await this.#host.store.commit([
      { type: 'put', key: GROUP_PREFIX + name, value: encodeGroup(groupClass, queueEventsMax, settings, [], false) },
      catalogOp(GROUP_CATALOG_KEY, [...this.#groups.keys(), name]),
    ]);
    const group = new Group(this.#host, this, name, groupClass, queueEventsMax, settings);
    this.#groups.set(name, group);
    this.#priority = null;
    return group;
  }

  /** @internal Removes a group durably, in the registry's turn (from Group.destroy, in the group's). */
  removed(name: string): Promise<void> {
    return this.#serial.run(async () => {
      const names = [...this.#groups.keys()].filter((other) => other !== name);
      await this.#host.store.commit([{ type: 'del', key: GROUP_PREFIX + name }, catalogOp(GROUP_CATALOG_KEY, names)]);
      this.#groups.delete(name);
      this.#priority = null;
    });
  }

  /** The group named `name`; ENOENT if there is none. */
  get(name: string): Group {
    const group = this.#groups.get(name);
    if (group === undefined) throw new FanlogError('ENOENT', `no group named '${String(name)}'`);
    return group;
  }

  /**
   * @internal Groups that may hold permission marks, in the order they are
   * asked: built once per change of the set of groups (every guarded
   * operation asks for it), never changed in place, so a caller may keep
   * iterating the list it got across a change.
   */
  byPriority(): readonly Group[] {
    this.#priority ??= [...this.#groups.values()].filter((group) => group.groupClass !== 'notif').sort((a, b) => (priorityKey(a) < priorityKey(b) ? -1 : 1));
    return this.#priority;
  }

  /** @internal */
  find(name: string): Group | null {
    return this.#groups.get(name) ?? null;
  }

  list(): GroupInfo[] {
    return [...this.#groups.values()].map((group) => group.info()).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get size(): number {
    return this.#groups.size;
  }

  /** @internal Offers durable events to every group, in order. */
  deliver(events: readonly EngineRecord[], seqs: readonly (bigint | undefined)[]): void {
    if (this.#groups.size === 0) return;
    for (const group of this.#groups.values()) {
      events.forEach((event, i) => group.offer(event, seqs[i]));
    }
  }

  /** @internal Resolves once every creation, removal and group change queued so far has settled (close waits for it). */
  async idle(): Promise<void> {
    await this.#serial.idle();
    await Promise.all([...this.#groups.values()].map((group) => group.idle()));
  }

  /** @internal */
  closeAll(): void {
    for (const group of this.#groups.values()) group.close();
  }
}

/** A group's options, checked, with their defaults. */
interface WantedGroup {
  groupClass: GroupClass;
  queueEventsMax: number;
  settings: GroupSettings;
}

function groupOptions(options: GroupOptions | undefined): WantedGroup {
  const opts = checkOptions<GroupOptions>('options', options, [
    'class',
    'queueEventsMax',
    'restartable',
    'permissionTimeoutMs',
    'onTimeout',
    'evictAfterTimeouts',
  ]);
  const groupClass = checkOneOf('class', opts.class ?? 'notif', GROUP_CLASSES);
  const queueEventsMax = checkInteger('queueEventsMax', opts.queueEventsMax ?? 16384, 1, 1_000_000);
  const settings: GroupSettings = {
    restartable: checkBoolean('restartable', opts.restartable ?? false),
    permissionTimeoutMs: opts.permissionTimeoutMs === undefined ? null : checkInteger('permissionTimeoutMs', opts.permissionTimeoutMs, 1, 2 ** 31 - 1),
    onTimeout: checkOneOf('onTimeout', opts.onTimeout ?? 'allow', ['allow', 'deny'] as const),
    evictAfterTimeouts: opts.evictAfterTimeouts === undefined ? null : checkInteger('evictAfterTimeouts', opts.evictAfterTimeouts, 1, 1_000_000),
  };
  if (settings.restartable && groupClass === 'notif') throw invalid("a restartable group must be of class 'content' or 'pre-content'");
  return { groupClass, queueEventsMax, settings };
}

/** The options of `has` that `wanted` would change, as `name: has -> wanted`. */
function differences(has: WantedGroup, wanted: WantedGroup): string[] {
  const flat = (group: WantedGroup): Record<string, unknown> => ({ class: group.groupClass, queueEventsMax: group.queueEventsMax, ...group.settings });
  const [a, b] = [flat(has), flat(wanted)];
  return Object.keys(a)
    .filter((key) => a[key] !== b[key])
    .map((key) => `${key}: ${String(a[key])} -> ${String(b[key])}`);
}
