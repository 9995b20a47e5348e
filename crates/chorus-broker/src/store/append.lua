-- Appends one message to a room's stream, numbers it, and announces it to every node, in
-- one atomic step: the order nodes hear a room's messages in is the order of its offsets.
--
-- KEYS: 1 dataset id (hash), 2 sequence counter, 3 stream meta (hash), 4 stream,
--       5 set of stream names
-- ARGV: 1 the dataset id the caller knows, 2 entry, 3 notice tail (stream name),
--       4 channel, 5 stream name, 6 time (ms)
-- Returns {offset, seq}; fails with CHORUSSTALE if the dataset id is not the caller's
-- (the data was lost or rolled back since it looked).
local id = redis.call('HGET', KEYS[1], 'id')
if id ~= ARGV[1] then
  return redis.error_reply('CHORUSSTALE the dataset id changed')
end
local offset = redis.call('HINCRBY', KEYS[3], 'offset', 1)
if offset == 1 then
  redis.call('SADD', KEYS[5], ARGV[5])
end
local seq = redis.call('INCR', KEYS[2])
local o = string.format('%d', offset)
local s = string.format('%d', seq)
redis.call('XADD', KEYS[4], '0-' .. o, 'e', ARGV[2], 's', s, 't', ARGV[6])
redis.call('PUBLISH', ARGV[4],
  string.char(2, #o) .. o .. string.char(#s) .. s .. string.char(#id) .. id .. ARGV[3] .. ARGV[2])
return {offset, seq}
