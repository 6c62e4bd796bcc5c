/**
 * The kill child's per-layer profiles (kill-child.ts): each runs a workload
 * on a real disk until the process is SIGKILLed, printing on stdout, one
 * line each, what its parent checks after the kill. Every profile prints
 * `ready` first. Lines:
 *
 *   journal DIR SEED         appends bursts of entries with sync 'always'
 *                            (each payload names its seq and its entry's
 *                            range) and purges now and then; "ack SEQ" for
 *                            every append that resolved
 *   engine DIR STORE SEED    filesystem operations; right after each call
 *                            (applied and appended, not yet durable)
 *                            "applied HEAD HASH" with the filesystem's hash,
 *                            and "ok HEAD" once it resolved; "ready HEAD HASH"
 *   permissions DIR SEED     guarded operations from three processes, and
 *                            listeners that allow, deny, leave events
 *                            waiting and restart their queue
 *   consumers DIR SEED       creates while a consumer reads and acknowledges;
 *                            "acked SEQ" after each acknowledgement resolved
 */
import { createHash } from 'node:crypto';
import { FAN_ACCESS_PERM, FAN_ALLOW, FAN_DENY, FAN_DENY_ERRNO, FAN_OPEN_PERM, FAN_PRE_ACCESS, FAN_PRE_MODIFY } from '../engine/notify/masks.js';
import { ERRNO } from '../engine/permission/rules.js';
import type { EventQueue } from '../engine/notify/event-queue.js';
import { Engine } from '../fanlog.js';
import { Journal } from '../journal/journal.js';
import { Prng } from '../journal/prng.js';
import type { StoreKind } from '../store/meta-store.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

export async function journalProfile([dir, seed]: string[]): Promise<void> {
  const prng = new Prng(Number(seed));
  const journal = await Journal.open(dir!, { segmentBytesMax: 64 * 1024 });
  const encoder = new TextEncoder();
  const payload = (seq: bigint, first: bigint, last: bigint): Uint8Array =>
    encoder.encode(`seq=${seq} entry=${first}-${last} `.padEnd(20 + Number(seq % 200n), '#'));
  say(`ready ${journal.headSeq}`);
  for (;;) {
    const burst: Promise<void>[] = [];
    for (let i = prng.between(1, 8); i > 0; i--) {
      const first = journal.headSeq + 1n;
      const last = first + BigInt(prng.between(1, 4)) - 1n;
      const payloads: Uint8Array[] = [];
      for (let seq = first; seq <= last; seq++) payloads.push(payload(seq, first, last));
      burst.push(journal.appendEntry(payloads).then((seq) => say(`ack ${seq}`)));
    }
    await Promise.all(burst);
    if (prng.chance(0.02)) await journal.purge(journal.headSeq / 2n);
  }
}

export async function engineProfile([dir, store, seed]: string[]): Promise<void> {
  const prng = new Prng(Number(seed));
  const engine = await Engine.open(dir!, { store: store as StoreKind, checkpointEveryRecords: 300 });
  const hash = (): string => createHash('sha1').update(engine.state.fingerprint()).digest('hex');
  say(`ready ${engine.journal.headSeq} ${hash()}`);
  const names = ['a', 'b', 'c', 'd'];
  const path = (): string => `/${prng.pick(names)}${prng.int(3)}/${prng.pick(names)}${prng.int(5)}`;
  const dirs = names.flatMap((name) => [0, 1, 2].map((i) => `/${name}${i}`));
  for (;;) {
    const missing = dirs.find((name) => !engine.state.get(1)!.entries!.has(name.slice(1)));
    const calls = [
      () => engine.fs.create(path(), { size: prng.int(1 << 20), offline: prng.chance(0.5) }),
      () => engine.fs.rename(path(), path()),
      () => engine.fs.unlink(path()),
      () => engine.fs.truncate(path(), prng.int(1 << 20)),
      () => engine.fs.setxattr(path(), 'user.x', prng.bytes(8)),
      () => engine.fs.hsmFill(path(), 0, prng.int(1 << 20)),
    ];
    const call = missing === undefined ? calls[prng.int(calls.length)]!() : engine.fs.mkdir(missing);
    const head = engine.journal.headSeq;
    say(`applied ${head} ${hash()}`);
    try {
      await call;
      say(`ok ${head}`);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EFAILED' || code === 'EIO') throw error;
    }
  }
}

export async function permissionsProfile([dir, seed]: string[]): Promise<void> {
  const prng = new Prng(Number(seed));
  const engine = await Engine.open(dir!, { store: 'lmdb', checkpointEveryRecords: 200 });
  if (engine.groups.list().length === 0) {
    await engine.fs.mkdir('/d');
    for (let i = 0; i < 4; i++) await engine.fs.create(`/d/f${i}`, { size: 50_000, offline: i % 2 === 0 });
    const pre = await engine.groups.create('pre', { class: 'pre-content', restartable: true });
    await pre.mark({ path: '/', scope: 'filesystem', mask: FAN_PRE_ACCESS | FAN_PRE_MODIFY });
    const av = await engine.groups.create('av', { class: 'content' });
    await av.mark({ path: '/d', scope: 'mount', mask: FAN_OPEN_PERM | FAN_ACCESS_PERM });
  }
  const queues: Record<string, EventQueue> = { pre: engine.groups.get('pre').openQueue(), av: engine.groups.get('av').openQueue() };
  say('ready');
  for (const pid of [0, 1, 2]) void guardedCalls(engine, prng, pid);
  for (;;) {
    for (const name of ['pre', 'av']) {
      for (const event of await queues[name]!.read({ max: 8, waitMs: 5 })) {
        const roll = prng.next();
        if (roll < 0.15) continue; // left waiting
        const response = roll < 0.8 ? FAN_ALLOW : name === 'pre' && roll < 0.9 ? FAN_DENY_ERRNO(ERRNO.EIO) : FAN_DENY;
        void queues[name]!.respond(event.id, response).catch(() => undefined);
      }
    }
    if (prng.chance(0.05)) {
      await queues.pre!.close();
      queues.pre = engine.groups.get('pre').openQueue();
    }
  }
}

/** One simulated process's guarded calls, forever; their errors are the listeners' answers. */
async function guardedCalls(engine: Engine, prng: Prng, pid: number): Promise<void> {
  const fds: number[] = [];
  for (;;) {
    const file = `/d/f${prng.int(4)}`;
    try {
      if (fds.length < 2 || prng.chance(0.1)) fds.push(await engine.fs.open(file, prng.pick(['r', 'rw'] as const), {}, { pid }));
      const fd = prng.pick(fds);
      if (prng.chance(0.5)) await engine.fs.read(fd, prng.int(60_000), prng.between(1, 8000), { pid });
      else await engine.fs.truncate(file, prng.int(60_000), { pid });
    } catch {
      // denied, or the file moved under it: the parent checks the journal
    }
  }
}

export async function consumersProfile([dir, seed]: string[]): Promise<void> {
  const prng = new Prng(Number(seed));
  const engine = await Engine.open(dir!, { store: 'lmdb', checkpointEveryRecords: 100, segmentBytesMax: 16 * 1024 });
  const consumer = engine.consumers.list().length === 0 ? await engine.consumers.register('backup') : engine.consumers.get('backup');
  say('ready');
  for (let i = 0; ; i++) {
    await engine.fs.create(`/f${seed}-${i}`, { size: prng.int(1000) });
    if (!prng.chance(0.3)) continue;
    const records = await consumer.read({ max: prng.between(1, 30) });
    if (records.length === 0) continue;
    const { seq } = prng.pick(records);
    await consumer.ack(seq);
    say(`acked ${seq}`);
  }
}
