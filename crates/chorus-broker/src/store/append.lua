-- Appends a batch of messages to their rooms' streams, numbers them, and announces each to
-- every node, in one atomic step: the order nodes hear a room's messages in is the order
-- of its offsets, and a batch is stored whole or not at all.
--
-- Idempotent: the batch's token keeps its stamps for a minute, so a batch sent again (the
-- connection broke, or timed out, after Redis ran it) gets the same stamps back and is not
-- stored twice.
--
-- KEYS: 1 dataset id (hash), 2 sequence counter, 3 set of stream names, 4 the batch's
--       token; then for message i: 3+2i its stream's meta (hash), 4+2i its stream
-- ARGV: 1 the dataset id the caller knows, 2 channel, 3 message count; then for message i:
--       4i its entry, 4i+1 its notice tail (stream name), 4i+2 its stream name,
--       4i+3 its time (ms)
-- Returns "<dataset id> <offset> <seq> <offset> <seq> …"; fails with CHORUSSTALE if the
-- dataset id is not the caller's (the data was lost or rolled back since it looked).
local done = redis.call('GET', KEYS[4])
if done then
  return done
end
local id = redis.call('HGET', KEYS[1], 'id')
if id ~= ARGV[1] then
  return redis.error_reply('CHORUSSTALE the dataset id changed')
end
local out = {id}
for i = 1, tonumber(ARGV[3]) do
  local meta, stream = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local entry, tail, name, t = ARGV[4 * i], ARGV[4 * i + 1], ARGV[4 * i + 2], ARGV[4 * i + 3]
  local offset = redis.call('HINCRBY', meta, 'offset', 1)
  if offset == 1 then
    redis.call('SADD', KEYS[3], name)
  end
  local seq = redis.call('INCR', KEYS[2])
  local o = string.format('%d', offset)
  local s = string.format('%d', seq)
  redis.call('XADD', stream, '0-' .. o, 'e', entry, 's', s, 't', t)
  redis.call('PUBLISH', ARGV[2],
    string.char(2, #o) .. o .. string.char(#s) .. s .. string.char(#id) .. id .. tail .. entry)
  out[#out + 1] = o
  out[#out + 1] = s
end
local result = table.concat(out, ' ')
redis.call('SET', KEYS[4], result, 'PX', 60000)
return result
