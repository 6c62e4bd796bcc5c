/**
 * The checks of the campaign's mirror runs (mirror-run.ts), all of
 * invariant 10 (a mirror is the disk, or says where it may not be), made
 * once the churn has stopped and the mirror has settled:
 *
 *   the disk     the engine's tree equals lstat of the disk, but at and
 *                below the paths of the loss notes journaled since the last
 *                scanBegin (each scan notes again whatever it still cannot
 *                mirror), each moved by the renames journaled after it, as
 *                a consumer's tree moves it; every name or symlink target on disk that is not
 *                UTF-8 lies under such a note; and no loss note has a
 *                reason the churn gave no cause for (it makes only names
 *                that are not UTF-8: EILSEQ). A file the churn changed
 *                unseen (mirror-churn.ts) is held to its type only
 *   the replay   a consumer that read every record from the oldest, and
 *                applied each event's path, rename and attributes, holds
 *                the engine's tree exactly
 *   the renames  every rename the mirror journaled moved one object: some
 *                object of the churn, of the same type, had both names (a
 *                rename of a deleted file onto the new object that took its
 *                inode is not one); or, in a start scan, a file replaced
 *                at one of its names took the replacing file's identity
 *                there (identities are rebuilt by path) and its other
 *                names moved to the replacing file's (mirror-names.ts)
 *
 * A tree is, by path: type, mode, owner, size of files, mtime of all but
 * directories, symlink targets; and which paths are links of one object.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { DeliveredRecord } from '../consumers/consumer.js';
import type { Engine } from '../fanlog.js';
import { FAN_CREATE, FAN_DELETE, FAN_RENAME } from '../engine/notify/masks.js';
import type { Stat } from '../engine/record/record.js';
import { decodeName, escapeBytes } from '../mirror/disk.js';
import type { Churn, ChurnType } from './mirror-churn.js';
import type { Model } from './model.js';

interface Tree {
  /** By rel path: the entry's attributes, as text. */
  entries: Map<string, string>;
  /** By rel path (not directories): its object, for links. */
  objects: Map<string, string>;
}

const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const TYPES: Record<number, ChurnType> = { 0o040000: 'dir', 0o120000: 'symlink', 0o100000: 'file' };

function describe(type: ChurnType, stat: Pick<Stat, 'mode' | 'uid' | 'gid' | 'size' | 'mtime'>, target: string | undefined): string {
  const parts: unknown[] = [type, (stat.mode & 0o7777).toString(8), stat.uid, stat.gid];
  if (type === 'file') parts.push(stat.size);
  if (type !== 'dir') parts.push(String(stat.mtime));
  if (type === 'symlink') parts.push(target);
  return JSON.stringify(parts);
}

/** The disk's tree under `root`, and what in it the engine cannot hold (names and symlink targets that are not UTF-8). */
export function diskTree(root: string): Tree & { unmirrorable: string[] } {
  const tree = { entries: new Map<string, string>(), objects: new Map<string, string>(), unmirrorable: [] as string[] };
  const walk = (rel: string): void => {
    for (const bytes of readdirSync(rel === '' ? root : `${root}/${rel}`, { encoding: 'buffer' })) {
      const name = decodeName(bytes);
      if (name === null) {
        tree.unmirrorable.push(join(rel, escapeBytes(bytes)));
        continue;
      }
      const path = join(rel, name);
      const stats = lstatSync(`${root}/${path}`, { bigint: true });
      const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : stats.isFile() ? 'file' : null;
      if (type === null) {
        // A FIFO, socket or device: the engine has no type for it, and a loss note must say so.
        tree.unmirrorable.push(path);
        continue;
      }
      const target = type === 'symlink' ? decodeName(readlinkSync(`${root}/${path}`, { encoding: 'buffer' })) : undefined;
      if (target === null) {
        tree.unmirrorable.push(path);
        continue;
      }
      const stat = { mode: Number(stats.mode), uid: Number(stats.uid), gid: Number(stats.gid), size: Number(stats.size), mtime: stats.mtimeNs };
      tree.entries.set(path, describe(type, stat, target));
      if (type === 'dir') walk(path);
      else tree.objects.set(path, String(stats.ino));
    }
  };
  walk('');
  return tree;
}

/** The engine's tree (mirrored into '/'). */
export async function engineTree(engine: Engine): Promise<Tree> {
  const tree: Tree = { entries: new Map(), objects: new Map() };
  const walk = async (rel: string): Promise<void> => {
    for (const name of await engine.fs.readdir(`/${rel}`)) {
      const path = join(rel, name);
      const stat = await engine.fs.lstat(`/${path}`);
      const type = TYPES[stat.mode & 0o170000]!;
      tree.entries.set(path, describe(type, stat, type === 'symlink' ? await engine.fs.readlink(`/${path}`) : undefined));
      if (type === 'dir') await walk(path);
      else tree.objects.set(path, String(stat.ino));
    }
  };
  await walk('');
  return tree;
}

/** The tree a consumer rebuilds from the events it read, every one from the oldest. */
export function replayTree(records: readonly DeliveredRecord[]): Tree {
  const names = new Map<string, string>(); // engine path -> object
  const objects = new Map<string, { stat: Stat; target?: string }>();
  for (const record of records) {
    if (record.kind !== 'event' || record.fid === undefined || record.path === undefined) continue;
    const object = `${record.fid.ino}:${record.fid.gen}`;
    if (record.stat !== undefined)
      objects.set(object, { ...objects.get(object), stat: record.stat, ...(record.target === undefined ? {} : { target: record.target }) });
    if (((record.mask ?? 0n) & FAN_RENAME) !== 0n && record.oldPath !== undefined) {
      for (const path of [...names.keys()]) if (path.startsWith(`${record.path}/`)) names.delete(path);
      for (const [path, held] of [...names]) {
        if (path !== record.oldPath && !path.startsWith(`${record.oldPath}/`)) continue;
        names.delete(path);
        names.set(record.path + path.slice(record.oldPath.length), held);
      }
    } else if (((record.mask ?? 0n) & FAN_CREATE) !== 0n && record.name !== undefined) {
      names.set(record.path, object);
    } else if (((record.mask ?? 0n) & FAN_DELETE) !== 0n && record.name !== undefined) {
      names.delete(record.path);
    }
  }
  const tree: Tree = { entries: new Map(), objects: new Map() };
  for (const [path, object] of names) {
    const { stat, target } = objects.get(object)!;
    const type = TYPES[stat.mode & 0o170000]!;
    tree.entries.set(path.slice(1), describe(type, stat, target));
    if (type !== 'dir') tree.objects.set(path.slice(1), object);
  }
  return tree;
}

/** The loss notes since the last scanBegin, each at its path now (a rename journaled after it moves it, as it moves any path): rel path and reason. */
export function currentLosses(records: readonly DeliveredRecord[]): { rel: string; reason: string }[] {
  let losses: { path: string; reason: string }[] = [];
  for (const record of records) {
    if (record.kind === 'note' && record.op === 'scanBegin') losses = [];
    else if (record.kind === 'note' && record.op === 'loss') losses.push({ path: record.path ?? '/', reason: record.reason ?? '' });
    else if (record.kind === 'event' && ((record.mask ?? 0n) & FAN_RENAME) !== 0n && record.oldPath !== undefined && record.path !== undefined) {
      const [from, to] = [record.oldPath, record.path];
      for (const loss of losses) if (loss.path === from || loss.path.startsWith(`${from}/`)) loss.path = to + loss.path.slice(from.length);
    }
  }
  return losses.map((loss) => ({ rel: loss.path.slice(1), reason: loss.reason }));
}

/** Link groups of a tree, among the paths kept: sorted, as text. */
function links(tree: Tree, kept: (rel: string) => boolean): string {
  const groups = new Map<string, string[]>();
  for (const [path, object] of tree.objects) if (kept(path)) groups.set(object, [...(groups.get(object) ?? []), path]);
  return JSON.stringify(
    [...groups.values()]
      .filter((paths) => paths.length > 1)
      .map((paths) => paths.sort())
      .sort(),
  );
}

/** The first difference of two trees, among the paths kept; null when there is none. */
export function treeDifference(left: Tree, right: Tree, kept: (rel: string) => boolean = () => true): string | null {
  const paths = new Set([...left.entries.keys(), ...right.entries.keys()]);
  for (const path of [...paths].sort()) {
    if (!kept(path)) continue;
    const [a, b] = [left.entries.get(path), right.entries.get(path)];
    if (a !== b) return `/${path}: ${a ?? 'absent'} against ${b ?? 'absent'}`;
  }
  const [a, b] = [links(left, kept), links(right, kept)];
  return a === b ? null : `links ${a} against ${b}`;
}

/** The engine's entry where it has the disk's type (a file changed unseen: its attributes cannot be known), else the disk's. */
function sameType(disk: string, mirrored: string): string {
  return (JSON.parse(disk) as unknown[])[0] === (JSON.parse(mirrored) as unknown[])[0] ? mirrored : disk;
}

/** Every check (see the header) of a settled run. */
export async function checkMirrored(
  engine: Engine,
  root: string,
  records: readonly DeliveredRecord[],
  churn: Churn,
  model: Model,
  where: string,
): Promise<void> {
  const disk = diskTree(root);
  const mirrored = await engineTree(engine);
  const losses = currentLosses(records);
  const covered = (rel: string): boolean => losses.some((loss) => rel === loss.rel || rel.startsWith(`${loss.rel}/`));
  for (const rel of disk.unmirrorable)
    model.check(10, covered(rel), () => `${where}: /${rel} is not UTF-8 or a FIFO on disk, and no loss note since the last scan says so`);
  for (const loss of losses)
    model.check(
      10,
      loss.reason === 'EILSEQ' || loss.reason === 'EOPNOTSUPP',
      () => `${where}: a loss note at /${loss.rel} (${loss.reason}) the churn gave no cause for`,
    );
  for (const [rel, entry] of disk.entries)
    if (churn.unseen(rel) && mirrored.entries.has(rel)) disk.entries.set(rel, sameType(entry, mirrored.entries.get(rel)!));
  const apart = treeDifference(mirrored, disk, (rel) => !covered(rel));
  model.check(10, apart === null, () => `${where}: the engine's tree (left) is not the disk's (right), and no loss note says so: ${apart}`);
  const replayed = treeDifference(replayTree(records), mirrored);
  model.check(10, replayed === null, () => `${where}: a consumer replaying every record (left) does not rebuild the engine's tree (right): ${replayed}`);
  // Whether a start scan is under way: identities are being rebuilt by path.
  let byPath = false;
  for (const record of records) {
    if (record.kind === 'note' && (record.op === 'scanBegin' || record.op === 'scanEnd')) byPath = record.op === 'scanBegin' && record.reason === 'start';
    if (
      record.kind !== 'event' ||
      ((record.mask ?? 0n) & FAN_RENAME) === 0n ||
      record.oldPath === undefined ||
      record.path === undefined ||
      record.stat === undefined
    )
      continue;
    const type = TYPES[record.stat.mode & 0o170000]!;
    const [from, to] = [record.oldPath.slice(1), record.path.slice(1)];
    model.check(
      10,
      churn.explainsRename(from, to, type, byPath),
      () => `${where}: seq ${record.seq} journals a rename of ${type} /${from} to /${to}, which no ${type} of the churn made`,
    );
  }
}
