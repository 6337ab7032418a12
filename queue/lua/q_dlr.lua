-- q_dlr.lua: applies a carrier's delivery report to the message it is about.
-- The message is found through the carrier-id index the acks keep
-- (gw:{q}:cid:ACCOUNT:CARRIER_ID, carrier ids normalised by the caller). Its
-- status only moves forward: queued/retrying < sent < delivered/failed; a
-- late "sent" never overwrites "delivered", and a final state stays.
-- ARGV: state ("sent" | "delivered" | "failed"), time_ms, reason, then one or
--       more "ACCOUNT:CARRIER_ID" candidates (the accounts of the carrier)
-- The index's value is "ID", "ID|CAMPAIGN" or "ID|CAMPAIGN|KEY" (a
-- reminder; CAMPAIGN empty for an automatic one): a campaign's message moves
-- its campaign's count from sent to delivered or failed with its status, and
-- a reminder reported failed no longer counts as sent for [reminders]
-- min_interval_hours (lib_reminder.lua): the person did not get it.
-- Returns {our id or "", "applied" | "ignored" | "expired" | "unmatched"}.
local rank = {queued = 0, retrying = 0, sent = 1, delivered = 2, failed = 2, skipped = 2}
local new, ms, reason = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local v = redis.call('GET', 'gw:{q}:cid:' .. ARGV[i])
  if v then
    local id, camp, key = string.match(v, '^([^|]*)|([^|]*)|(.*)$')
    if not id then id, camp = string.match(v, '^([^|]*)|?(.*)$') end
    local mk = 'gw:{q}:m:' .. id
    local rec = redis.call('GET', mk)
    if not rec then
      return {id, 'expired'}
    end
    local state, prov, cid, att = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)')
    if state and (rank[new] or 0) > (rank[state] or 0) then
      local nrec = new .. '|' .. prov .. '|' .. cid .. '|' .. att .. '|' .. ms
      if reason ~= '' then
        nrec = nrec .. '|' .. reason
      end
      redis.call('SET', mk, nrec, 'KEEPTTL')
      if new == 'failed' then reminder_failed(key, id) end
      if camp ~= '' and state == 'sent' and new ~= 'sent' then
        local ck = 'gw:{q}:camp:' .. camp
        if redis.call('EXISTS', ck) == 1 then
          redis.call('HINCRBY', ck, 'sent', -1)
          redis.call('HINCRBY', ck, new, 1)
        end
      end
      return {id, 'applied'}
    end
    return {id, 'ignored'}
  end
end
-- Not known (yet): the report may have overtaken its message's outcome
-- (written once per loop turn, or by another daemon). It is parked for ten
-- minutes; q_ack.lua applies it when the carrier id is recorded.
if new == 'delivered' or new == 'failed' then
  for i = 4, #ARGV do
    redis.call('SET', 'gw:{q}:early:' .. ARGV[i], new .. '|' .. ms .. '|' .. reason, 'EX', 600)
  end
  -- q_ack.lua looks for parked reports only while this says there may be some
  redis.call('SET', 'gw:{q}:early:any', '1', 'EX', 600)
end
redis.call('HINCRBY', 'gw:{q}:stats', 'dlr_unmatched', 1)
return {'', 'unmatched'}
