-- Publishes a stream's position on the broker's channel, in order with its notices: a
-- node that did not know where the stream stands learns it after every message up to it.
--
-- KEYS: 1 dataset id (hash), 2 stream meta (hash)
-- ARGV: 1 channel, 2 marker tail (stream name)
local id = redis.call('HGET', KEYS[1], 'id')
if not id then
  return redis.error_reply('CHORUSSTALE no dataset id')
end
local o = string.format('%d', tonumber(redis.call('HGET', KEYS[2], 'offset') or '0'))
redis.call('PUBLISH', ARGV[1], string.char(3, #o) .. o .. string.char(#id) .. id .. ARGV[2])
return 1
