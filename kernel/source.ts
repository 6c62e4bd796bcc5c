/**
 * `engine.fanotify(options)`: a real filesystem into the engine. Two kernel
 * groups at most, since one class cannot do both jobs (a pre-content group
 * refuses file ids):
 *   - the changelog: a FAN_CLASS_NOTIF group reporting file ids and names,
 *     whose events are journaled as event records (kernel/watch.ts);
 *   - permission events (`permission: { group, mask }`): a
 *     FAN_CLASS_PRE_CONTENT group whose events are asked of an engine group,
 *     each journaled as a request before its listener sees it, and answered
 *     to the kernel once its decision is durable (kernel/permission.ts).
 *
 * Alone, the source makes both groups and their marks, and reads them
 * itself. Under `fanlog supervise` (FANLOG_SUPERVISOR in the environment,
 * kernel/feeds.ts) it makes none: the supervisor made them, with their
 * marks, holds them across the handler's deaths, and reads the permission
 * group itself, handing each event over with its file; the options must
 * then ask for what the supervisor holds (EINVAL otherwise).
 *
 * Stopping (`stop()`, and `engine.close()`, which stops it first): the
 * changelog's queued events are journaled; alone,
 * every permission event not answered yet, queued in the engine or still in
 * the kernel, is answered by `permission.stopPolicy` (default
 * FAN_DENY_ERRNO(EIO)), journaled as its decision, before the group closes:
 * closing the group unanswered would let the kernel allow them all.
 * Supervised, they stay with the supervisor, for the next handler or for
 * its own stop, which answers them by the same policy.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { EngineCore } from '../engine/engine.js';
import { FAN_DENY_ERRNO, FAN_PRE_ACCESS, type Mask } from '../engine/notify/masks.js';
import { checkResponse } from '../engine/permission/rules.js';
import { FanlogError } from '../errors.js';
import { checkOptions } from '../validate.js';
import { FanotifyGroup } from './fanotify-group.js';
import { ReadTally } from './read-tally.js';
import { ChannelFeed, DirectFeed, drainGroup, flushMarks, supervisorEnv, type SupervisorEnv } from './feeds.js';
import { type KernelEvent, KernelPermissions, type KernelPermissionStats, type PermissionFeed } from './permission.js';
import {
  checkEngineApart,
  checkMarkKind,
  type FanotifySource as WatchSource,
  type FanotifyStats,
  watchFilesystem,
  watchGroup,
  WATCH_DEFAULT_MASK,
  WATCH_MOUNT_DEFAULT_MASK,
} from './watch.js';

/** fanotify_init's event_f_flags for permission events: O_RDWR | O_LARGEFILE | O_CLOEXEC, so that a handler fills through the event's descriptor, which no child inherits. */
export const PERMISSION_EVENT_FLAGS = 0o2 | 0o100000 | 0o2000000;
/** Permission events a kernel group may ask for. */
const PERMISSION_MASK_BITS = 0x10000n | 0x20000n | 0x40000n | FAN_PRE_ACCESS;

export interface FanotifyPermissionOptions {
  /** The engine group asked: pre-content for FAN_PRE_ACCESS. */
  group: string;
  /** The kernel's permission events: FAN_PRE_ACCESS (default), FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM, FAN_ACCESS_PERM. */
  mask?: Mask;
  /** The answer to every event still unanswered when the source stops: FAN_DENY_ERRNO(EIO) by default. */
  stopPolicy?: number;
}

export interface FanotifyOptions {
  /** A path on the real filesystem: its filesystem (default) or its mount is marked. */
  path: string;
  mark?: 'filesystem' | 'mount';
  /** The changelog's events (WATCH_DEFAULT_MASK by default; WATCH_MOUNT_DEFAULT_MASK on a mount mark, which the kernel lets report only reads, writes, opens and closes); 0n for none. */
  mask?: Mask;
  /** Resolve each changelog record's path (default true; it costs 20 to 60 % of the journaling rate, docs/guide/fanotify.md). */
  paths?: boolean;
  permission?: FanotifyPermissionOptions;
}

export interface FanotifySourceStats extends FanotifyStats {
  permission: KernelPermissionStats | null;
  /** Whether the groups are a supervisor's (fanlog supervise). */
  supervised: boolean;
}

export interface FanotifySource {
  /** Journals what the changelog group holds, answers what is unanswered (see the header), closes the groups; resolves with `done`. */
  stop(): Promise<void>;
  stats(): FanotifySourceStats;
  /** Resolves once stopped; rejects with the error that ended the source. */
  readonly done: Promise<void>;
}

const NO_STATS: FanotifyStats = { events: 0, journaled: 0, overflows: 0, refused: 0 };

/** Starts a fanotify source on `engine` (see the header); EPERM not root, ENOSYS no fanotify, EOPNOTSUPP a filesystem that refuses the events. */
export function startFanotify(engine: EngineCore, options: FanotifyOptions): FanotifySource {
  engine.checkWritable();
  const {
    path,
    mark,
    mask: asked,
    paths = true,
    permission,
  } = checkOptions<FanotifyOptions>('options', options, ['path', 'mark', 'mask', 'paths', 'permission']);
  if (typeof path !== 'string' || path === '') throw new FanlogError('EINVAL', `path must be a path on a real filesystem, not ${String(path)}`);
  if (!existsSync(path)) throw new FanlogError('ENOENT', `${path} does not exist`);
  const kind = checkMarkKind(mark);
  if (typeof paths !== 'boolean') throw new FanlogError('EINVAL', `paths must be true or false, not ${String(paths)}`);
  const mask = asked ?? (kind === 'mount' ? WATCH_MOUNT_DEFAULT_MASK : WATCH_DEFAULT_MASK);
  if (typeof mask !== 'bigint') throw new FanlogError('EINVAL', `mask must be a bigint of Linux's event bits (0n for no changelog), not ${String(mask)}`);
  const permissionAsked = permission === undefined ? null : checkPermission(engine, permission);
  if (mask === 0n && permissionAsked === null) throw new FanlogError('EINVAL', 'nothing to do: mask is 0n and no permission events are asked for');
  checkEngineApart(engine, path);
  const env = supervisorEnv();
  if (env !== null) return supervised(engine, env, { path, kind, mask, asked: permissionAsked, paths });
  let watch: WatchSource | null = null;
  let group: FanotifyGroup | null = null;
  try {
    if (permissionAsked !== null) {
      group = FanotifyGroup.open({ groupClass: 'pre-content', report: 0, eventFileFlags: PERMISSION_EVENT_FLAGS });
      group.mark(path, kind, permissionAsked.mask);
    }
    // Last: once it runs it holds the engine's watch (kernel/watch-state.ts), and nothing after it can fail.
    if (mask !== 0n) watch = watchFilesystem(engine, path, { mark: kind, mask, paths });
  } catch (error) {
    group?.close();
    throw error;
  }
  return new Source(engine, watch, permissionAsked === null ? null : { ...permissionAsked, feed: new DirectFeed(group!), kernelGroup: group! }, false);
}

interface Asked {
  group: string;
  mask: Mask;
  stopPolicy: number;
}

function checkPermission(engine: EngineCore, permission: FanotifyPermissionOptions): Asked {
  const {
    group,
    mask = FAN_PRE_ACCESS,
    stopPolicy = FAN_DENY_ERRNO(5),
  } = checkOptions<FanotifyPermissionOptions>('permission', permission, ['group', 'mask', 'stopPolicy']);
  if (typeof mask !== 'bigint' || mask === 0n || (mask & ~PERMISSION_MASK_BITS) !== 0n) {
    throw new FanlogError('EINVAL', 'permission.mask must be of FAN_PRE_ACCESS, FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM and FAN_ACCESS_PERM only');
  }
  checkPermissionGroup(engine, group, mask);
  return { group: group as string, mask, stopPolicy: checkResponse(stopPolicy, 'pre-content') };
}

/** The groups the supervisor holds, taken as they are: the options must ask for what it made. */
/** Whether this process's supervised groups and channel were taken by a source: there is one of each per handler process. */
let supervisorTaken = false;

/** A path as the kernel resolves it, for comparing two spellings of one directory. */
function real(where: string): string {
  try {
    return realpathSync(where);
  } catch {
    return resolvePath(where);
  }
}

function supervised(
  engine: EngineCore,
  env: SupervisorEnv,
  wanted: { path: string; kind: string; mask: Mask; asked: Asked | null; paths: boolean },
): FanotifySource {
  const differs = (what: string, held: unknown, asked: unknown): FanlogError =>
    new FanlogError('EINVAL', `fanlog supervise holds ${what} ${String(held)}, but this process asks for ${String(asked)}: give both the same options`);
  if (supervisorTaken) {
    throw new FanlogError('EBUSY', "this process's supervised fanotify groups are taken by an earlier engine.fanotify(): a handler runs one source");
  }
  if (env.dir !== undefined && real(env.dir) !== real(engine.dir)) throw differs('the engine in', env.dir, `an engine in ${engine.dir}`);
  const samePath = (held: string): boolean => real(held) === real(wanted.path);
  if (wanted.asked !== null) {
    const held = env.permission;
    if (held === undefined) throw differs('no permission group:', 'none', `group ${wanted.asked.group}`);
    if (!samePath(held.path)) throw differs('permission events of', held.path, wanted.path);
    if (held.mark !== wanted.kind) throw differs('a mark of kind', held.mark, `a ${wanted.kind} mark`);
    if (held.group !== wanted.asked.group) throw differs('permission events for group', held.group, wanted.asked.group);
    if (BigInt(held.mask) !== wanted.asked.mask) throw differs('permission mask', held.mask, `0x${wanted.asked.mask.toString(16)}`);
  }
  if (wanted.mask !== 0n) {
    const held = env.notify;
    if (held === undefined) throw differs('no changelog group:', 'none', `mask 0x${wanted.mask.toString(16)}`);
    if (!samePath(held.path)) throw differs('changelog events of', held.path, wanted.path);
    if (held.mark !== wanted.kind) throw differs('a mark of kind', held.mark, `a ${wanted.kind} mark`);
    if (BigInt(held.mask) !== wanted.mask) throw differs('changelog mask', held.mask, `0x${wanted.mask.toString(16)}`);
  }
  const notify = env.notify;
  // Checked before anything is taken: a tally that is not the supervisor's would leave every loss unsaid.
  const tally = wanted.mask === 0n || notify?.tally === undefined ? null : ReadTally.adopt(notify.tally, notify.tallyId);
  supervisorTaken = true;
  const watch =
    wanted.mask === 0n
      ? null
      : watchGroup(engine, FanotifyGroup.adopt(notify!.fd), {
          ...(wanted.paths ? { path: notify!.path } : {}),
          ...(tally === null ? {} : { tally }),
          ...(notify!.lost === undefined ? {} : { lost: notify!.lost }),
        });
  const group = wanted.asked === null ? null : FanotifyGroup.adopt(env.permission!.fd);
  const feed = group === null ? null : new ChannelFeed(env, group.fd);
  return new Source(engine, watch, wanted.asked === null ? null : { ...wanted.asked, feed: feed!, kernelGroup: group! }, true);
}

class Source implements FanotifySource {
  readonly done: Promise<void>;
  readonly #watch: WatchSource | null;
  readonly #permissions: KernelPermissions | null;
  readonly #group: FanotifyGroup | null;
  readonly #stopPolicy: number | null;
  /** The policy a supervised source answers by if its supervisor dies (it is then the last holder). */
  readonly #orphanPolicy: number | null;
  readonly #supervised: boolean;
  #stopping: Promise<void> | null = null;
  #end!: (error?: Error) => void;

  constructor(
    engine: EngineCore,
    watch: WatchSource | null,
    asked: (Asked & { feed: PermissionFeed; kernelGroup: FanotifyGroup }) | null,
    isSupervised: boolean,
  ) {
    this.#watch = watch;
    this.#supervised = isSupervised;
    this.#group = asked?.kernelGroup ?? null;
    // Supervised, what is unanswered stays with the supervisor.
    this.#stopPolicy = asked === null || isSupervised ? null : asked.stopPolicy;
    this.#orphanPolicy = asked?.stopPolicy ?? null;
    this.done = new Promise((resolve, reject) => (this.#end = (error) => (error === undefined ? resolve() : reject(error))));
    this.done.catch(() => undefined);
    this.#permissions =
      asked === null
        ? null
        : new KernelPermissions(
            engine,
            asked.group,
            asked.feed,
            (error) => this.#fail(error),
            (error) => this.#orphaned(error),
          );
    this.#permissions?.start();
    watch?.done.catch((error: unknown) => this.#fail(error as Error));
    // engine.close() stops the source first, so that what is unanswered is answered by the policy while the engine can journal it.
    const detach = engine.attachWork(() => this.stop());
    this.done.then(detach, detach);
  }

  stats(): FanotifySourceStats {
    return { ...(this.#watch?.stats() ?? NO_STATS), permission: this.#permissions?.stats() ?? null, supervised: this.#supervised };
  }

  stop(): Promise<void> {
    if (this.#stopping === null) this.#stopping = this.#stop();
    return this.done;
  }

  async #stop(cause?: Error, policy = this.#stopPolicy, drained?: () => KernelEvent[]): Promise<void> {
    let failure = cause;
    try {
      await this.#permissions?.stop(policy, drained);
    } catch (error) {
      failure = error as Error;
    }
    this.#group?.close();
    try {
      await this.#watch?.stop();
    } catch (error) {
      failure ??= error as Error;
    }
    this.#end(failure);
  }

  #fail(error: Error): void {
    if (this.#stopping === null) this.#stopping = this.#stop(error);
  }

  /**
   * The supervisor is gone: this process holds the last copy of the
   * permission group, whose closing would let every pending event through
   * unasked. So, as a source alone does at its stop: the marks are removed,
   * what the group still queues is read, and every event held here is
   * answered by the stop policy, journaled, before the group closes.
   */
  #orphaned(error: Error): void {
    if (this.#stopping !== null || this.#group === null) return;
    const group = this.#group;
    const drained = (): KernelEvent[] => {
      flushMarks(group.fd);
      return drainGroup(group);
    };
    this.#stopping = this.#stop(error, this.#orphanPolicy, drained);
  }
}

/** Checks that `group` names a permission group of `engine` that may be asked about `mask`; EINVAL, ENOENT otherwise. */
export function checkPermissionGroup(engine: EngineCore, group: unknown, mask: bigint): void {
  if (typeof group !== 'string') throw new FanlogError('EINVAL', `permission.group must name an engine group, not ${String(group)}`);
  const found = engine.groups.find(group);
  if (found === null) throw new FanlogError('ENOENT', `no group '${group}': create it (engine.groups.create) before asking it about kernel events`);
  if (found.groupClass === 'notif') throw new FanlogError('EINVAL', `group '${group}' is of class notif, which answers no permission events`);
  if ((mask & FAN_PRE_ACCESS) !== 0n && found.groupClass !== 'pre-content') {
    throw new FanlogError('EINVAL', `FAN_PRE_ACCESS goes to a pre-content group; '${group}' is of class ${found.groupClass}`);
  }
}
