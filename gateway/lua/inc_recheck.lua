-- inc_recheck.lua: open incidents' deadlines judged again after the business
-- calendar (or [claims] days) changed (see gateway/gw_incident_recheck.c).
-- KEYS: incidents (gw:inc:REFERENCE).
-- ARGV[1] "read": returns, for each key, {state, kind, occurred_on,
--                 deadline, participant} (nil for a field it lacks);
--         "write" (one key): ARGV[2], ARGV[3] the deadline as read and the
--                 new one, set only if the incident is still open with the
--                 one read (a report or another daemon may have come
--                 between); then the reminders of the new eve and last day
--                 are queued (lib_incident.lua): ARGV[4] participant,
--                 ARGV[5] reference, ARGV[6] phone, ARGV[7] the eve's due
--                 second, ARGV[8] SMS parts, ARGV[9] the last day's due
--                 second ("" for one that does not go). Those queued for
--                 the old dates are skipped when due (q_claim.lua:
--                 "rescheduled", by the field reminded_for). Returns {1
--                 set or 0, reminders queued}.
if ARGV[1] == 'read' then
  local out = {}
  for i, k in ipairs(KEYS) do
    out[i] = redis.call('HMGET', k, 'state', 'kind', 'occurred_on', 'deadline', 'participant')
  end
  return out
end
local v = redis.call('HMGET', KEYS[1], 'state', 'deadline', 'reminders')
if v[1] ~= 'open' or v[2] ~= ARGV[2] then
  return {0, 0}
end
-- reminded_for: the deadline the eve's and last day's reminders are queued
-- for (q_claim.lua skips those of another date only when it is the
-- deadline); the last-sent marks of the old ones named a date no longer
-- true, and must not make the new ones duplicates
redis.call('HSET', KEYS[1], 'deadline', ARGV[3], 'reminded_for', ARGV[3])
local pid, ref, phone = ARGV[4], ARGV[5], ARGV[6]
redis.call('DEL', 'gw:{q}:last:l:' .. ref, 'gw:{q}:last:d:' .. ref)
-- the reminder at once, still to come by the new eve's, says it all (its
-- text is written when it goes, with the deadline stored then)
local c_at = tonumber(redis.call('HGET', KEYS[1], 'c_at') or '') or 0
local sec_l = ARGV[7]
if sec_l ~= '' and c_at >= tonumber(sec_l) then sec_l = '' end
local n = remind(pid, ref, phone, sec_l, ARGV[8], 'l', 'auto_l', 'tclaim_last_day') +
          remind(pid, ref, phone, ARGV[9], ARGV[8], 'd', 'auto_d', 'tclaim_last_day')
if n > 0 then
  redis.call('HSET', KEYS[1], 'reminders', (tonumber(v[3]) or 0) + n)
end
return {1, n}
