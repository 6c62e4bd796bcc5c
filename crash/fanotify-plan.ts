/**
 * The seeded plan of one `fanotify` run of the crash campaign
 * (fanotify-run.ts), and what its handler (fanotify-handler.ts) reads of it.
 *
 *   stubs    3 to 6 sparse files on the ext4 image, small (one page),
 *            medium or large (several pre-access events per `cat`), each
 *            with its archive copy: seeded bytes, never a zero, so that a
 *            byte left unfilled shows as a zero. Stub 0 is allowed; each
 *            other is denied one time in four, and a denied stub's name
 *            ends in `-deny.dat`: the handler answers every event on it
 *            FAN_DENY_ERRNO(EIO), so the checker knows every outcome
 *   kills    1 to 3, one per handler life, each a kind and a count N:
 *              before-read  the handler SIGKILLs itself before a
 *                           queue.read(), once its listener has handled N
 *                           events of stubs (0: before its first read)
 *              mid-fill     the listener writes half the range of its N-th
 *                           allowed event of a stub, says `hang PID`, and
 *                           the run SIGKILLs it by pid
 *              received, appended, journaled, decided, answered
 *                           FANLOG_CRASH_AT=POINT:N (kernel/crash-points.ts)
 *              notified     FANLOG_CRASH_AT=notified:N, N from 1 to 3: the
 *                           N-th read of the changelog group, before any
 *                           of it is journaled (changelog runs only)
 *            The N of life k is at most what the readers of wave k alone
 *            give that life, so every planned kill comes; a notified kill
 *            comes by the changes of its wave, and by creates after them
 *            until it does (fanotify-changes.ts)
 *   readers  in waves: wave k starts once the supervisor has seen k
 *            kills, so that only life k can answer its first events; waves
 *            0 to K-1 have 1 to 4 readers each, the last (after every
 *            kill) 0 to 3. A reader is `cat` of the whole stub or `dd` of
 *            a seeded range; several may read one stub at once
 *
 *   filesystem  ext4 (half the runs), xfs or btrfs: the last draw but the
 *            changelog's, so that the rest of a seed's plan is what it was
 *            before it was drawn.
 *            On xfs and btrfs no fid holds a file handle, and each request
 *            must carry its file's own (record format 9) through every kill
 *   changelog   half the runs (drawn after everything above, which it
 *            leaves as drawn but for the kinds of kills it turns into
 *            `notified`): the handler journals the kernel's changelog too
 *            (CHANGELOG_MASK), and one life's kill, and each other's one
 *            time in four, is `notified`. The changes, in waves as the
 *            readers, are made in CHANGES_DIR, which holds no stub, one
 *            at a time: 1 to 4 a wave (the last: 0 to 3), each
 *              create  an empty file of a new name       FAN_CREATE
 *              write   an append to a file made before   FAN_MODIFY
 *                      the supervisor started (its FAN_PRE_ACCESS waits
 *                      on the handler, which allows it unfilled)
 *              rename  such a file to a new name         FAN_RENAME,
 *                                                        FAN_MOVED_FROM, FAN_MOVED_TO
 *              delete  such a file                       FAN_DELETE
 *            No name is in two changes, so the kernel merges no two
 *            changes' events (it merges events of one name only): every
 *            record is one change's
 *
 * The kills reach the handler as FANLOG_FANOTIFY_KILLS, `KIND:N` for each
 * life in order, comma-separated: never FANLOG_CRASH_AT, which the
 * supervisor would obey too (its stop answers through the same code).
 */
import { FAN_CREATE, FAN_DELETE, FAN_MODIFY, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_RENAME, type Mask } from '../engine/notify/masks.js';
import { Prng } from '../journal/prng.js';
import type { ImageType } from './fs-image.js';

/** The kinds of kill on a permission event's way, which every run draws from (in this order: a seed's draws depend on it). */
const PERMISSION_KILL_KINDS = ['before-read', 'mid-fill', 'received', 'appended', 'journaled', 'decided', 'answered'] as const;
export const KILL_KINDS = [...PERMISSION_KILL_KINDS, 'notified'] as const;
export type KillKind = (typeof KILL_KINDS)[number];
/** The kinds kernel/crash-points.ts carries out, through FANLOG_CRASH_AT. */
export const CRASH_POINT_KINDS: readonly KillKind[] = ['received', 'appended', 'journaled', 'decided', 'answered', 'notified'];

/** What a changelog run's handler journals, and its supervisor holds: the changes to names and contents. */
export const CHANGELOG_MASK: Mask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME | FAN_MODIFY;
/** The directory of the image the changes are made in: no stub is in it. */
export const CHANGES_DIR = 'changes';

export interface Kill {
  kind: KillKind;
  nth: number;
}

export interface StubPlan {
  name: string;
  size: number;
  denied: boolean;
  /** The archive's bytes: what the handler fills the stub with. */
  content: Buffer;
}

export interface ReaderPlan {
  stub: StubPlan;
  /** `cat` when null: the whole stub; else `dd` of `length` bytes from `offset`. */
  range: { offset: number; length: number } | null;
  wave: number;
}

export type ChangeKind = 'create' | 'write' | 'rename' | 'delete';

/** One change in CHANGES_DIR: `name` is the file it makes (create) or changes, made before the supervisor started. */
export interface ChangePlan {
  kind: ChangeKind;
  name: string;
  /** A rename's new name. */
  to?: string;
  /** A write's bytes, appended. */
  bytes?: number;
  wave: number;
}

/** What the change maker (fanotify-changer.ts) is given: a planned change, or a fill, made until a notified kill comes. */
export type Change = Omit<ChangePlan, 'wave' | 'kind'> & { kind: ChangeKind | 'fill' };
/** A file of CHANGES_DIR that no change touches: fills read it. */
export const PACE_FILE = 'pace';

export interface FanotifyPlan {
  stubs: StubPlan[];
  kills: Kill[];
  readers: ReaderPlan[];
  filesystem: ImageType;
  /** The changes of a changelog run, in the order made; null: the handler journals no changelog. */
  changes: ChangePlan[] | null;
}

export const KILLS_ENV = 'FANLOG_FANOTIFY_KILLS';

/** Whether the handler denies a stub: by its name alone, so that the plan and the handler agree without talking. */
export function isDenied(name: string): boolean {
  return name.endsWith('-deny.dat');
}

export function encodeKills(kills: readonly Kill[]): string {
  return kills.map(({ kind, nth }) => `${kind}:${nth}`).join(',');
}

/** The kill planned for handler life `life` (from 0), or null: it lives until stopped. */
export function killOfLife(encoded: string, life: number): Kill | null {
  const text = encoded.split(',')[life];
  if (text === undefined || text === '') return null;
  const found = /^([a-z-]+):(\d+)$/.exec(text);
  if (found === null || !(KILL_KINDS as readonly string[]).includes(found[1]!)) throw new Error(`${KILLS_ENV} holds an unknown kill: ${text}`);
  return { kind: found[1] as KillKind, nth: Number(found[2]) };
}

/** Sizes: one page or less, up to one `cat` read (128 KiB), or several reads. */
function stubSize(prng: Prng): number {
  const band = prng.int(3);
  if (band === 0) return prng.between(1, 4096);
  if (band === 1) return prng.between(4097, 131_072);
  return prng.between(131_073, 400_000);
}

/** Seeded bytes 1..255: a zero in a reader's output is a byte nobody filled. */
function archiveBytes(prng: Prng, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = 1 + (prng.nextU32() % 255);
  return out;
}

function planStubs(prng: Prng): StubPlan[] {
  const count = prng.between(3, 6);
  return Array.from({ length: count }, (_, i) => {
    const denied = i > 0 && prng.chance(0.25);
    const size = stubSize(prng);
    return { name: `${String(i).padStart(2, '0')}${denied ? '-deny' : ''}.dat`, size, denied, content: archiveBytes(prng, size) };
  });
}

function planReader(prng: Prng, stub: StubPlan, wave: number): ReaderPlan {
  if (prng.chance(0.6)) return { stub, range: null, wave };
  const offset = prng.int(stub.size);
  return { stub, range: { offset, length: prng.between(1, Math.min(stub.size - offset, 200_000)) }, wave };
}

/** The kill of a life whose wave has `readers` readers, `allowed` of them of allowed stubs. */
function planKill(prng: Prng, kind: KillKind, readers: number, allowed: number): Kill {
  if (kind === 'before-read') return { kind, nth: prng.between(0, readers) };
  if (kind === 'mid-fill') return { kind, nth: prng.between(1, allowed) };
  return { kind, nth: prng.between(1, readers) };
}

export function planRun(prng: Prng): FanotifyPlan {
  const stubs = planStubs(prng);
  const killCount = prng.pick([1, 1, 1, 2, 2, 3]);
  const kills: Kill[] = [];
  const readers: ReaderPlan[] = [];
  for (let wave = 0; wave <= killCount; wave++) {
    const last = wave === killCount;
    const kind = last ? null : prng.pick(PERMISSION_KILL_KINDS);
    const count = last ? prng.between(0, 3) : prng.between(1, 4);
    const waveReaders = Array.from({ length: count }, (_, i) =>
      // A mid-fill kill needs an allowed event in its wave: the first reader reads stub 0.
      planReader(prng, i === 0 && kind === 'mid-fill' ? stubs[0]! : prng.pick(stubs), wave),
    );
    readers.push(...waveReaders);
    if (kind !== null) kills.push(planKill(prng, kind, count, waveReaders.filter((reader) => !reader.stub.denied).length));
  }
  const filesystem = prng.pick(['ext4', 'ext4', 'xfs', 'btrfs'] as const);
  return { stubs, kills, readers, filesystem, changes: prng.chance(0.5) ? planChangelog(prng, kills) : null };
}

/** A changelog run's changes, wave by wave; turns one life's kill, and each other's one time in four, into `notified`. */
function planChangelog(prng: Prng, kills: Kill[]): ChangePlan[] {
  const forced = prng.int(kills.length);
  for (let life = 0; life < kills.length; life++) if (life === forced || prng.chance(0.25)) kills[life] = { kind: 'notified', nth: prng.between(1, 3) };
  const changes: ChangePlan[] = [];
  for (let wave = 0; wave <= kills.length; wave++) {
    const count = wave === kills.length ? prng.between(0, 3) : prng.between(1, 4);
    for (let i = 0; i < count; i++) {
      // Every name is the change's own, by its index: the kernel merges no two changes' events.
      const at = String(changes.length).padStart(2, '0');
      const kind = prng.pick(['create', 'write', 'rename', 'delete'] as const);
      if (kind === 'create') changes.push({ kind, name: `new-${at}`, wave });
      else if (kind === 'write') changes.push({ kind, name: `old-${at}`, bytes: prng.between(1, 3000), wave });
      else if (kind === 'rename') changes.push({ kind, name: `old-${at}`, to: `moved-${at}`, wave });
      else changes.push({ kind, name: `old-${at}`, wave });
    }
  }
  return changes;
}

/** What a failure message says of the plan: enough to see the run's shape without replaying it. */
export function describePlan(plan: FanotifyPlan): string {
  const stubs = plan.stubs.map((stub) => `${stub.name} ${stub.size} B`).join(', ');
  const readers = plan.readers.map(
    (reader) => `${reader.wave}:${reader.stub.name}${reader.range === null ? '' : `@${reader.range.offset}+${reader.range.length}`}`,
  );
  const changes =
    plan.changes === null
      ? 'no changelog'
      : `changes (wave:kind name) ${plan.changes.map((change) => `${change.wave}:${change.kind} ${change.name}${change.to === undefined ? '' : `>${change.to}`}`).join(' ')}`;
  return `${plan.filesystem}; kills ${encodeKills(plan.kills)}; stubs ${stubs}; readers (wave:stub) ${readers.join(' ')}; ${changes}`;
}
