/**
 * A restarted handler that claims a request its predecessor journaled but
 * died before reporting tells its supervisor the request's seq before its
 * listener can decide it. Found by the fanotify campaign (`fanlog
 * crash-test --faults fanotify --seed 90210 --run 79 --runs 120`): the
 * first handler journaled a request and was killed before it said
 * "journaled"; the second claimed the request, decided it, and was killed
 * before it answered the kernel; the supervisor, which never learned the
 * seq, sent the event to the third as a new one, and the journal held two
 * requests (and two decisions) for one kernel event.
 *
 * Here the supervisor is a feed of the test's own (kernel/permission.ts
 * PermissionFeed) and the kernel's group is /dev/null, which takes any
 * answer: life 0 journals the request and stops at the feed's "journaled"
 * (the kill), the power goes (MemoryIo), and life 1 is sent the event
 * again without a seq. When its listener reads the resurrected request,
 * the feed must already have been told its seq. Linux only (koffi reads
 * the event file's handle); no root needed.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Engine, FAN_ALLOW, FAN_PRE_ACCESS } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import type { FanotifyEvent } from '../../interop/fanotify-events.js';
import { type KernelEvent, KernelPermissions, type PermissionFeed } from '../../kernel/permission.js';
import { decodeRecord } from '../../interop/index.js';
import { tempDir } from '../helpers.js';

const isLinux = process.platform === 'linux';
if (!isLinux) console.log('test/kernel/permission-claim.test.ts: skipped, it needs Linux (the kernel permission source)');

const DIR = '/fanlog';

/** A feed that hands over `events` once, then goes live; `journaled` as given; everything it is told, in order. */
function feedOf(groupFd: number, events: KernelEvent[], journaled: (id: string, seq: bigint) => Promise<void>): PermissionFeed & { told: string[] } {
  const told: string[] = [];
  return {
    groupFd,
    told,
    start(sink) {
      sink.events(events);
      sink.live();
    },
    journaled(id, seq) {
      told.push(`journaled ${id} ${seq}`);
      return journaled(id, seq);
    },
    done(id) {
      told.push(`done ${id}`);
    },
    stop: async () => [],
  };
}

it.skipIf(!isLinux)('tells the supervisor the seq of a request it claims before its listener can decide it', async () => {
  const file = path.join(tempDir(), 'stub.dat');
  writeFileSync(file, Buffer.alloc(4096, 1));
  const groupFd = openSync('/dev/null', 'w');
  const raw: FanotifyEvent = { mask: FAN_PRE_ACCESS, pid: process.pid, fd: 40, range: { offset: 0, count: 4096 } };
  const memory = new MemoryIo();
  const options = { io: memory, store: 'files' as const };
  const fds: number[] = [];
  const event = (): KernelEvent => {
    fds.push(openSync(file, 'r+'));
    return { id: 'supervisor:1', kernelFd: raw.fd, fd: fds.at(-1)!, event: raw };
  };
  try {
    // Life 0: the request is durable; the handler is killed before it says so.
    const first = await Engine.open(DIR, options);
    await first.groups.create('hsm', { class: 'pre-content' });
    let killed!: (seq: bigint) => void;
    let failed!: (error: Error) => void;
    const journaled = new Promise<bigint>((resolve, reject) => ((killed = resolve), (failed = reject)));
    const feed0 = feedOf(groupFd, [event()], (_, seq) => {
      killed(seq);
      return new Promise<void>(() => undefined);
    });
    new KernelPermissions(first, 'hsm', feed0, failed).start();
    const seq = await journaled;
    memory.crash(1, 'drop');

    // Life 1: the supervisor never heard the seq, and sends the event again without it.
    const second = await Engine.open(DIR, options);
    const queue = second.groups.get('hsm').openQueue();
    const feed1 = feedOf(groupFd, [event()], async () => undefined);
    const errors: Error[] = [];
    const permissions = new KernelPermissions(second, 'hsm', feed1, (error) => errors.push(error));
    permissions.start();
    const [request] = await queue.read({ waitMs: 60_000 });
    expect(request?.seq).toBe(seq);
    expect(feed1.told, 'what the supervisor knows when the listener may decide').toEqual([`journaled supervisor:1 ${seq}`]);
    await queue.respond(request!.id, FAN_ALLOW);
    expect(feed1.told).toEqual([`journaled supervisor:1 ${seq}`, 'done supervisor:1']);
    expect(errors).toEqual([]);
    const kinds: string[] = [];
    for await (const { payload } of second.journal.read()) kinds.push(decodeRecord(payload).kind);
    expect(kinds).toEqual(['request', 'decision']);
    await permissions.stop(null);
    await second.close();
  } finally {
    for (const fd of [groupFd, ...fds]) {
      try {
        closeSync(fd);
      } catch {
        // Closed by the ticket that answered it.
      }
    }
  }
});

it.skipIf(!isLinux)('writes no answer to the group once a supervised source has stopped: its number may be another file by then', async () => {
  // The attack's finding: a supervisor SIGKILLed, the handler's source stopped and closed its group, and a later answer went to
  // whatever file took descriptor 4 (a journal segment). Here the "group" is a file: after stop(null) it must stay empty.
  const dir = tempDir();
  const file = path.join(dir, 'stub.dat');
  writeFileSync(file, Buffer.alloc(4096, 1));
  const groupFile = path.join(dir, 'group');
  const groupFd = openSync(groupFile, 'w');
  const eventFd = openSync(file, 'r+');
  const raw: FanotifyEvent = { mask: FAN_PRE_ACCESS, pid: process.pid, fd: 41, range: { offset: 0, count: 4096 } };
  const engine = await Engine.open(path.join(dir, 'engine'));
  try {
    await engine.groups.create('hsm', { class: 'pre-content' });
    const queue = engine.groups.get('hsm').openQueue();
    const feed = feedOf(groupFd, [{ id: 'supervisor:1', kernelFd: raw.fd, fd: eventFd, event: raw }], async () => undefined);
    const permissions = new KernelPermissions(engine, 'hsm', feed, (error) => {
      throw error;
    });
    permissions.start();
    const [request] = await queue.read({ waitMs: 60_000 });
    await permissions.stop(null);
    await queue.respond(request!.id, FAN_ALLOW);
    expect(readFileSync(groupFile).length, 'bytes written to the stopped group').toBe(0);
    expect(permissions.stats()).toMatchObject({ answered: 0, leftToHolder: 1 });
  } finally {
    closeSync(groupFd);
    await engine.close();
  }
});
