-- q_reap.lua: gives the in-flight messages of consumers whose lease ran
-- out (a daemon killed or cut off) back to their lanes, at the front of the
-- current second, so any daemon sends them soon. Their carrier call may
-- have gone out: each is counted in "recovered" (a possible duplicate) and
-- goes back with its attempt raised, as after a timeout, so that the next
-- attempt's refusal or failed delivery report is not taken for proof that
-- nothing reached the phone (lib_reminder.lua).
-- With ARGV[2] set, releases that one consumer at once (a clean stop); they
-- count as recovered, and their attempt is raised, only when ARGV[3] is "1"
-- (some were out at a carrier).
-- With ARGV[4] set, first renews that consumer's lease by ARGV[5] ms (the
-- caller's heartbeat). Leases run on Redis' clock (TIME), due seconds on
-- the caller's (ARGV[1]).
-- ARGV: now_ms, consumer ("" = every expired one), unsure ("1" or "0"),
--       heartbeat consumer ("" = none), lease_ms
-- Returns the number of messages put back.
local now = tonumber(ARGV[1])
local sec = string.format('%d', math.floor(now / 1000))
local t = redis.call('TIME')
local rnow = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  redis.call('ZADD', 'gw:{q}:consumers', rnow + tonumber(ARGV[5]), ARGV[4])
end
local list
if ARGV[2] ~= nil and ARGV[2] ~= '' then
  list = {ARGV[2]}
else
  list = redis.call('ZRANGEBYSCORE', 'gw:{q}:consumers', '-inf', rnow, 'LIMIT', 0, 20)
end
local unsure = ARGV[2] == nil or ARGV[2] == '' or ARGV[3] == '1'
local total = 0
for _, c in ipairs(list) do
  local flk = 'gw:{q}:fl:' .. c
  local all = redis.call('HGETALL', flk)
  for i = 2, #all, 2 do
    local lane, member = string.match(all[i], '^([a-z]+)|(.*)$')
    if lane then
      local pre, att, post = string.match(member, '^(%d+:)(%d+)(:.*)$')
      if unsure and pre then
        member = pre .. string.format('%d', tonumber(att) + 1) .. post
      end
      local key = queue_key(lane, member)
      redis.call('LPUSH', 'gw:{q}:b:' .. key .. ':' .. sec, member)
      redis.call('ZADD', 'gw:{q}:sched:' .. key, sec, sec)
      redis.call('HINCRBY', 'gw:{q}:n', lane, 1)
      total = total + 1
    end
  end
  redis.call('DEL', flk)
  redis.call('ZREM', 'gw:{q}:consumers', c)
end
if total > 0 and unsure then
  redis.call('HINCRBY', 'gw:{q}:stats', 'recovered', total)
end
return total
