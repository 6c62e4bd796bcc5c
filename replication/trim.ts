/**
 * Trimming a replicated stream after a batch, as `trim` asks: to a length
 * (`{ maxLen }`, which may take entries a group has not acknowledged: its
 * readers are told, see RedisConsumer), or below what every consumer group
 * acknowledged (`'acked'`, which never takes an entry some group has not).
 */
import type { Redis } from 'ioredis';

/** One trim; `send` gives every command its deadline (connect.ts's `timed`). */
export async function trimStream(redis: Redis, stream: string, trim: 'acked' | { maxLen: number }, send: <T>(command: Promise<T>, what: string) => Promise<T>): Promise<void> {
  if (trim !== 'acked') {
    await send(redis.xtrim(stream, 'MAXLEN', trim.maxLen), 'XTRIM');
    return;
  }
  const minId = await lowestUnacknowledged(redis, stream, send);
  if (minId !== null) await send(redis.xtrim(stream, 'MINID', minId), 'XTRIM');
}

/**
 * The lowest ID some group has not acknowledged: for each group, its oldest
 * pending entry, else the entry after the last it was delivered; null when
 * the stream has no group (then nothing is known acknowledged).
 */
export async function lowestUnacknowledged(redis: Redis, stream: string, send: <T>(command: Promise<T>, what: string) => Promise<T>): Promise<string | null> {
  const groups = (await send(redis.xinfo('GROUPS', stream), 'XINFO GROUPS')) as unknown[][];
  if (groups.length === 0) return null;
  let lowest: [bigint, bigint] | null = null;
  for (const group of groups) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < group.length; i += 2) info.set(String(group[i]), group[i + 1]);
    let id: string;
    if (Number(info.get('pending')) > 0) {
      const summary = (await send(redis.xpending(stream, String(info.get('name'))), 'XPENDING')) as [number, string, string, unknown];
      id = summary[1];
    } else {
      const [ms, seq] = String(info.get('last-delivered-id')).split('-').map(BigInt) as [bigint, bigint];
      id = `${ms}-${seq + 1n}`;
    }
    const [ms, seq] = id.split('-').map(BigInt) as [bigint, bigint];
    if (lowest === null || ms < lowest[0] || (ms === lowest[0] && seq < lowest[1])) lowest = [ms, seq];
  }
  return `${lowest![0]}-${lowest![1]}`;
}
