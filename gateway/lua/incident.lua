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
--   reminders queued (0..3, also kept as its field 'reminders'), 1 when the
--   phone opted out else 0, 1 (queued now)}, with its reminders; but when
--   the participant has one of the same kind and date already (staff
--   retrying, or typing in a paper form after the member reported):
--   'reported' -> {1, its reference, its deadline},
--   'open' -> {4, its reference, its deadline, its reminders (-1 not
--   known), opted out as above, 1 when they were queued now (it had none)
--   else 0}; nothing else changes; but one that had none and whose stored
--   deadline is later than ARGV[5] -> {5, its reference, its deadline},
--   nothing queued (the daemon plans them for that deadline and calls
--   again); one that had none gets them, and ARGV[5] when its deadline was
--   earlier.
--   Else, when today is past the deadline (an open one's, when later) ->
--   {3, '', that deadline}, nothing stored.
-- report, among the participant's incidents of the same kind and date:
--   one already 'reported' -> {1, its reference, its deadline}, nothing changes;
--   else when today is past the deadline -> {3, '', that deadline}, nothing
--     changes; the deadline is ARGV[5] (under the calendar loaded now), or an
--     open one's when that is later: one stored when its year had no
--     calendar yet may be earlier than the law's, and never shortens it;
--   else every open one becomes 'reported' (its deadline the later one) ->
--     {2, the first one's reference, that deadline, 0}; with none, a new
--     incident is stored as 'reported' -> {2, reference, deadline, 1}.
local mode, pid, kind, on = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local deadline, today, now, channel = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
-- register: ARGV[9] the member's phone, ARGV[10..15] the due second and SMS
-- parts of the reminder at once, of the one on the deadline's eve and of the
-- one on the last day ("" when it does not go). They are queued in the bulk
-- lane (EXTRA "c,0,PID,REF", "l,0,PID,REF" and "d,0,PID,REF": the last two
-- share a text that says which day is the last, but not a duplicate key, so
-- the eve's does not stop the last day's); q_claim.lua skips them once the
-- incident is reported. ARGV[16] '1': the one at once goes on the last day
-- itself, with the last day's text (body auto_cd), still keyed c:REF.
-- (remind() is lib_incident.lua's.)
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

-- Queues the reminders of incident REF; records and returns how many.
local function remind_all(ref)
  local first = ARGV[16] == '1' and {'auto_cd', 'tclaim_last_day'}
                or {'auto_c', 'tclaim_reminder'}
  local n = remind(pid, ref, ARGV[9], ARGV[10], ARGV[11], 'c', first[1], first[2]) +
            remind(pid, ref, ARGV[9], ARGV[12], ARGV[13], 'l', 'auto_l', 'tclaim_last_day') +
            remind(pid, ref, ARGV[9], ARGV[14], ARGV[15], 'd', 'auto_d', 'tclaim_last_day')
  -- reminded_for: the deadline the eve's and last day's are queued for
  -- (q_claim.lua, inc_recheck.lua);
  -- c_at: when the one at once goes (inc_recheck.lua: no eve's reminder
  -- beside one still to come)
  redis.call('HSET', 'gw:inc:' .. ref, 'reminders', n, 'reminded_for', deadline,
             'c_at', ARGV[10])
  return n
end

if mode == 'register' then
  if #open > 0 then
    -- The same incident again. When none of its reminders could be queued
    -- (no phone then, or too late), they are now if they can be: a phone
    -- added to the roster since. (None recorded: an older version's, which
    -- queued its own.)
    local ref = open[1][1]
    local last = open[1][2] > deadline and open[1][2] or deadline
    if today > last then return {3, '', last} end
    local had = redis.call('HGET', 'gw:inc:' .. ref, 'reminders')
    if had == '0' and open[1][2] > deadline then
      -- planned for an earlier deadline than the one stored: the daemon
      -- plans them again for the stored one and calls again
      return {5, ref, open[1][2]}
    end
    if had == '0' then
      -- a stored one earlier than the law's now is made the later, as a
      -- report would
      redis.call('HSET', 'gw:inc:' .. ref, 'deadline', deadline)
      return {4, ref, deadline, remind_all(ref), opted_out(), 1}
    end
    return {4, ref, open[1][2], tonumber(had) or -1, opted_out(), 0}
  end
  if today > deadline then return {3, '', deadline} end
  local ref = create('open')
  return {0, ref, deadline, remind_all(ref), opted_out(), 1}
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
  return {2, open[1][1], last, 0}
end
if today > deadline then return {3, '', deadline} end
return {2, create('reported'), deadline, 1}
