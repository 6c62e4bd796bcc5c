/**
 * A backup of a real directory on fanlog: a mirror keeps the engine's
 * filesystem equal to the directory on disk, and a backup consumer copies
 * what each record names. Records between a scan's notes say the backup
 * must reconcile (continuity may have been lost before the scan); the
 * records after a scan's end are followed one by one.
 *
 *   node dist/examples/mirror-backup.js [DIR]     (default: a new temporary directory)
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DeliveredRecord, Engine, FAN_CLOSE_WRITE, FAN_DELETE, FAN_RENAME, maskNames } from 'fanlog';

const base = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'fanlog-mirror-'));
/** Made here (no directory given): removed at the end, so that nothing is left in the temp dir. */
const madeHere = process.argv[2] === undefined;
const projects = path.join(base, 'projects');
mkdirSync(path.join(projects, 'r1'), { recursive: true });
for (let i = 0; i < 5; i++) writeFileSync(path.join(projects, 'r1', `f${i}.txt`), `version 1 of f${i}`);

const engine = await Engine.open(path.join(base, 'engine'));
const backup = await engine.consumers.open('backup', { mask: FAN_CLOSE_WRITE | FAN_DELETE | FAN_RENAME });
const mirror = await engine.mirror(projects, { settleMs: 20 });

let reconciling = false;
const copied: string[] = [];
/** What the backup does with one record: reconcile between notes, follow outside them. */
function handle(record: DeliveredRecord): void {
  if (record.kind === 'note') {
    reconciling = record.op === 'scanBegin';
    console.log(`${record.op} (${record.reason}): ${reconciling ? 'reconcile what the scan reports' : 'following changes one by one'}`);
  } else if (record.kind === 'event') {
    copied.push(`${reconciling ? 'reconcile' : 'follow'} ${maskNames(record.mask ?? 0n).join('|')} ${record.path}`);
  }
}

/** Reads and acknowledges until the consumer has seen `until` records with a path (it wakes when the mirror journals). */
async function drain(until: (records: DeliveredRecord[]) => boolean): Promise<void> {
  const seen: DeliveredRecord[] = [];
  while (!until(seen)) {
    const batch = await backup.read({ max: 1000, waitMs: 5000 });
    if (batch.length === 0) throw new Error('the mirror journaled nothing for 5 s');
    for (const record of batch) handle(record);
    seen.push(...batch);
    await backup.ack(batch.at(-1)!.seq);
  }
}

await drain((seen) => seen.some((record) => record.kind === 'note' && record.op === 'scanEnd'));
console.log(`start scan: ${copied.length} files to copy, ${copied.every((line) => line.startsWith('reconcile')) ? 'all' : 'not all'} between the notes`);
copied.length = 0;

// Changes on disk, followed through the watcher's hints.
writeFileSync(path.join(projects, 'r1', 'f0.txt'), 'version 2 of f0, longer');
renameSync(path.join(projects, 'r1', 'f1.txt'), path.join(projects, 'r1', 'renamed.txt'));
rmSync(path.join(projects, 'r1', 'f2.txt'));
await drain((seen) => seen.filter((record) => record.kind === 'event').length >= 3);
for (const line of copied.sort()) console.log(line);

await mirror.stop();
await engine.close();
if (madeHere) rmSync(base, { recursive: true, force: true });
