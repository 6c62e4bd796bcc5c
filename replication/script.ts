/**
 * The append script: one batch of entries into a stream, atomically, by
 * EVALSHA (EVAL the first time a server does not know it).
 *
 *   KEYS[1]  the stream
 *   KEYS[2]  its sibling `<stream>:fanlog`, a hash holding the journal id
 *            the stream is a replica of
 *   ARGV[1]  the replicator's durable fanlog cursor (its last ack)
 *   ARGV[2]  the journal's id
 *   ARGV[3]  how many entries follow; then per entry: its seq, its field
 *            count n, and n field-value pairs... flattened (2n values)
 *
 * A stream of another journal (the engine directory was recreated, or two
 * engines point at one stream) is refused with `EJOURNALID <theirs>`: its
 * seqs are not this journal's, and skipping by them would lose records. A
 * stream with entries and no sibling was not written by a replicator:
 * refused the same way.
 *
 * The stream's last-generated-id (XINFO STREAM; 0 when there is no stream)
 * is where a crashed replicator left off: every entry at or below it was
 * appended before and is skipped, every one above is added as `<seq>-0`.
 * A last id *below* the cursor means the stream lost records fanlog had
 * acknowledged (deleted, reset, restored from an old copy): the script
 * writes nothing and fails with `ELOST <last> <cursor>`. Seqs are compared
 * as decimal strings (length, then text), never as Lua numbers, which are
 * doubles. Returns { appended, skipped }.
 */
export const APPEND_SCRIPT = `
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local stream = KEYS[1]
local cursor = ARGV[1]
local journal = redis.call('HGET', KEYS[2], 'journalId')
if journal and journal ~= ARGV[2] then
  return redis.error_reply('EJOURNALID ' .. journal)
end
if not journal and redis.call('XLEN', stream) > 0 then
  return redis.error_reply('EJOURNALID none')
end
local last = '0'
if redis.call('EXISTS', stream) == 1 then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = string.match(info[i + 1], '^(%d+)-') end
  end
end
if less(last, cursor) then
  return redis.error_reply('ELOST ' .. last .. ' ' .. cursor)
end
redis.call('HSET', KEYS[2], 'journalId', ARGV[2])
local count = tonumber(ARGV[3])
local at = 4
local appended, skipped = 0, 0
for _ = 1, count do
  local seq = ARGV[at]
  local n = tonumber(ARGV[at + 1])
  if less(last, seq) then
    redis.call('XADD', stream, seq .. '-0', unpack(ARGV, at + 2, at + 1 + 2 * n))
    appended = appended + 1
  else
    skipped = skipped + 1
  end
  at = at + 2 + 2 * n
end
return { appended, skipped }
`;
