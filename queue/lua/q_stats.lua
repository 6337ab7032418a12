-- q_stats.lua: the queue's numbers for metrics and GET /v1/queue.
-- ARGV: now_ms, skip reasons...
-- Returns {reply_total, reply_ready, reply_oldest_ms, bulk_total, bulk_ready,
--          bulk_oldest_ms, in_flight, dead, consumers, recovered, lost_lease,
--          dropped_done, then skipped_REASON for each REASON of ARGV[2..],
--          deferred_window}; oldest is -1 when nothing is due. Ready is summed
-- over at most 2000 due buckets (a bigger backlog reads as at least that).
local now = tonumber(ARGV[1])
local sec = math.floor(now / 1000)
local out = {}
-- (the bulk lane's claim reminders have buckets of their own, "prio")
for _, keys in ipairs({{'reply'}, {'bulk', 'prio'}}) do
  local lane = keys[1]
  local total = tonumber(redis.call('HGET', 'gw:{q}:n', lane) or '0')
  local ready, first = 0, nil
  for _, key in ipairs(keys) do
    local due = redis.call('ZRANGEBYSCORE', 'gw:{q}:sched:' .. key, '-inf', sec, 'LIMIT', 0,
                           2000)
    for _, b in ipairs(due) do
      ready = ready + redis.call('LLEN', 'gw:{q}:b:' .. key .. ':' .. b)
    end
    if #due > 0 and (not first or tonumber(due[1]) < first) then first = tonumber(due[1]) end
  end
  local oldest = -1
  if first then
    oldest = now - first * 1000
  end
  out[#out + 1] = total
  out[#out + 1] = ready
  out[#out + 1] = oldest
end
local consumers = redis.call('ZRANGE', 'gw:{q}:consumers', 0, -1)
local inflight = 0
for _, c in ipairs(consumers) do
  inflight = inflight + redis.call('HLEN', 'gw:{q}:fl:' .. c)
end
out[#out + 1] = inflight
out[#out + 1] = redis.call('LLEN', 'gw:{q}:dead')
out[#out + 1] = #consumers
local st = redis.call('HMGET', 'gw:{q}:stats', 'recovered', 'lost_lease', 'dropped_done')
for i = 1, 3 do
  out[#out + 1] = tonumber(st[i] or '0')
end
for i = 2, #ARGV do
  out[#out + 1] = tonumber(redis.call('HGET', 'gw:{q}:stats', 'skipped_' .. ARGV[i]) or '0')
end
out[#out + 1] = tonumber(redis.call('HGET', 'gw:{q}:stats', 'deferred_window') or '0')
return out
