/**
 * The process that makes a changelog run's changes (fanotify-changes.ts
 * drives it): `node dist/crash/fanotify-changer.js DIR`. Each line on stdin
 * is one change, as JSON: a ChangePlan of fanotify-plan.ts, or a fill
 * (`{"kind":"fill","name":N}`). It makes it in DIR with synchronous calls,
 * so that the kernel's events name this process's main thread, whose tid
 * is its pid, and says on stdout, one line each:
 *   made NAME          the change's last call returned
 *   failed NAME: WHY   a call failed; the run counts it a violation
 *
 *   create  open(O_CREAT | O_EXCL | O_WRONLY), close: FAN_CREATE only
 *   write   BYTES bytes appended, one write(2): FAN_MODIFY, once
 *   rename  rename(2) to TO
 *   delete  unlink(2)
 *   fill    a create, then a read of DIR/pace (made before the supervisor
 *           started): the read raises no changelog event, and its
 *           FAN_PRE_ACCESS waits on the handler, so that the handler's
 *           loop turns between two fills
 * It exits 0 when stdin ends.
 */
import { appendFileSync, closeSync, openSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type Change, PACE_FILE } from './fanotify-plan.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function make(dir: string, change: Change): void {
  const file = path.join(dir, change.name);
  if (change.kind === 'create' || change.kind === 'fill') closeSync(openSync(file, 'wx'));
  if (change.kind === 'fill') readFileSync(path.join(dir, PACE_FILE));
  if (change.kind === 'write') appendFileSync(file, Buffer.alloc(change.bytes!, 'x'));
  if (change.kind === 'rename') renameSync(file, path.join(dir, change.to!));
  if (change.kind === 'delete') unlinkSync(file);
}

async function main([dir]: string[]): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    const change = JSON.parse(line) as Change;
    try {
      make(dir!, change);
      say(`made ${change.name}`);
    } catch (error) {
      say(`failed ${change.name}: ${(error as Error).message}`);
    }
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`fanotify-changer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
