-- optout_set.lua: puts a phone on the opt-out list or takes it off, and logs
-- the change. The list lives under the queue's hash tag: the queue's claim
-- script reads it before handing out a bulk message.
-- ARGV: phone (E.164), out ("1" opt out, "0" opt back in), time_ms, channel
-- Returns 1 when the list changed, 0 when it already said so.
local phone, out, ms, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local changed
if out == '1' then
  changed = redis.call('HSETNX', 'gw:{q}:optout', phone, ms .. '|' .. channel)
else
  changed = redis.call('HDEL', 'gw:{q}:optout', phone)
end
redis.call('LPUSH', 'gw:{q}:optout:log',
           ms .. '|' .. phone .. '|' .. (out == '1' and 'out' or 'in') .. '|' .. channel)
redis.call('LTRIM', 'gw:{q}:optout:log', 0, 99999)
return changed
