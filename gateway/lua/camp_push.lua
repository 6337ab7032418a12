-- camp_push.lua: queues one chunk of a started campaign's recipients (see
-- gateway/gw_campaign.h) in the bulk lane at one due second, sharing the
-- campaign's body. Each recipient's reminder is marked pending
-- (gw:{q}:pend:DKEY = "CAMPAIGN:PID", SET NX) so that neither this campaign
-- (SSCAN may return a participant twice) nor another sends it again; one
-- pending from elsewhere counts as a duplicate, unless that campaign was cancelled. Nothing is queued once the
-- campaign is cancelled.
-- ARGV: campaign, kind, due_s, bid, pend_ttl_s, cursor (kept for a resumed
--       fan-out), then groups of 4: pid, phone, segments, tag
-- Returns {queued, duplicate, first_id} or {-1} when the campaign is cancelled.
local camp, kind, due, bid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, cursor = tonumber(ARGV[5]), ARGV[6]
local ck = 'gw:{q}:camp:' .. camp
if redis.call('HGET', ck, 'state') ~= 'fanning_out' then
  return {-1}
end
local take = {}
local dup = 0
for i = 7, #ARGV, 4 do
  local pid, phone, seg, tag = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local dkey
  if kind == 'u' then dkey = 'u:' .. pid
  elseif kind == 'n' then dkey = 'n:' .. tag .. ':' .. phone
  else dkey = kind .. ':' .. tag end
  local mine = camp .. ':' .. pid
  local pk = 'gw:{q}:pend:' .. dkey
  if redis.call('SET', pk, mine, 'NX', 'EX', ttl) then
    take[#take + 1] = {pid, phone, seg, tag}
  else
    local v = redis.call('GET', pk)
    if v ~= mine then
      -- pending for a campaign since cancelled: not a duplicate any more
      local other = string.match(v or '', '^(%d+):')
      local st = other and redis.call('HGET', 'gw:{q}:camp:' .. other, 'state')
      if st == 'cancelled' or not st then
        redis.call('SET', pk, mine, 'EX', ttl)
        take[#take + 1] = {pid, phone, seg, tag}
      else
        dup = dup + 1
      end
    end
  end
end
local n = #take
local first = 0
if n > 0 then
  local last = redis.call('INCRBY', 'gw:{q}:seq', n)
  first = last - n + 1
  local batch = {}
  for i, t in ipairs(take) do
    batch[i] = string.format('%d', first + i - 1) .. ':0:' .. t[3] .. ':' .. t[2] .. ':' .. bid ..
               ':' .. kind .. ',' .. camp .. ',' .. t[1] .. ',' .. t[4]
  end
  redis.call('RPUSH', 'gw:{q}:b:bulk:' .. due, unpack(batch))
  redis.call('ZADD', 'gw:{q}:sched:bulk', due, due)
  redis.call('HINCRBY', 'gw:{q}:n', 'bulk', n)
  redis.call('HINCRBY', ck, 'queued', n)
  redis.call('HINCRBY', ck, 'recipients', n)
end
if dup > 0 then
  redis.call('HINCRBY', ck, 'skipped_duplicate', dup)
end
redis.call('HSET', ck, 'cursor', cursor)
return {n, dup, first}
