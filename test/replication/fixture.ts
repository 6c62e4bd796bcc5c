/**
 * What the replication tests share: a real redis-server per test (started
 * on a free port, stopped by its pid), a plain ioredis client to look at
 * it, in-memory engines closed after each test, a workload of creates, and
 * the references a stream is held to.
 */
import { afterEach, beforeEach } from 'vitest';
import { Redis } from 'ioredis';
import { type DeliveredRecord, Engine } from '../../index.js';
import { MemoryIo } from '../../testing.js';
import { type RedisServer, startRedis } from '../redis-server.js';

export interface RedisFixture {
  readonly server: RedisServer;
  /** The server's URL with its password, if it has one. */
  readonly url: string;
  readonly redis: Redis;
  /** A fresh engine in memory (closed after the test). */
  engine(dir?: string): Promise<Engine>;
}

/** Starts a redis-server before each test and stops it (and every engine opened) after; `password`: with `--requirepass`. */
export function useRedis({ password }: { password?: string } = {}): RedisFixture {
  const extra = password === undefined ? [] : ['--requirepass', password];
  const withPassword = (url: string): string => (password === undefined ? url : url.replace('://', `://:${password}@`));
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  const engines: Engine[] = [];
  beforeEach(async () => {
    server = await startRedis(extra);
    redis = await client(withPassword(server.url));
  });
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close().catch(() => undefined);
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get url() {
      return withPassword(server!.url);
    },
    get redis() {
      return redis!;
    },
    async engine(dir = '/e') {
      const engine = await Engine.open(dir, { io: new MemoryIo(), store: 'files' });
      engines.push(engine);
      return engine;
    },
  };
}

/** A connected ioredis client that swallows connection events (commands still reject). */
export async function client(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

export async function work(engine: Engine, from: number, count: number): Promise<void> {
  if (from === 0) await engine.fs.mkdir('/d');
  for (let i = from; i < from + count; i++) await engine.fs.create(`/d/f${i}`, { size: i }, { pid: 7, uid: 1000, gid: 100 });
}

/** Every record a fresh consumer from the oldest delivers. */
export async function deliverable(engine: Engine, name = 'reference'): Promise<DeliveredRecord[]> {
  const consumer = await engine.consumers.register(name);
  const all: DeliveredRecord[] = [];
  for (let batch = await consumer.read({ max: 10_000 }); batch.length > 0; batch = await consumer.read({ max: 10_000 })) all.push(...batch);
  await engine.consumers.deregister(name);
  return all;
}

export async function streamIds(redis: Redis, stream: string): Promise<string[]> {
  return (await redis.xrange(stream, '-', '+')).map(([id]) => id);
}

/** What `done` rejected with (null if it resolved). */
export async function outcome(done: Promise<void>): Promise<(Error & { code?: string; lost?: { fromSeq: bigint; toSeq: bigint }; ids?: string[] }) | null> {
  return done.then(
    () => null,
    (error: unknown) => error as Error & { code?: string },
  );
}
