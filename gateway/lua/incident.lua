-- incident.lua: stores a mutual-aid incident registered by staff, or records
-- the member's report of one, in one atomic step (gateway/gw_incident.c).
-- KEYS[1] gw:{p:ID}:incidents (the participant's references)  KEYS[2] gw:inc:seq
-- ARGV[1] 'register' or 'report'; ARGV[2] participant id; ARGV[3] kind;
-- ARGV[4] occurred_on; ARGV[5] the deadline of a new incident; ARGV[6] today,
-- or for a report the day it was made (staff may record it later; stored
-- as reported_on) (dates YYYY-MM-DD, so they compare as strings); ARGV[7]
-- now in ms;
-- ARGV[8] channel ('admin', 'ussd').
-- An incident is the hash gw:inc:REFERENCE; a new reference is
-- 'BA' .. YYYYMMDD .. '-' .. a six-digit number from KEYS[2].
-- register: a new incident in state 'open' -> {0, reference, deadline,
--   reminders queued (0..3), 1 when the phone opted out else 0}, with its
--   reminders; but when the participant has one of the same kind and
--   date already (staff retrying, or typing in a paper form after the
--   member reported): 'reported' -> {1, its reference, its deadline},
--   'open' -> {4, its reference, its deadline, -1, opted out as above};
--   nothing changes.
-- report, among the participant's incidents of the same kind and date:
--   one already 'reported' -> {1, its reference, its deadline}, nothing changes;
--   else when today is past the deadline -> {3, '', that deadline}, nothing
--     changes; the deadline is ARGV[5] (under the calendar loaded now), or an
--     open one's when that is later: one stored when its year had no
--     calendar yet may be earlier than the law's, and never shortens it;
--   else every open one becomes 'reported' (its deadline the later one) ->
--     {2, the first one's reference, that deadline}; with none, a new
--     incident is stored as 'reported' -> {2, reference, deadline}.
local mode, pid, kind, on = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local deadline, today, now, channel = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
-- register: ARGV[9] the member's phone, ARGV[10..15] the due second and SMS
-- parts of the reminder at once, of the one on the deadline's eve and of the
-- one on the last day ("" when it does not go). They are queued in the bulk
-- lane (EXTRA "c,0,PID,REF", "l,0,PID,REF" and "d,0,PID,REF": the last two
-- share a text that says which day is the last, but not a duplicate key, so
-- the eve's does not stop the last day's); q_claim.lua skips them once the
-- incident is reported.
local function remind(ref, phone, sec, seg, letter, body)
  if phone == nil or phone == '' or sec == nil or sec == '' then return 0 end
  redis.call('SET', 'gw:{q}:body:auto_' .. letter, body)
  local id = redis.call('INCR', 'gw:{q}:seq')
  redis.call('RPUSH', 'gw:{q}:b:bulk:' .. sec, string.format('%d', id) .. ':0:' .. seg .. ':' ..
             phone .. ':auto_' .. letter .. ':' .. letter .. ',0,' .. pid .. ',' .. ref)
  redis.call('ZADD', 'gw:{q}:sched:bulk', sec, sec)
  redis.call('HINCRBY', 'gw:{q}:n', 'bulk', 1)
  return 1
end

local function create(state)
  local seq = redis.call('INCR', KEYS[2])
  local ref = string.format('BA%s-%06d', (string.gsub(on, '-', '')), seq)
  local fields = {'participant', pid, 'kind', kind, 'occurred_on', on, 'deadline', deadline,
                  'registered_ms', now, 'channel', channel, 'state', state}
  if state == 'reported' then
    fields[#fields + 1] = 'reported_ms'
    fields[#fields + 1] = now
    fields[#fields + 1] = 'reported_channel'
    fields[#fields + 1] = channel
    fields[#fields + 1] = 'reported_on'
    fields[#fields + 1] = today
  end
  redis.call('HSET', 'gw:inc:' .. ref, unpack(fields))
  redis.call('SADD', KEYS[1], ref)
  return ref
end

-- The participant's incidents of this kind and date: the reported one
-- ({reference, deadline}) if any, and the open ones.
local function same_day()
  local open = {}
  local refs = redis.call('SMEMBERS', KEYS[1])
  table.sort(refs)
  for _, ref in ipairs(refs) do
    local f = redis.call('HMGET', 'gw:inc:' .. ref, 'kind', 'occurred_on', 'state', 'deadline')
    if f[1] == kind and f[2] == on then
      if f[3] == 'reported' then return {ref, f[4] or deadline}, open end
      if f[3] == 'open' then open[#open + 1] = {ref, f[4] or deadline} end
    end
  end
  return nil, open
end

local reported, open = same_day()
if reported then
  return {1, reported[1], reported[2]}
end

local function opted_out()
  return ARGV[9] ~= '' and redis.call('HEXISTS', 'gw:{q}:optout', ARGV[9]) or 0
end

if mode == 'register' then
  if #open > 0 then return {4, open[1][1], open[1][2], -1, opted_out()} end
  local ref = create('open')
  local n = remind(ref, ARGV[9], ARGV[10], ARGV[11], 'c', 'tclaim_reminder') +
            remind(ref, ARGV[9], ARGV[12], ARGV[13], 'l', 'tclaim_last_day') +
            remind(ref, ARGV[9], ARGV[14], ARGV[15], 'd', 'tclaim_last_day')
  return {0, ref, deadline, n, opted_out()}
end

if #open > 0 then
  local last = open[1][2]
  if deadline > last then last = deadline end
  if today > last then return {3, '', last} end
  for _, o in ipairs(open) do
    redis.call('HSET', 'gw:inc:' .. o[1], 'state', 'reported', 'reported_ms', now,
               'reported_on', today, 'reported_channel', channel,
               'deadline', o[2] > deadline and o[2] or deadline)
  end
  return {2, open[1][1], last}
end
if today > deadline then return {3, '', deadline} end
return {2, create('reported'), deadline}
