-- Session records, each a string key, with their expiries in one sorted set (open
-- records score +inf): exact expiry whatever the clock of the caller, and removal in order.
--
-- KEYS: 1 the sorted set of expiries
-- ARGV: 1 operation, then its arguments; record keys are ARGV[2] .. id
--   'claim' prefix id record now: the record if there is one (unexpired), else `record`;
--                                  either way kept open. Returns it.
--   'expire_open' prefix expires:  gives every open record that expiry. Returns how many.
--   'trim' prefix now limit:       removes records that expired before now, at most
--                                  `limit`. Returns how many.
local op, prefix = ARGV[1], ARGV[2]
if op == 'claim' then
  local id, record, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
  local score = redis.call('ZSCORE', KEYS[1], id)
  local kept = redis.call('GET', prefix .. id)
  if kept and score and (score == 'inf' or tonumber(score) >= now) then
    record = kept
  end
  redis.call('SET', prefix .. id, record)
  redis.call('ZADD', KEYS[1], '+inf', id)
  return record
elseif op == 'expire_open' then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf')
  for _, id in ipairs(ids) do
    redis.call('ZADD', KEYS[1], ARGV[3], id)
  end
  return #ids
elseif op == 'trim' then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
  for _, id in ipairs(ids) do
    redis.call('DEL', prefix .. id)
    redis.call('ZREM', KEYS[1], id)
  end
  return #ids
end
return redis.error_reply('ERR unknown operation')
