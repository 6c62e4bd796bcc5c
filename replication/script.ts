/**
 * The append script: one batch of entries into a stream, atomically, by
 * EVALSHA, after checking that the stream is still exactly what fanlog
 * wrote into it. With no entries it is the check alone (the replicator
 * runs it at start and at every catch-up).
 *
 *   KEYS[1]  the stream
 *   KEYS[2]  its sibling `<stream>:fanlog`, a hash (below)
 *   ARGV[1]  the replicator's durable fanlog cursor (its last ack)
 *   ARGV[2]  the journal's id
 *   ARGV[3]  the fanlog consumer's name
 *   ARGV[4]  the journal's durable head seq (a stream past it was written
 *            by a journal this one is not: EJOURNALID ahead)
 *   ARGV[5]  '1' when the consumer was registered by this replicator's
 *            start and has acknowledged nothing (a new stream begins at
 *            its cursor), else '0'
 *   ARGV[6]  how many entries follow; then per entry: its seq, its field
 *            count n, and n field-value pairs... flattened (2n values)
 *
 * The sibling hash, written in the same call as the entries it describes:
 *
 *   journalId     the journal the stream is a replica of
 *   consumer      the fanlog consumer that writes it
 *   lastSeq       the seq of the last entry fanlog appended (`<lastSeq>-0`)
 *   entriesAdded  the stream's `entries-added` once that entry was added
 *                 (XINFO STREAM, Redis 7; absent before)
 *
 * The check, in this order; the first that fails refuses the call, which
 * then writes nothing:
 *
 *   | what the script finds                                  | reply                       |
 *   |--------------------------------------------------------|-----------------------------|
 *   | the key is not a stream                                | EFOREIGN type <type>        |
 *   | the sibling is not a hash                              | EFOREIGN sibling type <t>   |
 *   | a sibling field empty or not a number                  | EFOREIGN sibling field <f>  |
 *   | the hash names another journal                         | EJOURNALID <theirs>         |
 *   | no hash, and the stream has entries                    | EJOURNALID none             |
 *   | an old stream (no lastSeq) whose last entry is not ours | EFOREIGN legacy <id>        |
 *   | the hash names another consumer                        | EBUSY <consumer> <lastSeq>  |
 *   | last-generated-id above `<lastSeq>-0`                  | EFOREIGN after <id> <ids..> |
 *   | last-generated-id below `<lastSeq>-0`                  | ELOST or EFOREIGN behind    |
 *   | entries-added differs from the hash's                  | EFOREIGN added <n> <ours>   |
 *   | an entry deleted (max-deleted-entry-id, Redis 7)       | EFOREIGN deleted, EDELETED  |
 *   | lastSeq below the cursor (an older copy restored)      | ELOST <lastSeq> <cursor>    |
 *   | lastSeq past the journal's durable head                | EJOURNALID ahead            |
 *   | a batch entry at a seq the stream holds other bytes at  | EJOURNALID diverged         |
 *
 * Why this is sound: XADD only ever raises the last-generated-id and
 * entries-added, and nothing lowers them but deleting the stream; so a
 * stream whose last-generated-id is `<lastSeq>-0` and whose entries-added
 * is the count recorded with it has had nothing added since fanlog's last
 * entry. Then every entry at or below lastSeq was appended by this
 * consumer (a crashed replicator appended them before its ack) and is
 * skipped, every one above is added as `<seq>-0`. A stream restored from
 * an older copy restores its hash too, consistent but behind: lastSeq
 * below the cursor, acknowledged records gone (ELOST). A stream behind its
 * own hash was deleted or rewritten by hand: ELOST when acknowledged
 * records are gone, EFOREIGN otherwise.
 *
 * A stream of the previous release has a hash with `journalId` alone. It
 * is adopted (the hash completed, its consumer this one) only if its
 * last-generated-id is `0-0` or the id of an entry that is fanlog's (a
 * `<seq>-0` id whose `seq` field is that seq, with a `record` field);
 * otherwise EFOREIGN legacy: the previous release skipped records after a
 * foreign entry, and only a person can tell what the stream holds.
 *
 * Seqs are compared as decimal strings (length, then text), never as Lua
 * numbers, which are doubles. Returns { appended, skipped }.
 */
import { FanlogError } from '../errors.js';

export const APPEND_SCRIPT = `
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function split(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return ms, sq
end
local function lessId(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  if am ~= bm then return less(am, bm) end
  return less(as, bs)
end
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local stream, sibling = KEYS[1], KEYS[2]
local cursor, journalId, consumer, head, fresh = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local kind = redis.call('TYPE', stream).ok
if kind ~= 'none' and kind ~= 'stream' then return redis.error_reply('EFOREIGN type ' .. kind) end
local siblingKind = redis.call('TYPE', sibling).ok
if siblingKind ~= 'none' and siblingKind ~= 'hash' then return redis.error_reply('EFOREIGN sibling type ' .. siblingKind) end
local lastId, added, length, deleted = '0-0', false, 0, '0-0'
if kind == 'stream' then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then lastId = info[i + 1]
    elseif info[i] == 'entries-added' then added = tostring(info[i + 1])
    elseif info[i] == 'max-deleted-entry-id' then deleted = info[i + 1]
    elseif info[i] == 'length' then length = info[i + 1] end
  end
end
local hash = redis.call('HMGET', sibling, 'journalId', 'consumer', 'lastSeq', 'entriesAdded')
local theirs, owner, lastSeq, ourAdded = hash[1], hash[2], hash[3], hash[4]
for i, name in ipairs({ 'journalId', 'consumer', 'lastSeq', 'entriesAdded' }) do
  local value = hash[i]
  if value and (value == '' or (name ~= 'consumer' and not string.match(value, '^%d+$'))) then
    return redis.error_reply('EFOREIGN sibling field ' .. name)
  end
end
if not theirs and (owner or lastSeq or ourAdded) then return redis.error_reply('EFOREIGN sibling field journalId') end
local adopt = false
if theirs and theirs ~= journalId then return redis.error_reply('EJOURNALID ' .. theirs) end
if not theirs then
  if length > 0 then return redis.error_reply('EJOURNALID none') end
  lastSeq, ourAdded = '0', '0'
elseif not lastSeq then
  if owner or ourAdded then return redis.error_reply('EFOREIGN sibling field lastSeq') end
  local ms, sq = split(lastId)
  local ours = lastId == '0-0'
  if not ours and sq == '0' then
    local found = redis.call('XRANGE', stream, lastId, lastId)
    if #found == 1 then
      ours = field(found[1][2], 'record') ~= nil and field(found[1][2], 'seq') == ms
    end
  end
  if not ours then return redis.error_reply('EFOREIGN legacy ' .. lastId) end
  lastSeq, ourAdded, owner, adopt = ms, added, consumer, true
end
if owner and owner ~= consumer then return redis.error_reply('EBUSY ' .. owner .. ' ' .. lastSeq) end
local expected = lastSeq .. '-0'
if lastId ~= expected then
  if lessId(expected, lastId) then
    local after = redis.call('XRANGE', stream, '(' .. expected, '+', 'COUNT', 10)
    local ids = {}
    for i = 1, #after do ids[i] = after[i][1] end
    return redis.error_reply('EFOREIGN after ' .. lastId .. ' ' .. table.concat(ids, ' '))
  end
  local ms = split(lastId)
  if less(ms, cursor) then return redis.error_reply('ELOST ' .. ms .. ' ' .. cursor) end
  return redis.error_reply('EFOREIGN behind ' .. lastId .. ' ' .. lastSeq)
end
if added and ourAdded and added ~= ourAdded then
  return redis.error_reply('EFOREIGN added ' .. added .. ' ' .. ourAdded)
end
if deleted ~= '0-0' then
  if lessId(expected, deleted) then return redis.error_reply('EFOREIGN deleted ' .. deleted) end
  return redis.error_reply('EDELETED ' .. deleted .. ' ' .. cursor)
end
-- A consumer registered by this replicator's start, that has acknowledged nothing, begins a new stream at its cursor.
if not theirs and fresh == '1' then lastSeq = cursor end
if less(lastSeq, cursor) then return redis.error_reply('ELOST ' .. lastSeq .. ' ' .. cursor) end
if less(head, lastSeq) then return redis.error_reply('EJOURNALID ahead ' .. lastSeq .. ' ' .. head) end
local count = tonumber(ARGV[6])
local at = 7
if less(cursor, lastSeq) and count > 0 then
  -- Records this consumer appended and did not acknowledge are skipped only if the stream holds exactly them (a journal
  -- restored from an older copy has other records at those seqs); those trimmed from the stream's head are gone anyway.
  local firstEntry = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  local mine, upto = {}, nil
  local scan = at
  for _ = 1, count do
    local seq = ARGV[scan]
    local n = tonumber(ARGV[scan + 1])
    if not less(lastSeq, seq) and firstEntry and not lessId(seq .. '-0', firstEntry[1]) then
      local fields = {}
      for i = scan + 2, scan + 1 + 2 * n do fields[#fields + 1] = ARGV[i] end
      mine[#mine + 1] = { seq, field(fields, 'record') }
      upto = seq
    end
    scan = scan + 2 + 2 * n
  end
  if upto then
    local found = redis.call('XRANGE', stream, '(' .. cursor .. '-0', upto .. '-0')
    for i = 1, math.max(#found, #mine) do
      local entry, want = found[i], mine[i]
      if not entry or (want and lessId(want[1] .. '-0', entry[1])) then return redis.error_reply('EMISSING ' .. want[1] .. ' ' .. lastSeq) end
      if not want or entry[1] ~= want[1] .. '-0' or field(entry[2], 'record') ~= want[2] then
        return redis.error_reply('EJOURNALID diverged ' .. entry[1] .. ' ' .. lastSeq)
      end
    end
  end
end
local appended, skipped = 0, 0
for _ = 1, count do
  local seq = ARGV[at]
  local n = tonumber(ARGV[at + 1])
  if less(lastSeq, seq) then
    redis.call('XADD', stream, seq .. '-0', unpack(ARGV, at + 2, at + 1 + 2 * n))
    lastSeq = seq
    appended = appended + 1
  else
    skipped = skipped + 1
  end
  at = at + 2 + 2 * n
end
if appended > 0 or adopt then
  redis.call('HSET', sibling, 'journalId', journalId, 'consumer', consumer, 'lastSeq', lastSeq)
  if added then redis.call('HSET', sibling, 'entriesAdded', tostring(tonumber(added) + appended)) end
end
return { appended, skipped }
`;

/** What every refusal of the script leaves behind: it checks before it writes. */
const NOTHING_DONE = 'nothing was appended and nothing more acknowledged';

/** What the script's refusal means, as the FanlogError the replicator stops with; null for any other error. */
export function scriptRefusal(message: string, stream: string, journalId: bigint, consumer: string): FanlogError | null {
  const words = message.split(' ');
  const [code, what] = words;
  switch (code) {
    case 'EJOURNALID':
      return journalIdRefusal(words, stream, journalId);
    case 'EBUSY':
      return new FanlogError(
        'EBUSY',
        `stream '${stream}' is written by fanlog consumer '${what}' of this journal (through seq ${words[2]}), not by '${consumer}', which would skip records it never wrote: nothing was appended; replicate as '${what}', or into another stream`,
      );
    case 'ELOST':
    case 'EDELETED':
    case 'EMISSING':
      return lostRefusal(words, stream);
    case 'EFOREIGN':
      return foreignRefusal(words, stream, message);
    default:
      return null;
  }
}

/** EJOURNALID: the stream replicates another journal, or another history of this one. */
function journalIdRefusal(words: string[], stream: string, journalId: bigint): FanlogError {
  const what = words[1];
  if (what === 'ahead' || what === 'diverged') {
    const where =
      what === 'ahead'
        ? `records through seq ${words[2]}, but this journal ends at ${words[3]}`
        : `at ${words[2]} a record other than this journal's record of that seq (fanlog appended through ${words[3]})`;
    return new FanlogError(
      'EJOURNALID',
      `stream '${stream}' holds ${where}: it replicates another history of journal ${journalId} (this engine was restored from an older copy, or its directory copied), and this journal's records would take seqs the stream already holds; ${NOTHING_DONE}; replicate into another stream`,
    );
  }
  const theirs = what === 'none' ? `no fanlog journal (it has entries, and no ${stream}:fanlog)` : `journal ${what}`;
  return new FanlogError(
    'EJOURNALID',
    `stream '${stream}' is a replica of ${theirs}, not of this journal ${journalId}: nothing was appended; replicate into another stream`,
  );
}

/** ELOST, EDELETED and EMISSING: records fanlog appended into the stream are gone from it, all told as ELOST. */
function lostRefusal(words: string[], stream: string): FanlogError {
  const [code, what] = words;
  if (code === 'ELOST') {
    const fromSeq = BigInt(what!) + 1n;
    const toSeq = BigInt(words[2]!);
    return new FanlogError(
      'ELOST',
      `stream '${stream}' ends at ${what}, but fanlog acknowledged records through ${toSeq} into it: records ${fromSeq}..${toSeq} are gone from the stream (deleted, reset or restored from an older copy), or the replicator's consumer had acknowledged them before it replicated into this stream; nothing was appended`,
      { lost: { fromSeq, toSeq } },
    );
  }
  if (code === 'EDELETED') {
    // Redis keeps the highest ID XDEL removed (max-deleted-entry-id), not the others.
    const seq = BigInt(what!.split('-')[0]!);
    const acked = seq <= BigInt(words[2]!) ? 'acknowledged' : 'appended (not yet acknowledged)';
    return new FanlogError(
      'ELOST',
      `stream '${stream}' had entry ${what} deleted (XDEL), a record fanlog ${acked} into it; others below it may be gone too (Redis keeps only the highest deleted ID): ${NOTHING_DONE}; replicate into another stream`,
      { lost: { fromSeq: seq, toSeq: seq }, ids: [what!] },
    );
  }
  const seq = BigInt(what!);
  return new FanlogError(
    'ELOST',
    `stream '${stream}' lacks entry ${what}-0, which fanlog appended (through ${words[2]}) and had not yet acknowledged: someone deleted it, and it cannot be appended again below the stream's last entry; ${NOTHING_DONE}; replicate into another stream`,
    { lost: { fromSeq: seq, toSeq: seq }, ids: [`${what}-0`] },
  );
}

/** EFOREIGN: the stream or its hash holds what fanlog did not write. */
function foreignRefusal(words: string[], stream: string, message: string): FanlogError {
  const stop = `${NOTHING_DONE}; remove what fanlog did not write, or replicate into another stream`;
  switch (words[1]) {
    case 'type':
      return new FanlogError('EFOREIGN', `key '${stream}' holds a ${words[2]}, not a stream: ${stop}`);
    case 'sibling':
      return new FanlogError(
        'EFOREIGN',
        `key '${stream}:fanlog' ${words[2] === 'type' ? `holds a ${words[3]}, not fanlog's hash` : `has a ${words[3]} that fanlog did not write (missing, empty or not a number)`}: someone else wrote it; ${stop}`,
      );
    case 'after': {
      const ids = words.slice(3).filter((id) => id !== '');
      const listed = ids.length === 0 ? 'no entry (its last id was set higher, XSETID)' : `entries ${ids.join(', ')}${ids.length === 10 ? ', ...' : ''}`;
      return new FanlogError(
        'EFOREIGN',
        `stream '${stream}' has ${listed} after fanlog's last entry, up to id ${words[2]}: fanlog did not write them; ${stop}`,
        { ids },
      );
    }
    case 'behind':
      return new FanlogError(
        'EFOREIGN',
        `stream '${stream}' ends at id ${words[2]}, below fanlog's last entry ${words[3]}-0, and no acknowledged record is missing: it was deleted or rewritten by someone else; ${stop}`,
      );
    case 'added':
      return new FanlogError(
        'EFOREIGN',
        `stream '${stream}' had ${words[2]} entries added, fanlog added ${words[3]}: someone added entries (and deleted them again); ${stop}`,
      );
    case 'deleted':
      return new FanlogError(
        'EFOREIGN',
        `stream '${stream}' had entry ${words[2]}, above fanlog's last, deleted (XDEL): someone else added and deleted it; ${stop}`,
        { ids: [words[2]!] },
      );
    case 'legacy':
      return new FanlogError(
        'EFOREIGN',
        `stream '${stream}' was written by an earlier fanlog, and its last id ${words[2]} is not an entry fanlog wrote: ${stop}`,
        { ids: [words[2]!] },
      );
    default:
      return new FanlogError('EFOREIGN', `stream '${stream}': ${message}`);
  }
}
