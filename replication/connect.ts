/**
 * Connections to Redis, as replication uses them: connected before they are
 * handed out (a server that cannot be reached is EREMOTE naming the URL,
 * at once), no offline queue (a command while the server is down fails
 * fast, and the caller's own retry decides), and reconnection in the
 * background with a capped backoff.
 */
import { Redis } from 'ioredis';
import { FanlogError, invalid } from '../errors.js';

const CONNECT_TIMEOUT_MS = 5000;

/** `redis://host:port[/db]` (or rediss://), else EINVAL. */
export function checkRedisUrl(url: unknown): string {
  if (typeof url !== 'string' || !/^rediss?:\/\/[^\s/]+(\/\d+)?$/.test(url)) throw invalid(`url must be redis://host:port[/db], got ${String(url)}`);
  return url;
}

export async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
  // Errors reach the commands that meet them; the connection's own events would otherwise be unhandled.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new FanlogError('EREMOTE', `cannot reach Redis at ${url}: ${(error as Error).message}`, { cause: error });
  }
  return redis;
}
