-- q_claim.lua: hands due messages to one consumer (see queue/q.h).
-- Lane "reply" is always served before "bulk". Within a lane, buckets go in
-- due order and each bucket in FIFO order. When the provider is paused
-- (a throttle answer) nothing is handed out. With a rate, a message is
-- handed out only when the provider's token bucket holds its segments; the
-- bucket refills at RATE segments per second up to BURST. A message whose
-- status already says sent, delivered or failed (another consumer finished
-- it after a lease was reclaimed) is dropped here, not sent again. A bulk
-- message to a phone on the opt-out list (gw:{q}:optout) is skipped here,
-- just before sending, with status "skipped".
-- Each handed-out message is recorded in the consumer's in-flight hash
-- (id -> "lane|member") and the consumer's lease is extended.
-- ARGV: now_ms, consumer, lease_ms, max, provider, rate, burst
-- Returns {paused_ms, wait_ms, {lane, member, ...}, {bid, body|false, ...}, dropped}
local now, consumer, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local max, prov = tonumber(ARGV[4]), ARGV[5]
local rate, burst = tonumber(ARGV[6]), tonumber(ARGV[7])
local sec = math.floor(now / 1000)

local pttl = redis.call('PTTL', 'gw:{q}:pause:' .. prov)
if pttl > 0 then
  return {pttl, 0, {}, {}, 0}
end

local tbk = 'gw:{q}:tb:' .. prov
local tokens = 0
if rate > 0 then
  local t = redis.call('HMGET', tbk, 'tokens', 'ts')
  local ts
  tokens, ts = tonumber(t[1]), tonumber(t[2])
  if tokens == nil or ts == nil then
    tokens, ts = burst, now
  end
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  end
end

local flk = 'gw:{q}:fl:' .. consumer
local items, bodies, seen = {}, {}, {}
local wait, count, dropped = 0, 0, 0
for _, lane in ipairs({'reply', 'bulk'}) do
  local sk = 'gw:{q}:sched:' .. lane
  while count < max and wait == 0 do
    local b = redis.call('ZRANGEBYSCORE', sk, '-inf', sec, 'LIMIT', 0, 1)
    if #b == 0 then
      break
    end
    local bk = 'gw:{q}:b:' .. lane .. ':' .. b[1]
    local got = redis.call('LRANGE', bk, 0, max - count - 1)
    local take = #got
    if rate > 0 then
      take = 0
      for i = 1, #got do
        local seg = tonumber(string.match(got[i], '^%d+:%d+:(%d+):')) or 1
        if seg > tokens then
          wait = math.ceil((seg - tokens) * 1000 / rate)
          break
        end
        tokens = tokens - seg
        take = i
      end
    end
    if take > 0 then
      redis.call('LTRIM', bk, take, -1)
      redis.call('HINCRBY', 'gw:{q}:n', lane, -take)
    end
    if take == #got and redis.call('EXISTS', bk) == 0 then
      redis.call('ZREM', sk, b[1])
    end
    for i = 1, take do
      local m = got[i]
      local id, bid = string.match(m, '^(%d+):%d+:%d+:[^:]*:([^:]+)')
      local st = id and redis.call('GET', 'gw:{q}:m:' .. id)
      if id == nil then
        dropped = dropped + 1
      elseif st and (string.sub(st, 1, 5) == 'sent|' or string.sub(st, 1, 10) == 'delivered|'
                     or string.sub(st, 1, 7) == 'failed|') then
        dropped = dropped + 1
      elseif lane == 'bulk' and
             redis.call('HEXISTS', 'gw:{q}:optout', string.match(m, '^%d+:%d+:%d+:([^:]*):')) == 1 then
        -- opted out since it was queued: a bulk message is not sent (replies are)
        redis.call('SET', 'gw:{q}:m:' .. id, 'skipped||||' .. ARGV[1] .. '|opted out', 'EX', 604800)
        redis.call('HINCRBY', 'gw:{q}:stats', 'skipped_optout', 1)
      else
        redis.call('HSET', flk, id, lane .. '|' .. m)
        items[#items + 1] = lane
        items[#items + 1] = m
        if not seen[bid] then
          seen[bid] = true
          bodies[#bodies + 1] = bid
          bodies[#bodies + 1] = redis.call('GET', 'gw:{q}:body:' .. bid)
        end
      end
    end
    count = count + take
    if take < #got then
      break
    end
  end
end
if rate > 0 then
  redis.call('HSET', tbk, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', tbk, 3600000)
end
if dropped > 0 then
  redis.call('HINCRBY', 'gw:{q}:stats', 'dropped_done', dropped)
end
-- Leases run on Redis' clock, not the daemons' (which may differ, or be
-- moved by a test): one clock for every daemon's lease.
local t = redis.call('TIME')
redis.call('ZADD', 'gw:{q}:consumers', t[1] * 1000 + math.floor(t[2] / 1000) + lease, consumer)
return {0, wait, items, bodies, dropped}
