/**
 * The handler of the campaign's fanotify runs (fanotify-run.ts), run under
 * `fanlog supervise`: `node dist/crash/fanotify-handler.js ENGINE_DIR MOUNT
 * ARCHIVE LIVES [changelog]`. It asks engine group `hsm` about
 * FAN_PRE_ACCESS on MOUNT; its listener fills each event's range of an
 * allowed stub from ARCHIVE/<name> through the event's descriptor and
 * allows it, and denies every event of a stub whose name says so
 * (fanotify-plan.ts isDenied) with FAN_DENY_ERRNO(EIO). With `changelog`,
 * its source journals the kernel's changelog too (fanotify-plan.ts
 * CHANGELOG_MASK, which the supervisor holds).
 *
 * A stub is a file MOUNT/<name> with an ARCHIVE/<name>. The filesystem
 * mark raises FAN_PRE_ACCESS for every regular file: on 6.18, for each
 * read and each write of one (a create, rename or unlink raises none), so
 * the change maker's appends and reads come here too. Those are allowed
 * unfilled, and are not counted in the N of a before-read or mid-fill
 * kill, which counts the stubs' events the readers of its wave give.
 *
 * Which life it is: the first number N for which LIVES/N does not exist
 * yet; it makes that file (O_EXCL), so that each incarnation the supervisor
 * starts takes the next one. Its kill, if the plan has one for this life,
 * is FANLOG_FANOTIFY_KILLS's N-th (fanotify-plan.ts). A crash point is set
 * as FANLOG_CRASH_AT in this process's environment only, before the library
 * is imported (kernel/crash-points.ts reads it once, when loaded): the
 * supervisor never has it, and the next life does not inherit it.
 *
 * On stdout, one line each (writes to a pipe are synchronous on Linux, so a
 * line is out before the process can die after it):
 *   ready PID LIFE   the source is started
 *   hang PID         (mid-fill) half a range is written; kill me by pid
 * On SIGTERM (the supervisor's stop) it stops the source, leaving what is
 * unanswered to the supervisor, closes the engine and exits 0. Anything
 * that fails is printed on stderr and exits 2: the supervisor reports it,
 * and the run counts it as a violation.
 */
import { closeSync, openSync, readdirSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FAN_ALLOW, FAN_DENY_ERRNO, FAN_PRE_ACCESS } from '../engine/notify/masks.js';
import type { QueuedEvent } from '../engine/notify/group-queue.js';
import { CHANGELOG_MASK, CRASH_POINT_KINDS, isDenied, type Kill, killOfLife, KILLS_ENV } from './fanotify-plan.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const FAN_DENY_EIO = FAN_DENY_ERRNO(5);
/** Set on SIGTERM: what the close of the engine then rejects is the end, not a failure. */
let stopping = false;

/** Takes the first free life number under `lives`. */
function takeLife(lives: string): number {
  for (let life = 0; ; life++) {
    try {
      closeSync(openSync(path.join(lives, String(life)), 'wx'));
      return life;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

const archives = new Map<string, Buffer>();
function archived(archive: string, name: string): Buffer {
  let bytes = archives.get(name);
  if (bytes === undefined) archives.set(name, (bytes = readFileSync(path.join(archive, name))));
  return bytes;
}

/** Fills the event's range (clipped to the stub) from the archive; with `half`, only the first half of it. */
function fill(event: QueuedEvent, archive: string, half: boolean): void {
  const bytes = archived(archive, path.basename(event.path!));
  const start = Math.min(Number(event.range?.offset ?? 0n), bytes.length);
  const end = event.range === undefined ? bytes.length : Math.min(bytes.length, start + Number(event.range.count));
  const stop = half ? start + Math.floor((end - start) / 2) : end;
  for (let at = start; at < stop;) at += writeSync(event.fd!, bytes, at, stop - at, at);
}

async function main([dir, mount, archive, lives, changelog]: string[]): Promise<void> {
  const life = takeLife(lives!);
  // As the events' paths are: the kernel's, with no symbolic link.
  const stubs = new Set(readdirSync(archive!).map((name) => path.join(realpathSync(mount!), name)));
  const kill: Kill | null = killOfLife(process.env[KILLS_ENV] ?? '', life);
  if (kill !== null && CRASH_POINT_KINDS.includes(kill.kind)) process.env.FANLOG_CRASH_AT = `${kill.kind}:${kill.nth}`;
  const { Engine } = await import('../fanlog.js');
  const engine = await Engine.open(dir!);
  const queue = engine.groups.get('hsm').openQueue();
  const mask = changelog === 'changelog' ? CHANGELOG_MASK : 0n;
  const source = await engine.fanotify({ path: mount!, mask, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
  source.done.catch((error: unknown) => fail(error));
  process.once('SIGTERM', () => {
    stopping = true;
    void source
      .stop()
      .then(() => engine.close())
      .then(() => process.exit(0), fail);
  });
  say(`ready ${process.pid} ${life}`);
  let handled = 0;
  let allowed = 0;
  while (!stopping) {
    if (kill?.kind === 'before-read' && handled >= kill.nth) process.kill(process.pid, 'SIGKILL');
    for (const event of await queue.read({ waitMs: 1000 })) {
      if (!stubs.has(event.path!)) {
        await queue.respond(event.id, FAN_ALLOW);
        continue;
      }
      handled++;
      if (isDenied(path.basename(event.path!))) {
        await queue.respond(event.id, FAN_DENY_EIO);
        continue;
      }
      allowed++;
      if (kill?.kind === 'mid-fill' && allowed === kill.nth) {
        fill(event, archive!, true);
        say(`hang ${process.pid}`);
        await new Promise(() => undefined);
      }
      fill(event, archive!, false);
      await queue.respond(event.id, FAN_ALLOW);
    }
  }
  // Stopping: the SIGTERM handler exits once the source and the engine are closed.
  await new Promise(() => undefined);
}

function fail(error: unknown): never {
  process.stderr.write(`fanotify-handler ${process.pid}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((error: unknown) => stopping || fail(error));
