-- q_enqueue.lua: schedules messages that share one body (see queue/q.h for
-- the key layout). One call, one atomic change: ids taken from the counter,
-- the body stored once, every message appended to its lane's bucket for the
-- due second, the bucket put on the lane's schedule, the lane's count raised.
-- ARGV: lane, due_sec, segments, body ("" = BID already stored), bid ("" =
--       the first id), body_ttl_s, extra ("" = none), track ("1": write a
--       "queued" status record per message), phone...
-- Returns {first_id, bid}.
local lane, due, seg = ARGV[1], ARGV[2], ARGV[3]
local body, bid, ttl, extra, track = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
if lane ~= 'reply' and lane ~= 'bulk' then
  return redis.error_reply('ERR bad lane')
end
local n = #ARGV - 8
if n <= 0 then
  return redis.error_reply('ERR no recipients')
end
local last = redis.call('INCRBY', 'gw:{q}:seq', n)
local first = last - n + 1
if bid == '' then
  bid = string.format('%d', first)
end
local bkey = 'gw:{q}:body:' .. bid
if body ~= '' then
  redis.call('SET', bkey, body, 'EX', ttl)
elseif redis.call('EXISTS', bkey) == 0 then
  return redis.error_reply('ERR no such body')
else
  redis.call('EXPIRE', bkey, ttl, 'GT')
end
local tail = ':' .. bid
if extra ~= '' then
  tail = tail .. ':' .. extra
end
local bucket = 'gw:{q}:b:' .. lane .. ':' .. due
local batch = {}
for i = 1, n do
  local id = string.format('%d', first + i - 1)
  batch[#batch + 1] = id .. ':0:' .. seg .. ':' .. ARGV[8 + i] .. tail
  if track == '1' then
    redis.call('SET', 'gw:{q}:m:' .. id, 'queued|||0|', 'EX', ttl)
  end
  if #batch == 1000 then
    redis.call('RPUSH', bucket, unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('RPUSH', bucket, unpack(batch))
end
redis.call('ZADD', 'gw:{q}:sched:' .. lane, due, due)
redis.call('HINCRBY', 'gw:{q}:n', lane, n)
return {first, bid}
