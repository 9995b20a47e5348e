-- Removes the oldest messages of a stream that its retention no longer keeps, at most
-- ARGV[3] per call, and remembers the highest sequence number removed. Reads the stream in
-- small steps from its oldest message and stops at the first one kept: a stream with
-- nothing to remove costs one short read.
--
-- KEYS: 1 stream meta (hash), 2 stream
-- ARGV: 1 most messages kept, 2 oldest time kept (ms), 3 most removed per call
-- Returns how many it removed.
local last = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local keep_from = last - tonumber(ARGV[1]) + 1
local cutoff = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local removed, last_off, last_seq = 0, nil, nil
local start = '-'
while removed < limit do
  local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 16)
  local kept = false
  for _, e in ipairs(batch) do
    local off = tonumber(string.sub(e[1], 3))
    local f, t, s = e[2], 0, '0'
    for i = 1, #f, 2 do
      if f[i] == 't' then t = tonumber(f[i + 1]) elseif f[i] == 's' then s = f[i + 1] end
    end
    if (off >= keep_from and t >= cutoff) or removed >= limit then
      kept = true
      break
    end
    removed, last_off, last_seq = removed + 1, off, s
  end
  if kept or #batch < 16 then break end
  start = '(' .. batch[#batch][1]
end
if removed == 0 then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', '0-' .. string.format('%d', last_off + 1))
local prev = tonumber(redis.call('HGET', KEYS[1], 'trimmed_seq') or '0')
if tonumber(last_seq) > prev then
  redis.call('HSET', KEYS[1], 'trimmed_seq', last_seq)
end
return removed
