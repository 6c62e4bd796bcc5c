/**
 * RedisConsumer: the remote side of replication, for a process (on any
 * machine) that reads a replicated stream through a Redis consumer group.
 *
 *   const reader = await RedisConsumer.open({ url, stream, group, consumer });
 *   for (;;) {
 *     const records = await reader.read({ max: 100, waitMs: 1000 });
 *     ...                                   // process them
 *     await reader.ack(records);             // XACK
 *   }
 *
 * `open` creates the group if it is missing (from the stream's start, or
 * `from: '$'` for new entries only). `read` gives, in this order: entries
 * this consumer name was given and did not acknowledge (a restart of the
 * same reader), paged forward from one read to the next; entries another
 * reader of the group has left unacknowledged for `claimIdleMs`
 * (XAUTOCLAIM, its cursor kept from one read to the next: it died holding
 * them); then new entries (XREADGROUP `>`), at most `max` in all. Records
 * come back decoded from the entry's `record` field, shaped like a fanlog
 * consumer's DeliveredRecord (plain objects). Delivery is at least once, as
 * Redis groups give it: a reader acknowledges after its own work is
 * durable.
 *
 * Loss is typed. An entry this reader (or a dead one it would claim from)
 * was given and that was trimmed before it was acknowledged (`trim: {
 * maxLen }` on the replicator does that to a slow group) can never be
 * read: the read that meets it rejects with ELOST, `error.ids` naming the
 * entries. An entry that is not a fanlog record (someone else's XADD) is
 * told the same way, as EFOREIGN. The next read acknowledges them (XACK,
 * so that they are not met again): only once the caller has been told,
 * so a reader that stops in between is told again by its next run. The
 * live records the read took are kept and returned by the next read
 * (after the next error, when it met both kinds). Every command has a
 * deadline (`commandTimeoutMs`; a blocking read its wait on top): a
 * frozen server is ETIMEDOUT.
 */
import type { Redis } from 'ioredis';
import type { DeliveredRecord } from '../consumers/consumer.js';
import { FanlogError, invalid } from '../errors.js';
import { checkInteger, checkOptions } from '../validate.js';
import { checkRedisUrl, COMMAND_TIMEOUT_MS_DEFAULT, connect, redactUrl, remoteError, timed } from './connect.js';
import { recordOfEntry } from './entry.js';

export interface RedisConsumerOptions {
  /** `redis://[[user]:password@]host:port[/db]`. */
  url: string;
  stream: string;
  /** The consumer group. */
  group: string;
  /** This reader's name in the group. */
  consumer: string;
  /** Claim entries another reader left unacknowledged this long (ms); default 30,000. */
  claimIdleMs?: number;
  /** Where a new group starts: '0' (the stream's start, default) or '$' (new entries only). */
  from?: '0' | '$';
  /** How long a command may take before it is ETIMEDOUT, in ms (a blocking read: its wait on top); default 5000. */
  commandTimeoutMs?: number;
}

/** An entry as XREADGROUP and XAUTOCLAIM give it: fields null when the entry was deleted (trimmed) after it was delivered. */
type Entry = [id: Buffer, fields: Buffer[] | null];

/**
 * New entries for a group, or why not, atomically (KEYS: the stream, its
 * hash; ARGV: group, consumer, count): `{ 'lost', lastDelivered,
 * trimmed }` when the replicator's length trim removed entries above what
 * the group was last given (`trimmed:<group>` in the hash, trim.ts), else
 * `{ 'read', lastDelivered, entries }` (XREADGROUP `>`, not blocking). In
 * one script, so no trim can come between the check and the read.
 */
const READ_NEW_SCRIPT = `
local function number(part) return string.rep('0', 20 - #part) .. part end
local function key(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  if not ms then return '' end
  return number(ms) .. number(sq)
end
local last = '0-0'
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then delivered = group[i + 1] end
  end
  if name == ARGV[1] then last = delivered end
end
local trimmed = redis.call('TYPE', KEYS[2]).ok == 'hash' and redis.call('HGET', KEYS[2], 'trimmed:' .. ARGV[1])
if trimmed and key(last) < key(trimmed) then return { 'lost', last, trimmed } end
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local entries = {}
if reply then entries = reply[1][2] end
return { 'read', last, entries }
`;

/** Moves a group past entries it was told it lost (KEYS: the stream; ARGV: group, the ID), only if it is still below it. */
const SKIP_SCRIPT = `
local function number(part) return string.rep('0', 20 - #part) .. part end
local function key(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return number(ms) .. number(sq)
end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then delivered = group[i + 1] end
  end
  if name == ARGV[1] and key(delivered) < key(ARGV[2]) then redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2]) end
end
return 0
`;

export class RedisConsumer {
  /** Where the next page of this reader's own unacknowledged entries starts (exclusive); null once they are all read. */
  #ownPendingAfter: string | null = '0';
  /** XAUTOCLAIM's cursor: where the next claim scan of the group's pending entries goes on. */
  #claimFrom = '0-0';
  /** Records a read took and could not return (it rejected with a loss): the next read's. */
  #kept: DeliveredRecord[] = [];
  /** Errors a read found and has not thrown yet (a read throws one at a time). */
  #told: FanlogError[] = [];
  /** Entries told of (lost or foreign), to be acknowledged by the next read, once the caller has heard of them. */
  #toClear: string[] = [];
  /** The group's trim mark it was told it lost entries below (ELOST), to be moved past by the next read. */
  #toSkip: string | null = null;

  readonly #redis: Redis;
  readonly #options: Required<RedisConsumerOptions>;
  private constructor(redis: Redis, options: Required<RedisConsumerOptions>) {
    this.#options = options;
    this.#redis = redis;
  }

  static async open(options: RedisConsumerOptions): Promise<RedisConsumer> {
    const opts = checkOptions<RedisConsumerOptions>('options', options, ['url', 'stream', 'group', 'consumer', 'claimIdleMs', 'from', 'commandTimeoutMs']);
    for (const name of ['url', 'stream', 'group', 'consumer'] as const) {
      if (typeof opts[name] !== 'string' || opts[name].length === 0) throw invalid(`${name} must be a non-empty string`);
    }
    checkRedisUrl(opts.url);
    const checked: Required<RedisConsumerOptions> = {
      url: opts.url!,
      stream: opts.stream!,
      group: opts.group!,
      consumer: opts.consumer!,
      claimIdleMs: checkInteger('claimIdleMs', opts.claimIdleMs ?? 30_000, 1, 2 ** 31 - 1),
      from: opts.from === '$' ? '$' : '0',
      commandTimeoutMs: checkInteger('commandTimeoutMs', opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT, 1, 2 ** 31 - 1),
    };
    const redis = await connect(checked.url, checked.commandTimeoutMs);
    const reader = new RedisConsumer(redis, checked);
    try {
      await reader.#send(redis.xgroup('CREATE', checked.stream, checked.group, checked.from, 'MKSTREAM'), 'XGROUP CREATE');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) {
        redis.disconnect();
        throw reader.#remote(error);
      }
    }
    return reader;
  }

  /**
   * Up to `max` records: this reader's own unacknowledged ones first, then
   * claimed ones, then new ones (waiting up to `waitMs`). ELOST, naming
   * them, when entries it would deliver were trimmed away (see above).
   */
  async read({ max = 100, waitMs = 0 }: { max?: number; waitMs?: number } = {}): Promise<DeliveredRecord[]> {
    checkInteger('max', max, 1, 100_000);
    checkInteger('waitMs', waitMs, 0, 2 ** 31 - 1);
    const { stream, group } = this.#options;
    if (this.#toClear.length > 0) {
      await this.#send(this.#redis.xack(stream, group, ...this.#toClear), 'XACK').catch((error: unknown) => {
        throw this.#remote(error);
      });
      this.#toClear = [];
    }
    if (this.#toSkip !== null) {
      await this.#send(this.#redis.eval(SKIP_SCRIPT, 1, stream, group, this.#toSkip), 'XGROUP SETID').catch((error: unknown) => {
        throw this.#remote(error);
      });
      this.#toSkip = null;
    }
    if (this.#told.length > 0) throw this.#told.shift()!;
    if (this.#kept.length > 0) return this.#kept.splice(0, max);
    const entries: Entry[] = [];
    const lost: string[] = [];
    let unread: [string, string] | null = null;
    try {
      if (this.#ownPendingAfter !== null) await this.#readOwnPending(max, entries);
      if (entries.length < max) lost.push(...(await this.#claim(max - entries.length, entries)));
      if (entries.length < max) unread = await this.#readNew(max - entries.length, entries.length === 0 && lost.length === 0 ? waitMs : 0, entries);
    } catch (error) {
      throw this.#remote(error);
    }
    const live: DeliveredRecord[] = [];
    const foreign: string[] = [];
    for (const [id, fields] of entries) {
      if (fields === null) lost.push(id.toString());
      else {
        const record = decoded(id.toString(), fields);
        if (record === null) foreign.push(id.toString());
        else live.push(record);
      }
    }
    if (lost.length === 0 && foreign.length === 0 && unread === null) return live;
    // An own pending entry found deleted is met again by the claim scan, which clears it from the group itself.
    const unique = [...new Set(lost)];
    this.#toClear = [...unique, ...foreign];
    this.#kept = live;
    if (unique.length > 0 || unread !== null) this.#told.push(this.#lost(unique, unread));
    if (foreign.length > 0) {
      this.#told.push(
        new FanlogError(
          'EFOREIGN',
          `stream '${stream}' has entries that are not fanlog records (fanlog did not write them): ${foreign.join(', ')}; the next read acknowledges them in group '${group}' and returns the records this read took`,
          { ids: foreign },
        ),
      );
    }
    throw this.#told.shift()!;
  }

  /**
   * One ELOST for what a read found gone: entries the group was given and
   * had not acknowledged (`ids`), and entries a length trim took before the
   * group was given them (`lost`, a seq range; the next read moves the
   * group past them).
   */
  #lost(ids: string[], unread: [string, string] | null): FanlogError {
    const { stream, group } = this.#options;
    const parts: string[] = [];
    if (ids.length > 0)
      parts.push(
        `entries group '${group}' was given and had not acknowledged (trimmed before they were): ${ids.map((id) => /^(\d+)-0$/.exec(id)?.[1] ?? id).join(', ')}`,
      );
    let lost: { fromSeq: bigint; toSeq: bigint } | undefined;
    if (unread !== null) {
      const [after, through] = unread;
      lost = { fromSeq: BigInt(after.split('-')[0]!) + 1n, toSeq: BigInt(through.split('-')[0]!) };
      this.#toSkip = through;
      parts.push(
        `every entry after ${after} (the last it was given) through ${through}, trimmed (maxLen) before the group was given them: records of seqs ${lost.fromSeq}..${lost.toSeq} never reached it`,
      );
    }
    return new FanlogError(
      'ELOST',
      `stream '${stream}' no longer has ${parts.join('; nor ')}; the next read clears them from the group and returns the records this read took`,
      { ids: ids.length > 0 ? ids : undefined, lost },
    );
  }

  /** Acknowledges records (XACK): the group will not give them to anyone again. */
  async ack(records: readonly { seq: bigint }[]): Promise<number> {
    if (records.length === 0) return 0;
    try {
      return await this.#send<number>(this.#redis.xack(this.#options.stream, this.#options.group, ...records.map((record) => `${record.seq}-0`)), 'XACK');
    } catch (error) {
      throw this.#remote(error);
    }
  }

  close(): void {
    this.#redis.disconnect();
  }

  /** The next page of this reader's own unacknowledged entries (XREADGROUP from an ID), paging forward until there are no more. */
  async #readOwnPending(count: number, into: Entry[]): Promise<void> {
    const { stream, group, consumer } = this.#options;
    const reply = (await this.#send(
      this.#redis.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, this.#ownPendingAfter!),
      'XREADGROUP',
    )) as [Buffer, Entry[]][] | null;
    const page = reply?.[0]?.[1] ?? [];
    into.push(...page);
    this.#ownPendingAfter = page.length < count ? null : page[page.length - 1]![0].toString();
  }

  /** Claims entries other readers left idle (XAUTOCLAIM, from its kept cursor); returns the IDs it found deleted. */
  async #claim(count: number, into: Entry[]): Promise<string[]> {
    const { stream, group, consumer, claimIdleMs } = this.#options;
    const [next, claimed, deleted] = (await this.#send(
      this.#redis.callBuffer('XAUTOCLAIM', stream, group, consumer, claimIdleMs, this.#claimFrom, 'COUNT', count),
      'XAUTOCLAIM',
    )) as [Buffer, (Entry | null)[], Buffer[] | undefined];
    this.#claimFrom = next.toString();
    // Redis 7 removes deleted entries from the group itself and lists them apart; 6.2 returns them with null fields.
    into.push(...claimed.filter((entry): entry is Entry => entry !== null));
    return (deleted ?? []).map((id) => id.toString());
  }

  /**
   * New entries (XREADGROUP `>`, checked against the replicator's length
   * trims, READ_NEW_SCRIPT), waiting up to `waitMs` when it may (a plain
   * XREAD BLOCK after the group's last ID, then the script again).
   * Returns [last given, trimmed through] when the group missed entries.
   */
  async #readNew(count: number, waitMs: number, into: Entry[]): Promise<[string, string] | null> {
    const { stream, group, consumer } = this.#options;
    const once = async (): Promise<[string, string] | string> => {
      const [what, last, more] = (await this.#send(
        this.#redis.callBuffer('EVAL', READ_NEW_SCRIPT, 2, stream, `${stream}:fanlog`, group, consumer, count),
        'XREADGROUP',
      )) as [Buffer, Buffer, Entry[] | Buffer];
      if (what.toString() === 'lost') return [last.toString(), (more as Buffer).toString()];
      into.push(...(more as Entry[]));
      return last.toString();
    };
    const first = await once();
    if (typeof first !== 'string' || into.length > 0 || waitMs === 0) return typeof first === 'string' ? null : first;
    const woke = await this.#send(this.#redis.call('XREAD', 'COUNT', 1, 'BLOCK', waitMs, 'STREAMS', stream, first), 'XREAD', waitMs);
    if (woke === null) return null;
    const second = await once();
    return typeof second === 'string' ? null : second;
  }

  #send<T>(command: Promise<T>, what: string, blockMs = 0): Promise<T> {
    return timed(command, this.#options.commandTimeoutMs + blockMs, () => `${what} to Redis at ${redactUrl(this.#options.url)}`);
  }

  #remote(error: unknown): FanlogError {
    if (String((error as Error | null)?.message).startsWith('WRONGTYPE')) {
      return new FanlogError(
        'EFOREIGN',
        `key '${this.#options.stream}' is not a stream (someone else wrote it): nothing was read; replicate into another stream, or remove what fanlog did not write`,
      );
    }
    return remoteError(error, this.#options.url, `Redis at ${redactUrl(this.#options.url)}`, this.#redis);
  }
}

/** The record an entry holds, or null when it is not a fanlog record (its ID is not `<seq>-0`, it has no `record` field, or that does not decode). */
function decoded(id: string, fields: Buffer[]): DeliveredRecord | null {
  try {
    return recordOfEntry(id, fields);
  } catch (error) {
    if (error instanceof FanlogError) return null;
    throw error;
  }
}
