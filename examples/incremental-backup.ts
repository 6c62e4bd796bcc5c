/**
 * Incremental backup on fanlog: a full backup, then incrementals of what
 * changed since the last one began (`engine.changesSince` from its mark),
 * then a restore of the full backup and every incremental into a real
 * directory, checked against the engine's tree: paths, types, sizes,
 * modes, symlink targets and hard links.
 *
 * A backup's catalog is keyed by object (its fid), so a rename moves an
 * entry and a hard link is one entry with its paths. A renamed directory
 * is reported alone (what is below it did not change): the catalog moves
 * its subtree with it. File content is not modelled by the engine (sizes
 * and offline ranges are): a restored file has the size, in zeros.
 *
 *   node dist/examples/incremental-backup.js [DIR]     (default: a new temporary directory)
 */
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ChangedObject, Engine } from 'fanlog';

const dir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-backup-'));
const madeHere = process.argv[2] === undefined;
const engine = await Engine.open(path.join(dir, 'engine'));

/** What a backup keeps of an object. */
interface Entry {
  paths: string[];
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  target: string | null;
}
type Catalog = Map<string, Entry>;
const typeOf = (mode: number): Entry['type'] => ((mode & 0o170000) === 0o040000 ? 'dir' : (mode & 0o170000) === 0o120000 ? 'symlink' : 'file');

/** The entry of an object that exists, read from the engine now (a real tool would copy its bytes here). */
async function entryOf(change: ChangedObject): Promise<Entry> {
  const { mode, size } = change.stat!;
  const type = typeOf(mode);
  return { paths: change.paths, type, mode: mode & 0o7777, size, target: type === 'symlink' ? await engine.fs.readlink(change.paths[0]!) : null };
}

/**
 * Applies one answer (every page of it, merged, when `max` split it) to a
 * catalog: the backup's own record of the tree. A moved directory is
 * reported alone: what was not reported moved with its deepest moved
 * ancestor, from the catalog's paths before this answer, all at once.
 */
async function apply(catalog: Catalog, changes: ChangedObject[]): Promise<number> {
  const keyOf = (change: ChangedObject): string => `${change.fid.ino}:${change.fid.gen}`;
  const moves: [from: string, to: string][] = [];
  for (const change of changes) {
    const had = catalog.get(keyOf(change));
    if (change.exists && had?.type === 'dir' && had.paths[0] !== change.paths[0]) moves.push([`${had.paths[0]!}/`, `${change.paths[0]!}/`]);
  }
  moves.sort((a, b) => b[0].length - a[0].length);
  const reported = new Set(changes.map(keyOf));
  for (const [key, entry] of catalog) {
    if (reported.has(key)) continue;
    entry.paths = entry.paths.map((p) => {
      const move = moves.find(([from]) => p.startsWith(from));
      return move === undefined ? p : move[1] + p.slice(move[0].length);
    });
  }
  let gone = 0;
  for (const change of changes) {
    if (change.exists) catalog.set(keyOf(change), await entryOf(change));
    else gone += catalog.delete(keyOf(change)) ? 1 : 0;
  }
  return gone;
}

// The tree, and the full backup: every object, from seq 0.
await engine.fs.mkdir('/home');
await engine.fs.mkdir('/home/ann');
await engine.fs.create('/home/ann/notes.txt', { size: 120, mode: 0o600 });
await engine.fs.create('/home/ann/photo.jpg', { size: 4096 });
await engine.fs.symlink('notes.txt', '/home/ann/latest');
await engine.fs.mkdir('/srv');
await engine.fs.create('/srv/db.bin', { size: 65536 });
await engine.fs.link('/srv/db.bin', '/home/ann/db-link');

const catalog: Catalog = new Map();
let begun = await engine.mark('backup-1 begins');
const full = await engine.changesSince(0n);
await apply(catalog, full.changes);
await engine.mark('backup-1 ends');
console.log(`full backup 1: ${catalog.size} objects`);

/** Changes the tree, then takes incremental `n`: what changed since backup n - 1 began. */
async function incremental(n: number, change: () => Promise<void>): Promise<void> {
  await change();
  const begins = await engine.mark(`backup-${n} begins`);
  const { changes } = await engine.changesSince(begun);
  const gone = await apply(catalog, changes);
  await engine.mark(`backup-${n} ends`);
  begun = begins;
  console.log(`incremental ${n}: ${changes.length} objects changed, ${gone} gone; the catalog holds ${catalog.size}`);
}

await incremental(2, async () => {
  const fd = await engine.fs.open('/home/ann/notes.txt', 'w');
  await engine.fs.write(fd, 120, 80);
  await engine.fs.close(fd);
  await engine.fs.rename('/home/ann/photo.jpg', '/home/ann/2026.jpg');
  await engine.fs.create('/srv/scratch', { size: 10 });
  await engine.fs.unlink('/srv/scratch'); // made and gone between two backups: never seen
  await engine.fs.chmod('/srv/db.bin', 0o640);
});
await incremental(3, async () => {
  await engine.fs.rename('/home/ann', '/home/anna'); // its files move with it, with no change of their own
  await engine.fs.rename('/srv', '/old-srv'); // a chain: /srv moves away, and another directory takes its name
  await engine.fs.mkdir('/srv');
  await engine.fs.unlink('/home/anna/latest');
  await engine.fs.mkdir('/srv/logs');
  await engine.fs.create('/srv/logs/today', { size: 7 });
  await engine.fs.rename('/old-srv/db.bin', '/srv/db.bin');
});

// The restore: the catalog made real, directories first.
const restored = path.join(dir, 'restored');
mkdirSync(restored);
const entries = [...catalog.values()].sort((a, b) => a.paths[0]!.split('/').length - b.paths[0]!.split('/').length);
for (const entry of entries) {
  const [first, ...links] = entry.paths.map((p) => path.join(restored, p));
  if (entry.type === 'dir') {
    if (entry.paths[0] !== '/') mkdirSync(first!);
  } else if (entry.type === 'symlink') symlinkSync(entry.target!, first!);
  else {
    writeFileSync(first!, '');
    truncateSync(first!, entry.size);
    for (const link of links) linkSync(first!, link);
  }
  if (entry.type !== 'symlink') chmodSync(first!, entry.mode);
}

/** A tree as lines: path, type, size (files), mode, target, and which paths share an object. */
async function engineTree(at = '/', out: string[] = [], inodes = new Map<number, string>()): Promise<string[]> {
  for (const name of (await engine.fs.readdir(at)).sort()) {
    const p = path.posix.join(at, name);
    const stat = await engine.fs.lstat(p);
    const type = typeOf(stat.mode);
    const same = type === 'file' && stat.nlink > 1 ? (inodes.get(stat.ino) ?? (inodes.set(stat.ino, p), p)) : '';
    out.push(
      `${p} ${type} ${type === 'file' ? stat.size : '-'} ${type === 'symlink' ? await engine.fs.readlink(p) : (stat.mode & 0o7777).toString(8)} ${same}`,
    );
    if (type === 'dir') await engineTree(p, out, inodes);
  }
  return out;
}
function diskTree(at = '/', out: string[] = [], inodes = new Map<number, string>()): string[] {
  for (const name of readdirSync(path.join(restored, at)).sort()) {
    const p = path.posix.join(at, name);
    const stat = lstatSync(path.join(restored, p));
    const type = stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : 'file';
    const same = type === 'file' && stat.nlink > 1 ? (inodes.get(stat.ino) ?? (inodes.set(stat.ino, p), p)) : '';
    out.push(
      `${p} ${type} ${type === 'file' ? stat.size : '-'} ${type === 'symlink' ? readlinkSync(path.join(restored, p)) : (stat.mode & 0o7777).toString(8)} ${same}`,
    );
    if (type === 'dir') diskTree(p, out, inodes);
  }
  return out;
}
const expected = await engineTree();
const found = diskTree();
const equal = JSON.stringify(expected) === JSON.stringify(found);
console.log(`restore: the full backup and 2 incrementals give ${found.length} paths, equal to the engine's tree: ${equal}`);
if (!equal) console.log(`engine:\n${expected.join('\n')}\nrestored:\n${found.join('\n')}`);
await engine.close();
if (madeHere) rmSync(dir, { recursive: true, force: true });
