-- q_ack.lua: records what became of messages a consumer sent (see queue/q.h).
-- Each message leaves the consumer's in-flight hash. When it had already
-- left (the lease was reclaimed and the message put back for another
-- consumer), a retry is not queued again (it is queued already) and the
-- case is counted as "lost_lease". MEMBER for "r" and "d" carries the
-- attempt already raised; the claimed member had one less.
-- ARGV: consumer, now_ms, lease_ms, record_ttl_s, then groups of 8:
--   id, lane, kind, provider, carrier_id, num, member, reason
-- kind: "a" accepted (status sent, carrier id -> our id),
--       "r" retry (member, its attempt already raised, due at second NUM),
--       "t" throttled (member back at the front now; provider paused NUM ms),
--       "d" dead (status failed with REASON; kept on the dead list; NUM "1"
--           when the carrier certainly refused it: nothing reached the phone).
-- An outcome never undoes a final status written meanwhile (another
-- consumer finished the message after this one's lease was reclaimed): a
-- retry or throttle is not queued again, a dead end does not overwrite sent
-- or delivered. An acceptance is always recorded (the resident gets it),
-- also over a "skipped", and picks up a delivery report that arrived before
-- it (parked by q_dlr.lua as gw:{q}:early:ACCOUNT:CID).
-- A reminder the carrier certainly refused (dead, NUM "1": at its first
-- attempt) no longer counts as sent for [reminders] min_interval_hours
-- (lib_reminder.lua), nor does one accepted at its first attempt and then
-- reported failed (q_dlr.lua); one whose outcome was unknown (no answer in
-- time; a reclaimed lease, which raises the attempt, q_reap.lua) may have
-- reached the phone, and does. Only the claim this consumer still holds
-- takes the mark away: after its lease was reclaimed another consumer may
-- have sent it.
-- A campaign's message (EXTRA "KIND,CAMPAIGN,...", CAMPAIGN not 0) moves
-- its campaign's counts (gw:{q}:camp:ID) from queued (skipped once the
-- campaign was cancelled, or when it was skipped) to sent or failed, once:
-- only when its status was not already final, so an outcome written twice
-- counts once.
-- Returns the number of messages whose lease had been lost.
local consumer, now = ARGV[1], tonumber(ARGV[2])
local lease, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local sec = math.floor(now / 1000)
local flk = 'gw:{q}:fl:' .. consumer
local lost = 0
local nowstr = string.format('%d', now)

local function requeue(lane, due, member, front)
  local key = queue_key(lane, member)
  local bk = 'gw:{q}:b:' .. key .. ':' .. due
  if front then
    redis.call('LPUSH', bk, member)
  else
    redis.call('RPUSH', bk, member)
  end
  redis.call('ZADD', 'gw:{q}:sched:' .. key, due, due)
  redis.call('HINCRBY', 'gw:{q}:n', lane, 1)
end

local function is_final(st)
  return st and (string.sub(st, 1, 5) == 'sent|' or string.sub(st, 1, 10) == 'delivered|'
                 or string.sub(st, 1, 7) == 'failed|' or string.sub(st, 1, 8) == 'skipped|')
end

-- The campaign of MEMBER, or nil.
local function campaign(member)
  local camp = string.match(member, '^%d+:%d+:%d+:[^:]*:[^:]+:%a,(%d+),')
  if camp == nil or camp == '0' then return nil end
  return camp
end

-- Moves a campaign count FROM -> TO; out of "skipped", its reason WHY
-- (skip_WHY, see q_claim.lua) goes down with it.
local function camp_move_from(camp, from, to, why)
  local ck = 'gw:{q}:camp:' .. camp
  if redis.call('EXISTS', ck) == 0 then return end
  redis.call('HINCRBY', ck, from, -1)
  redis.call('HINCRBY', ck, to, 1)
  if why then redis.call('HINCRBY', ck, 'skip_' .. why, -1) end
end

-- A message that went: out of queued, or out of skipped when its campaign
-- was cancelled while it was out (the cancel counted it skipped).
local function camp_move(camp, to)
  local st = redis.call('HGET', 'gw:{q}:camp:' .. camp, 'state')
  if not st then return end
  if st == 'cancelled' then
    camp_move_from(camp, 'skipped', to, 'cancelled')
  else
    camp_move_from(camp, 'queued', to)
  end
end

local any_early = redis.call('EXISTS', 'gw:{q}:early:any') == 1

for i = 5, #ARGV, 8 do
  local id, lane, kind, prov = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local cid, num, member, reason = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  -- Ours only if the hash still holds this very claim (an outcome sent
  -- again after a lost answer must not take a later claim of the same id).
  local orig = member
  if kind == 'r' or kind == 'd' then
    local pre, att, post = string.match(member, '^(%d+:)(%d+)(:.*)$')
    if pre then
      orig = pre .. string.format('%d', tonumber(att) - 1) .. post
    end
  end
  local owned = 0
  if redis.call('HGET', flk, id) == lane .. '|' .. orig then
    redis.call('HDEL', flk, id)
    owned = 1
  else
    lost = lost + 1
  end
  local attempt = string.match(member, '^%d+:(%d+):') or '0'
  local camp = campaign(member)
  local mk = 'gw:{q}:m:' .. id
  local prev = redis.call('GET', mk)
  local final = is_final(prev)
  local skipped = prev and string.sub(prev, 1, 8) == 'skipped|'
  local done = final and not skipped     -- sent, delivered or failed already
  if kind == 'a' then
    -- Accepted by the carrier: the resident gets it, whatever another
    -- consumer decided meanwhile (a reclaimed lease, then a skip).
    if camp and not final then
      camp_move(camp, 'sent')
    elseif camp and skipped then
      camp_move_from(camp, 'skipped', 'sent', string.match(prev, '|([^|]*)$'))
    end
    if not done or string.sub(prev, 1, 5) == 'sent|' then
      redis.call('SET', mk, 'sent|' .. prov .. '|' .. cid .. '|' .. attempt .. '|' .. nowstr,
                 'EX', ttl)
    end
    if cid ~= '' then
      -- "ID", "ID|CAMPAIGN" or, for a reminder, "ID|CAMPAIGN|KEY" (CAMPAIGN
      -- empty for an automatic one): q_dlr.lua moves the campaign's counts
      -- and takes a failed reminder's mark away; only after the first
      -- attempt: an earlier one may have reached the phone (no answer in
      -- time, or its consumer's lease ran out)
      local key = lane == 'bulk' and attempt == '0' and
                  reminder_member_key(member)    -- replies are none
      local v = id
      if key then v = id .. '|' .. (camp or '') .. '|' .. key
      elseif camp then v = id .. '|' .. camp end
      redis.call('SET', 'gw:{q}:cid:' .. prov .. ':' .. cid, v, 'EX', ttl)
      -- a delivery report that came before this outcome was written (looked
      -- for only while reports are parked: rare, and not on every send)
      local ek = 'gw:{q}:early:' .. prov .. ':' .. cid
      local early = any_early and redis.call('GET', ek)
      if early then
        local est, ems, ereason = string.match(early, '^([^|]*)|([^|]*)|?(.*)$')
        if (est == 'delivered' or est == 'failed') and
           string.sub(redis.call('GET', mk) or '', 1, 5) == 'sent|' then
          local rec = est .. '|' .. prov .. '|' .. cid .. '|' .. attempt .. '|' .. ems
          if ereason ~= '' then rec = rec .. '|' .. ereason end
          redis.call('SET', mk, rec, 'KEEPTTL')
          if camp then camp_move_from(camp, 'sent', est) end
          if est == 'failed' then reminder_failed(key, id) end
        end
        redis.call('DEL', ek)
      end
    end
  elseif kind == 'r' then
    -- not again once another consumer finished it (a reclaimed lease)
    if owned == 1 and not final then
      requeue(lane, num, member, false)
      if prev then
        redis.call('SET', mk, 'retrying|' .. prov .. '||' .. attempt .. '|' .. nowstr .. '|' .. reason,
                   'KEEPTTL')
      end
    end
  elseif kind == 't' then
    if owned == 1 and not final then
      requeue(lane, sec, member, true)
    end
    local pk = 'gw:{q}:pause:' .. prov
    if redis.call('PTTL', pk) < tonumber(num) then
      redis.call('SET', pk, '1', 'PX', num)
    end
  elseif kind == 'd' then
    if not final then
      if camp then camp_move(camp, 'failed') end
      if num == '1' and owned == 1 then reminder_failed(reminder_member_key(member), id) end
      redis.call('LPUSH', 'gw:{q}:dead', nowstr .. '|' .. lane .. '|' .. reason .. '|' .. member)
      redis.call('SET', mk, 'failed|' .. prov .. '||' .. attempt .. '|' .. nowstr .. '|' .. reason,
                 'EX', ttl)
    elseif owned == 1 and string.sub(prev, 1, 7) == 'failed|' then
      redis.call('LPUSH', 'gw:{q}:dead', nowstr .. '|' .. lane .. '|' .. reason .. '|' .. member)
    end
  end
end
redis.call('LTRIM', 'gw:{q}:dead', 0, 99999)
if lost > 0 then
  redis.call('HINCRBY', 'gw:{q}:stats', 'lost_lease', lost)
end
local t = redis.call('TIME')     -- leases run on Redis' clock
redis.call('ZADD', 'gw:{q}:consumers', 'XX', t[1] * 1000 + math.floor(t[2] / 1000) + lease,
           consumer)
return lost
