-- incident.lua: stores a mutual-aid incident registered by staff, or records
-- the member's report of one, in one atomic step (gateway/gw_incident.c).
-- KEYS[1] gw:{p:ID}:incidents (the participant's references)  KEYS[2] gw:inc:seq
-- ARGV[1] 'register' or 'report'; ARGV[2] participant id; ARGV[3] kind;
-- ARGV[4] occurred_on; ARGV[5] the deadline of a new incident; ARGV[6] today
-- (dates YYYY-MM-DD, so they compare as strings); ARGV[7] now in ms;
-- ARGV[8] channel ('admin', 'ussd').
-- An incident is the hash gw:inc:REFERENCE; a new reference is
-- 'BA' .. YYYYMMDD .. '-' .. a six-digit number from KEYS[2].
-- register: a new incident in state 'open' -> {0, reference, deadline}.
-- report, among the participant's incidents of the same kind and date:
--   one already 'reported' -> {1, its reference, its deadline}, nothing changes;
--   else when today is past the deadline (an open one's, or ARGV[5]) ->
--     {3, '', that deadline}, nothing changes;
--   else every open one becomes 'reported' -> {2, the first one's reference,
--     its deadline}; with none, a new incident is stored as 'reported' ->
--     {2, reference, deadline}.
local mode, pid, kind, on = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local deadline, today, now, channel = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

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
  end
  redis.call('HSET', 'gw:inc:' .. ref, unpack(fields))
  redis.call('SADD', KEYS[1], ref)
  return ref
end

if mode == 'register' then
  return {0, create('open'), deadline}
end

local open = {}
local refs = redis.call('SMEMBERS', KEYS[1])
table.sort(refs)
for _, ref in ipairs(refs) do
  local f = redis.call('HMGET', 'gw:inc:' .. ref, 'kind', 'occurred_on', 'state', 'deadline')
  if f[1] == kind and f[2] == on then
    if f[3] == 'reported' then return {1, ref, f[4] or deadline} end
    if f[3] == 'open' then open[#open + 1] = {ref, f[4] or deadline} end
  end
end
if #open > 0 then
  if today > open[1][2] then return {3, '', open[1][2]} end
  for _, o in ipairs(open) do
    redis.call('HSET', 'gw:inc:' .. o[1], 'state', 'reported', 'reported_ms', now,
               'reported_channel', channel)
  end
  return {2, open[1][1], open[1][2]}
end
if today > deadline then return {3, '', deadline} end
return {2, create('reported'), deadline}
