/**
 * Trees to compare in the mirror's tests: a real directory by `lstat`, and
 * the engine's filesystem by its own queries, as the same plain shape
 * (path → type, mode, owner, size and mtime of files, symlink targets,
 * and which paths are links of one object). Waiting for the mirror
 * wakes on what a consumer is handed, never on a timer alone.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { expect } from 'vitest';
import type { Consumer, DeliveredRecord, Engine } from '../../index.js';

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  mtime?: string;
  target?: string;
}

export interface Tree {
  entries: Record<string, TreeEntry>;
  /** Paths that are links of one object, each group sorted, groups sorted; only groups of two or more. */
  links: string[][];
}

function groups(byObject: Map<string, string[]>): string[][] {
  return [...byObject.values()]
    .filter((paths) => paths.length > 1)
    .map((paths) => paths.sort())
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
}

export function diskTree(root: string, ignore: (rel: string) => boolean = () => false): Tree {
  const entries: Record<string, TreeEntry> = {};
  const byObject = new Map<string, string[]>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? root : `${root}/${rel}`)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (ignore(path)) continue;
      const stats = lstatSync(`${root}/${path}`, { bigint: true });
      const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file';
      const entry: TreeEntry = { type, mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid) };
      if (type === 'file') entry.size = Number(stats.size);
      if (type !== 'dir') entry.mtime = stats.mtimeNs.toString();
      if (type === 'symlink') entry.target = readlinkSync(`${root}/${path}`);
      entries[`/${path}`] = entry;
      if (type !== 'dir') byObject.set(`${stats.ino}`, [...(byObject.get(`${stats.ino}`) ?? []), `/${path}`]);
      if (type === 'dir') walk(path);
    }
  };
  walk('');
  return { entries, links: groups(byObject) };
}

export async function engineTree(engine: Engine, top = '/'): Promise<Tree> {
  const entries: Record<string, TreeEntry> = {};
  const byObject = new Map<string, string[]>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await engine.fs.readdir(dir)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const stats = await engine.fs.lstat(path);
      const kind = stats.mode & 0o170000;
      const type = kind === 0o040000 ? 'dir' : kind === 0o120000 ? 'symlink' : 'file';
      const entry: TreeEntry = { type, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
      if (type === 'file') entry.size = stats.size;
      if (type !== 'dir') entry.mtime = stats.mtime.toString();
      if (type === 'symlink') entry.target = await engine.fs.readlink(path);
      const rel = top === '/' ? path : path.slice(top.length);
      entries[rel] = entry;
      if (type !== 'dir') byObject.set(`${stats.ino}`, [...(byObject.get(`${stats.ino}`) ?? []), rel]);
      if (type === 'dir') await walk(path);
    }
  };
  await walk(top);
  return { entries, links: groups(byObject) };
}

/**
 * Reads what `consumer` is handed until the engine's tree equals the disk's
 * and every record journaled by then has been read, and returns what it
 * read; fails after `deadlineMs` with the difference. The engine applies a
 * change before its record is durable, and a consumer is handed a record
 * only once it is: equal trees say that the records are written, not that
 * they have come, so the reading goes on until it reaches the journal's
 * head (a busy machine's slow fdatasync made a read's timeout end it
 * early). The reads wait on the consumer (waitMs), so the loop wakes when
 * the mirror journals.
 */
export async function readUntilMirrored(engine: Engine, root: string, consumer: Consumer, deadlineMs = 15_000): Promise<DeliveredRecord[]> {
  const read: DeliveredRecord[] = [];
  const deadline = Date.now() + deadlineMs;
  // The consumer acks all it reads: what it acked, it has read.
  let lastRead = consumer.cursor;
  for (;;) {
    const batch = await consumer.read({ max: 100_000, waitMs: 200 });
    read.push(...batch);
    if (batch.length > 0) {
      lastRead = batch[batch.length - 1]!.seq;
      await consumer.ack(lastRead);
    }
    const [disk, mirrored] = [diskTree(root), await engineTree(engine)];
    if (JSON.stringify(disk) === JSON.stringify(mirrored) && lastRead >= engine.journal.headSeq) return read;
    if (Date.now() > deadline) {
      expect(mirrored, 'the mirrored tree (left) against the disk (right)').toEqual(disk);
      expect(lastRead, 'the last record read against the journal head').toBe(engine.journal.headSeq);
      return read;
    }
  }
}
