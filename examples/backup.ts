/**
 * A backup tool on fanlog: a durable consumer of the changelog under
 * /projects that copies what changed, acknowledges only after its own
 * record of the copy is durable (so a crash costs a re-copy, never a missed
 * change), and, when it fell so far behind that it was evicted, rescans the
 * tree, registers again and goes on.
 *
 *   node dist/examples/backup.js [DIR]     (default: a new temporary directory)
 *
 * The "copy" is a line per changed path in DIR/backup-manifest.txt, appended
 * and fdatasynced before the ack.
 */
import { mkdtempSync, openSync, closeSync, writeSync, fdatasyncSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Consumer, type DeliveredRecord, Engine, FanlogError, maskNames } from 'fanlog';

const dir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-backup-'));
/** Made here (no directory given): removed at the end, so that nothing is left in the temp dir. */
const madeHere = process.argv[2] === undefined;
const manifest = path.join(dir, 'backup-manifest.txt');

/** The backup's own durable work: one line per record, on disk before it returns. */
function copyChanged(lines: string[]): void {
  const fd = openSync(manifest, 'a');
  try {
    writeSync(fd, lines.join(''));
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** After an eviction: what a full scan of the tree finds, copied as a whole. */
async function rescan(engine: Engine, at = '/projects'): Promise<number> {
  let files = 0;
  const lines: string[] = [];
  for (const name of await engine.fs.readdir(at)) {
    const child = `${at}/${name}`;
    const stat = await engine.fs.stat(child);
    if ((stat.mode & 0o170000) === 0o040000) files += await rescan(engine, child);
    else {
      lines.push(`rescan ${child} ${stat.size}\n`);
      files++;
    }
  }
  copyChanged(lines);
  return files;
}

/** Files the users change while the backup runs (or does not). */
async function usersChange(engine: Engine, round: number, files: number): Promise<void> {
  await engine.fs.mkdir(`/projects/r${round}`);
  for (let i = 0; i < files; i++) await engine.fs.create(`/projects/r${round}/f${i}`, { size: 1000 * i }, { pid: 4000 + i, uid: 1000, gid: 1000 });
}

/** The backup's consumer, registered once: rerunning the program finds it where it left off. */
async function openBackup(engine: Engine, from: 'oldest' | 'next' = 'oldest'): Promise<Consumer> {
  const backup = await engine.consumers.open('backup', { lagRecordsMax: 300, from });
  if (backup.info().filter === null) await backup.attachFilter('path-prefix', '/projects');
  return backup;
}

const engine = await Engine.open(dir);
if ((await engine.fs.readdir('/')).length === 0) await engine.fs.mkdir('/projects');
let backup = await openBackup(engine);
let copied = 0;
let evictions = 0;

/** Reads until caught up, copying and acknowledging each batch; handles an eviction. */
async function catchUp(): Promise<void> {
  for (;;) {
    let records: DeliveredRecord[];
    try {
      records = await backup.read({ max: 100 });
    } catch (error) {
      if (!(error instanceof FanlogError) || error.code !== 'EEVICTED') throw error;
      // Registered again first, from the next record: what changes during the rescan is delivered too.
      backup = await openBackup(engine, 'next'); // a new consumer object: the old one is retired
      // Never delivered: what the eviction missed (error.lost), and on to where the new one starts.
      const { fromSeq, toSeq } = backup.lost!;
      const files = await rescan(engine);
      evictions++;
      console.log(`evicted: records ${fromSeq}..${toSeq} were never delivered; rescanned ${files} files; registered again at cursor ${backup.cursor}`);
      continue;
    }
    if (records.length === 0) return;
    copyChanged(records.map((record) => `${record.seq} ${maskNames(record.mask ?? 0n).join('|')} ${record.path ?? ''}\n`));
    copied += records.length;
    await backup.ack(records[records.length - 1]!.seq); // durable when it resolves
  }
}

await usersChange(engine, 1, 20);
await catchUp();
console.log(`caught up: ${copied} records copied, cursor ${backup.cursor}`);
// The backup is down while the users change 200 files (600 records): more than its lag limit of 300.
await usersChange(engine, 2, 200);
await catchUp();
await usersChange(engine, 3, 10);
await catchUp();
console.log(`caught up: ${copied} records copied in all, ${evictions} eviction, cursor ${backup.cursor} of head ${engine.journal.headSeq}`);
await engine.close();
if (madeHere) rmSync(dir, { recursive: true, force: true });
