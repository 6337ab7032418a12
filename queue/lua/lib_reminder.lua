-- lib_reminder.lua: what makes two reminders the same, put (at build time)
-- before the scripts that queue reminders, send them or record what became
-- of them.
-- A reminder is a bulk member "ID:ATTEMPT:SEGMENTS:PHONE:BODY:EXTRA" whose
-- EXTRA is "KIND,CAMPAIGN,PID,TAG" (gateway/gw_campaign.h). Its key is
--   u:PID        unpaid contribution (whichever campaign or due date),
--   n:TAG:PHONE  policy notice (the text's hash, the phone),
--   KIND:TAG     claim report (c at once, l the eve, d the last day; TAG the
--                incident's reference).
-- gw:{q}:last:KEY holds the id of the one that went last (q_claim.lua),
-- until [reminders] min_interval_hours have passed or it failed (q_ack.lua,
-- q_dlr.lua); field KEY of gw:{q}:pend a campaign's mark of one queued
-- (camp_push.lua).
local function reminder_key(kind, pid, phone, tag)
  if kind == 'u' then return 'u:' .. pid end
  if kind == 'n' then return 'n:' .. tag .. ':' .. phone end
  return kind .. ':' .. tag
end

-- The key of the reminder MEMBER, or nil when it is not one.
local function reminder_member_key(member)
  local phone, ex = string.match(member, '^%d+:%d+:%d+:([^:]*):[^:]+:(.*)$')
  local kind, pid, tag = string.match(ex or '', '^(%a),%d+,([^,]*),?(.*)$')
  return kind and reminder_key(kind, pid, phone, tag)
end

-- A reminder whose carrier refused it, or reported it undelivered, did not
-- reach the person: it no longer makes the next one a duplicate. Only the
-- message that set the mark takes it away.
local function reminder_failed(key, id)
  if key and key ~= '' and redis.call('GET', 'gw:{q}:last:' .. key) == id then
    redis.call('DEL', 'gw:{q}:last:' .. key)
  end
end

-- The buckets MEMBER of LANE goes back to (a retry, a throttle, a lease
-- run out): a claim reminder's (KIND c, l or d, automatic or a claim
-- campaign's) are the bulk lane's "prio" ones (gw:{q}:b:prio:SECOND), which
-- are claimed before the rest; it is counted in the lane all the same.
local function queue_key(lane, member)
  if lane == 'bulk' and string.match(member, '^%d+:%d+:%d+:[^:]*:[^:]+:[cld],') then
    return 'prio'
  end
  return lane
end
