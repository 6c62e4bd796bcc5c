/**
 * Groups: the registry of notification and permission groups. It loads
 * them from the MetaStore on open, creates them durably, finds them, lists
 * them in the order permission events ask them, and offers every durable
 * event to each. The groups themselves are in groups.ts.
 */
import { FanlogError, invalid } from '../errors.js';
import { encodeGroup, Group, GROUP_CLASSES, type GroupHost, type GroupInfo, type GroupOptions, type GroupSettings, KEY_PREFIX, type StoredGroup } from './groups.js';
import { priorityKey } from './permissions.js';
import type { EngineRecord } from './record.js';
import { checkBoolean, checkInteger, checkName, checkOneOf, checkOptions } from './validate.js';


export class Groups {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly host: GroupHost) {}

  /** Loads every stored group (on open). */
  async load(): Promise<void> {
    for await (const [key, value] of this.host.store.scan(KEY_PREFIX)) {
      const stored = JSON.parse(new TextDecoder().decode(value)) as StoredGroup;
      const marks = stored.marks.map((mark) => ({ ...mark, mask: BigInt(mark.mask), ignore: BigInt(mark.ignore) }));
      const settings: GroupSettings = {
        restartable: stored.restartable ?? false,
        permissionTimeoutMs: stored.permissionTimeoutMs ?? null,
        onTimeout: stored.onTimeout ?? 'allow',
        evictAfterTimeouts: stored.evictAfterTimeouts ?? null,
      };
      const group = new Group(this.host, this, key.slice(KEY_PREFIX.length), stored.class, stored.queueEventsMax, settings, marks, stored.evicted ?? false);
      group.pruneMarks(this.host.state);
      this.groups.set(group.name, group);
    }
  }

  /** Creates a group durably; EEXIST if the name is taken. */
  async create(name: string, options?: GroupOptions): Promise<Group> {
    this.host.checkUsable();
    checkName('group', name);
    const opts = checkOptions<GroupOptions>('options', options, ['class', 'queueEventsMax', 'restartable', 'permissionTimeoutMs', 'onTimeout', 'evictAfterTimeouts']);
    const groupClass = checkOneOf('class', opts.class ?? 'notif', GROUP_CLASSES);
    const queueEventsMax = checkInteger('queueEventsMax', opts.queueEventsMax ?? 16384, 1, 1_000_000);
    const settings: GroupSettings = {
      restartable: checkBoolean('restartable', opts.restartable ?? false),
      permissionTimeoutMs: opts.permissionTimeoutMs === undefined ? null : checkInteger('permissionTimeoutMs', opts.permissionTimeoutMs, 1, 2 ** 31 - 1),
      onTimeout: checkOneOf('onTimeout', opts.onTimeout ?? 'allow', ['allow', 'deny'] as const),
      evictAfterTimeouts: opts.evictAfterTimeouts === undefined ? null : checkInteger('evictAfterTimeouts', opts.evictAfterTimeouts, 1, 1_000_000),
    };
    if (settings.restartable && groupClass === 'notif') throw invalid("a restartable group must be of class 'content' or 'pre-content'");
    if (this.groups.has(name)) throw new FanlogError('EEXIST', `group '${name}' exists`);
    const group = new Group(this.host, this, name, groupClass, queueEventsMax, settings);
    this.groups.set(name, group);
    try {
      await this.host.store.commit([{ type: 'put', key: KEY_PREFIX + name, value: encodeGroup(groupClass, queueEventsMax, settings, [], false) }]);
    } catch (error) {
      this.groups.delete(name);
      throw error;
    }
    return group;
  }

  /** The group named `name`; ENOENT if there is none. */
  get(name: string): Group {
    const group = this.groups.get(name);
    if (group === undefined) throw new FanlogError('ENOENT', `no group named '${String(name)}'`);
    return group;
  }

  /** Groups that may hold permission marks, in the order they are asked. */
  byPriority(): Group[] {
    return [...this.groups.values()].filter((group) => group.groupClass !== 'notif').sort((a, b) => (priorityKey(a) < priorityKey(b) ? -1 : 1));
  }

  find(name: string): Group | null {
    return this.groups.get(name) ?? null;
  }

  list(): GroupInfo[] {
    return [...this.groups.values()].map((group) => group.info()).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get size(): number {
    return this.groups.size;
  }

  forget(name: string): void {
    this.groups.delete(name);
  }

  /** Offers durable events to every group, in order. */
  deliver(events: readonly EngineRecord[], seqs: readonly (bigint | undefined)[]): void {
    if (this.groups.size === 0) return;
    for (const group of this.groups.values()) {
      events.forEach((event, i) => group.offer(event, seqs[i]));
    }
  }

  closeAll(): void {
    for (const group of this.groups.values()) group.close();
  }
}
