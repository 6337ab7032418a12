-- inc_recheck.lua: open incidents' deadlines judged again after the business
-- calendar (or [claims] days) changed (see gateway/gw_incident_recheck.c).
-- KEYS: incidents (gw:inc:REFERENCE).
-- ARGV[1] "read": returns, for each key, {state, kind, occurred_on,
--                 deadline, participant} (nil for a field it lacks);
--         "write": ARGV[2 + 2i - 1], ARGV[2 + 2i] are key i's deadline as
--                 read and its new one: set only if the incident is still
--                 open with that deadline (a report or another daemon may
--                 have come between). Returns how many were set.
if ARGV[1] == 'read' then
  local out = {}
  for i, k in ipairs(KEYS) do
    out[i] = redis.call('HMGET', k, 'state', 'kind', 'occurred_on', 'deadline', 'participant')
  end
  return out
end
local n = 0
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'state', 'deadline')
  if v[1] == 'open' and v[2] == ARGV[2 * i] then
    redis.call('HSET', k, 'deadline', ARGV[2 * i + 1])
    n = n + 1
  end
end
return n
