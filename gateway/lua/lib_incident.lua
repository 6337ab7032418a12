-- lib_incident.lua: queuing a claim-report reminder, put (at build time)
-- before incident.lua (a new incident's reminders) and inc_recheck.lua (those
-- of a deadline the calendar moved later).
-- Queues the reminder LETTER (c at once, l the deadline's eve, d the last
-- day) of incident REF of participant PID to PHONE, due at second SEC with
-- SEG SMS parts, its text the [sms] text BODY shared as body BID, in the
-- bulk lane's buckets for claim reminders (gw:{q}:b:prio:SEC, claimed before
-- the rest of the lane: see queue/q.h). Returns 1, or 0 when it does not go
-- (no phone, no time).
local function remind(pid, ref, phone, sec, seg, letter, bid, body)
  if phone == nil or phone == '' or sec == nil or sec == '' then return 0 end
  redis.call('SET', 'gw:{q}:body:' .. bid, body)
  local id = redis.call('INCR', 'gw:{q}:seq')
  redis.call('RPUSH', 'gw:{q}:b:prio:' .. sec, string.format('%d', id) .. ':0:' .. seg .. ':' ..
             phone .. ':' .. bid .. ':' .. letter .. ',0,' .. pid .. ',' .. ref)
  redis.call('ZADD', 'gw:{q}:sched:prio', sec, sec)
  redis.call('HINCRBY', 'gw:{q}:n', 'bulk', 1)
  return 1
end

