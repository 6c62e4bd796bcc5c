/**
 * The kernel's own permission events, asked of an engine group. As root,
 * on an ext4 image loop-mounted in a temp dir: a `cat` of a stub (a sparse
 * file) waits in the kernel on FAN_PRE_ACCESS; the engine journals the
 * request, the listener reads it from the group's queue with its `fd`,
 * fills the stub through that descriptor and allows it, and `cat` prints
 * the bytes. A denial with FAN_DENY_ERRNO(EIO) reaches `cat` as
 * "Input/output error". The journal holds each request before its
 * decision, once. Stopping the source answers what is unanswered by its
 * stop policy. Without root the tests skip, and say so.
 */

import { writeSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { makeStub, withExt4 } from '../../crash/fs-image.js';
import { cat, records } from './readers.js';
import { Engine, FAN_ALLOW, FAN_DENY_ERRNO, FAN_OPEN_PERM, FAN_PRE_ACCESS, type EventQueue, type FanlogError, type QueuedEvent } from '../../index.js';
import { rejection } from '../helpers.js';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;
if (!isRoot) console.log('test/kernel/permission.test.ts: skipped, it needs root on Linux (it loop-mounts an ext4 image and makes fanotify groups)');
const asRoot = it.skipIf(!isRoot);

const EIO = 5;
const CONTENT = Buffer.from('archived bytes, restored from tape\n'.repeat(100));

/** A stub of the content's size. */
const stub = (file: string, size = CONTENT.length): void => makeStub(file, size);

/** The next events of `queue`: it waits until some come, however long (a kernel reader is waiting for them). */
async function nextEvents(queue: EventQueue): Promise<QueuedEvent[]> {
  for (;;) {
    const events = await queue.read({ waitMs: 1000 });
    if (events.length > 0) return events;
  }
}

/** An engine in the image's scratch dir (another filesystem) with a pre-content group `hsm`. */
async function hsmEngine(scratch: string): Promise<Engine> {
  const engine = await Engine.open(path.join(scratch, 'engine'));
  await engine.groups.create('hsm', { class: 'pre-content' });
  return engine;
}

asRoot('fills a stub through the event descriptor, allows it, and journals the request before the decision', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const file = path.join(mount, 'big.dat');
    stub(file);
    const engine = await hsmEngine(scratch);
    try {
      const queue = engine.groups.get('hsm').openQueue();
      const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
      const reader = cat(file);
      const answered: QueuedEvent[] = [];
      // cat reads until EOF: one or more pre-access events, each filled (once) and allowed, until cat has ended (never until a
      // quiet spell, which a busy machine can make before cat's next read).
      let filled = false;
      let ended = false;
      void reader.then(() => (ended = true));
      const listener = (async () => {
        while (!ended) {
          const events = await queue.read({ waitMs: 100 });
          for (const event of events) {
            expect(event.fd).toBeTypeOf('number');
            if (!filled) {
              writeSync(event.fd!, CONTENT, 0, CONTENT.length, 0);
              filled = true;
            }
            await queue.respond(event.id, FAN_ALLOW);
            answered.push(event);
          }
        }
      })();
      const result = await reader;
      await listener;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.equals(CONTENT)).toBe(true);
      expect(answered[0]!.mask & FAN_PRE_ACCESS).toBe(FAN_PRE_ACCESS);
      expect(answered[0]!.path).toBe(file);
      expect(answered[0]!.range).toBeDefined();
      expect(answered[0]!.pid).toBeGreaterThan(0);
      await source.stop();
      expect(source.stats().permission).toMatchObject({ requests: answered.length, answered: answered.length, stale: 0 });
      const journal = await records(engine);
      const requests = journal.filter(({ record }) => record.kind === 'request');
      const decisions = journal.filter(({ record }) => record.kind === 'decision');
      expect(requests.length).toBe(answered.length);
      expect(decisions.length).toBe(answered.length);
      for (const { seq, record } of requests) {
        expect(record.op).toBe('external');
        expect(record.kernelEvent).toMatch(/^[0-9a-z.]+:\d+$/);
        const decision = decisions.find(({ record: d }) => d.requestSeq === seq)!;
        expect(decision.seq).toBeGreaterThan(seq);
        expect(decision.record.response).toBe(FAN_ALLOW);
      }
      expect(new Set(requests.map(({ record }) => record.kernelEvent)).size).toBe(requests.length);
    } finally {
      await engine.close();
    }
  });
});

asRoot("denies with FAN_DENY_ERRNO(EIO): cat fails with the reader's Input/output error", async () => {
  await withExt4(async ({ mount, scratch }) => {
    const file = path.join(mount, 'offline.dat');
    stub(file);
    const engine = await hsmEngine(scratch);
    try {
      const queue = engine.groups.get('hsm').openQueue();
      const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
      const reader = cat(file);
      const [event] = await nextEvents(queue);
      await queue.respond(event!.id, FAN_DENY_ERRNO(EIO));
      const result = await reader;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/Input\/output error/);
      await source.stop();
      const decisions = (await records(engine)).filter(({ record }) => record.kind === 'decision');
      expect(decisions.map(({ record }) => record.response)).toEqual([FAN_DENY_ERRNO(EIO)]);
    } finally {
      await engine.close();
    }
  });
});

asRoot('answers what is unanswered by the stop policy when it stops, journaled, never leaving it to the kernel to allow', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const file = path.join(mount, 'waiting.dat');
    stub(file);
    const engine = await hsmEngine(scratch);
    try {
      const queue = engine.groups.get('hsm').openQueue();
      const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_OPEN_PERM | FAN_PRE_ACCESS } });
      const reader = cat(file);
      // Read (so it is the listener's) but never answered.
      const [event] = await nextEvents(queue);
      expect(event!.mask & FAN_OPEN_PERM).toBe(FAN_OPEN_PERM);
      await source.stop();
      const result = await reader;
      expect(result.stderr).toMatch(/Input\/output error/);
      const decisions = (await records(engine)).filter(({ record }) => record.kind === 'decision');
      expect(decisions.map(({ record }) => record.response)).toEqual([FAN_DENY_ERRNO(EIO)]);
    } finally {
      await engine.close();
    }
  });
});

asRoot('refuses a group that does not exist, a notif group, and pre-content events on tmpfs, each with its code', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const engine = await hsmEngine(scratch);
    try {
      await engine.groups.create('watch', { class: 'notif' });
      expect(await rejection(() => engine.fanotify({ path: mount, mask: 0n, permission: { group: 'nope' } }))).toMatchObject({ code: 'ENOENT' });
      expect(await rejection(() => engine.fanotify({ path: mount, mask: 0n, permission: { group: 'watch' } }))).toMatchObject({ code: 'EINVAL' });
      const onTmpfs = (await rejection(() => engine.fanotify({ path: '/dev/shm', mask: 0n, permission: { group: 'hsm' } }))) as FanlogError;
      expect(onTmpfs.code).toBe('EOPNOTSUPP');
      expect(onTmpfs.message).toMatch(/tmpfs/);
    } finally {
      await engine.close();
    }
  });
});

asRoot('engine.close() stops a running source first: what is unanswered is answered by the stop policy, journaled', async () => {
  await withExt4(async ({ mount, scratch }) => {
    const file = path.join(mount, 'closing.dat');
    stub(file);
    const engine = await hsmEngine(scratch);
    const queue = engine.groups.get('hsm').openQueue();
    const source = await engine.fanotify({ path: mount, mask: 0n, permission: { group: 'hsm', mask: FAN_PRE_ACCESS } });
    const reader = cat(file);
    await nextEvents(queue);
    await engine.close();
    await source.done;
    const result = await reader;
    expect(result.stderr).toMatch(/Input\/output error/);
    const reopened = await Engine.open(path.join(scratch, 'engine'));
    try {
      const decisions = (await records(reopened)).filter(({ record }) => record.kind === 'decision');
      expect(decisions.map(({ record }) => record.response)).toEqual([FAN_DENY_ERRNO(EIO)]);
    } finally {
      await reopened.close();
    }
  });
});
