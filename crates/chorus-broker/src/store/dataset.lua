-- The dataset id: the epoch of every stream. Kept while the Redis server that holds it is
-- the one that wrote it, or restarted with every write on disk (appendfsync always);
-- replaced otherwise — after a restart that may have lost or rolled back writes, no
-- client may take an old offset for a new message.
--
-- KEYS: 1 dataset id (hash)
-- ARGV: 1 a fresh id, 2 the server's run id now, 3 '1' if every write is synced to disk
-- Returns the id.
local cur = redis.call('HMGET', KEYS[1], 'id', 'run')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'run', ARGV[2])
  return ARGV[1]
end
if cur[2] ~= ARGV[2] then
  if ARGV[3] == '1' then
    redis.call('HSET', KEYS[1], 'run', ARGV[2])
  else
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'run', ARGV[2])
    return ARGV[1]
  end
end
return cur[1]
