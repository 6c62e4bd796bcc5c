/**
 * Trimming a replicated stream after a batch, as `trim` asks: to a length
 * (`{ maxLen }`, which may take entries a group has not acknowledged, or
 * not even been given), or below what every consumer group acknowledged
 * (`'acked'`, which never takes an entry some group has not).
 *
 * A length trim runs as one script that also records, in the stream's
 * `<stream>:fanlog` hash, for each group that had not been given every
 * entry it removed, `trimmed:<group>`: the highest ID it removed (only ever
 * raised). That group was never given the entries between its last
 * delivered ID and that one: RedisConsumer tells its readers (ELOST with
 * that range) instead of going on past them in silence. A group created
 * after the trim is not told (it never had those entries to lose).
 */
import type { Redis } from 'ioredis';

/** KEYS: the stream, its hash; ARGV: the length to keep. Pages through what the trim will take (as costly as the trim itself) to learn its last ID. */
const MAXLEN_SCRIPT = `
local drop = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if drop <= 0 then return 0 end
local from, last, left = '-', nil, drop
while left > 0 do
  local page = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', math.min(left, 1000))
  if #page == 0 then break end
  last = page[#page][1]
  left = left - #page
  from = '(' .. last
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
local function number(part) return string.rep('0', 20 - #part) .. part end
local function key(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return number(ms) .. number(sq)
end
if not last then return drop end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then delivered = group[i + 1] end
  end
  local field = 'trimmed:' .. name
  local before = redis.call('HGET', KEYS[2], field)
  if key(delivered) < key(last) and (not before or not string.match(before, '^%d+-%d+$') or key(before) < key(last)) then
    redis.call('HSET', KEYS[2], field, last)
  end
end
return drop
`;

/** One trim; `send` gives every command its deadline (connect.ts's `timed`). */
export async function trimStream(
  redis: Redis,
  stream: string,
  trim: 'acked' | { maxLen: number },
  send: <T>(command: Promise<T>, what: string) => Promise<T>,
): Promise<void> {
  if (trim !== 'acked') {
    await send(redis.eval(MAXLEN_SCRIPT, 2, stream, `${stream}:fanlog`, trim.maxLen), 'XTRIM');
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
