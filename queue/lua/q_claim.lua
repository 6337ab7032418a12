-- q_claim.lua: hands due messages to one consumer (see queue/q.h).
-- Lane "reply" is always served before "bulk". Within a lane, buckets go in
-- due order and each bucket in FIFO order. When the provider is paused
-- (a throttle answer) nothing is handed out. With a rate, a message is
-- handed out only when the provider's token bucket holds its segments; the
-- bucket refills at RATE segments per second up to BURST. A message whose
-- status already says sent, delivered or failed (another consumer finished
-- it after a lease was reclaimed) is dropped here, not sent again.
--
-- Just before sending, a bulk message is checked again (DOMAIN: "the status
-- is checked again just before sending"):
--   * its phone (a reminder's: the one the roster has now, see below) is on
--     the opt-out list (gw:{q}:optout): skipped "opted_out";
--   * outside the send window (ARGV[8], the window's next opening, is later
--     than now): moved to that opening's bucket, not dropped (a one-off bulk
--     SMS too; the reply lane, answering a resident, goes at any hour);
-- and a reminder (a member whose EXTRA is "KIND,CAMPAIGN,PID,TAG", see
-- gateway/gw_campaign.h) also:
--   * its campaign was cancelled: skipped "cancelled";
--   * KIND u (unpaid contribution): the participant has paid since, has
--     gone from the roster, or (automatic reminders, TAG = the due date
--     they were scheduled for) has another due date: skipped "paid",
--     "removed", "rescheduled"; or owes no contribution any more (no
--     contribution year: a pensioner now): "no_contribution";
--   * KIND c / l / d (claim report: at once / the deadline's eve / the
--     last day; TAG = the incident's reference): the incident is no longer
--     "open" (reported): "reported"; l or d before the deadline's eve or
--     last day (the calendar moved the deadline later, and inc_recheck.lua
--     queued theirs for the new dates): "rescheduled";
--   * its deadline (c, l, d) or due date (u) has passed, or an eve's (l)
--     is late until the last day itself (that day's, the same text, goes):
--     "expired";
--   * KIND n (policy notice): the participant has gone: "removed";
--   * the roster has another phone for the person now: the reminder goes
--     to it, checked as one to it (opted out, duplicate), not to the old
--     one (a notice stays with the old one while someone it reaches is on
--     it, unless that one opted out or has had it);
--     but an automatic unpaid one (CAMPAIGN 0: the import queued one for
--     the new phone) is skipped "phone_changed", and one whose person has
--     no phone now "no_phone";
--   * the same reminder (kind and participant; for claims the incident and
--     stage; for notices the text and phone) went out within ARGV[9]
--     seconds (ten minutes at least): skipped "duplicate".
-- A skipped message gets status "skipped|...|REASON", is counted in
-- gw:{q}:stats (skipped_REASON) and moves its campaign's count from queued
-- to skipped. A held one (camp_push.lua: pending for another campaign when
-- it was queued, counted a duplicate; gw:{q}:held, id -> that campaign) is
-- sent only if that campaign was cancelled since (and no copy went), and
-- then becomes a recipient; skipped, it moves no count; due before that
-- campaign's send time, it waits until just after it. A reminder handed
-- out comes with what its text needs (the participant's fields, joined by
-- \31), rendered by the daemon.
-- Each handed-out message is recorded in the consumer's in-flight hash
-- (id -> "lane|member") and the consumer's lease is extended.
-- ARGV: now_ms, consumer, lease_ms, max, provider, rate, burst
--       [, window_next_ms (<= now_ms: inside the window), min_interval_s,
--       today (local YYYY-MM-DD)]
-- Returns {paused_ms, wait_ms, {lane, member, ...}, {bid, body|false, ...},
--          dropped, {data, ...} (one per handed-out message, "" for none),
--          members taken from due buckets (also skipped, deferred, dropped)}
local now, consumer, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local max, prov = tonumber(ARGV[4]), ARGV[5]
local rate, burst = tonumber(ARGV[6]), tonumber(ARGV[7])
local wnext = tonumber(ARGV[8] or '0') or 0
local minint = tonumber(ARGV[9] or '0') or 0
local today = ARGV[10] or ''          -- the local date, YYYY-MM-DD
local sec = math.floor(now / 1000)
local nowstr = ARGV[1]

local pttl = redis.call('PTTL', 'gw:{q}:pause:' .. prov)
if pttl > 0 then
  return {pttl, 0, {}, {}, 0, {}, 0}
end

local tbk = 'gw:{q}:tb:' .. prov
local tokens = 0
if rate > 0 then
  local t = redis.call('HMGET', tbk, 'tokens', 'ts')
  local ts
  tokens, ts = tonumber(t[1]), tonumber(t[2])
  if tokens == nil or ts == nil then
    tokens, ts = burst, now
  end
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  end
end

local any_held = redis.call('EXISTS', 'gw:{q}:held') == 1

local function camp_state(camp)
  if camp == '0' then return 'auto' end
  return redis.call('HGET', 'gw:{q}:camp:' .. camp, 'state') or 'gone'
end

-- Someone campaign CAMP reaches (its place, or its ids: the set beside
-- their list) on PHONE, other than participant PID: their fields, or nil.
local function household(camp, pid, phone)
  local c = redis.call('HMGET', 'gw:{q}:camp:' .. camp, 'source', 'key')
  local tw, vl = string.match(c[2] or '', '^([^\30]*)\30?(.*)$')
  for _, e in ipairs(phone_entries(redis.call('HGET', 'gw:pt:ph', phone))) do
    local f = participant_fields(e[2])
    if e[1] ~= pid and ((c[1] == 'place' and (tw == '' or f[4] == tw) and
                         (vl == '' or f[5] == vl)) or
                        (c[1] == 'list' and
                         redis.call('SISMEMBER', 'gw:{q}:camp:' .. camp .. ':idset', e[1]) == 1))
    then
      return f
    end
  end
  return nil
end

-- Days from 1970-01-01 to the date YMD ("YYYY-MM-DD"; 0 when it is not
-- one), in the proleptic Gregorian calendar.
local function day_number(ymd)
  local y, m, dd = string.match(ymd or '', '^(%d+)-(%d+)-(%d+)$')
  if not y then return 0 end
  y, m, dd = tonumber(y), tonumber(m), tonumber(dd)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + dd - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end

-- What to do with one member, from reads only: returns a table
-- {what = 'drop'|'skip'|'defer'|'send', ...} ('defer': again at second
-- until_s; held: waiting for another campaign, not for the send window).
local function judge(lane, m)
  local id, att, seg, phone, bid, ex =
    string.match(m, '^(%d+):(%d+):(%d+):([^:]*):([^:]+):?(.*)$')
  if id == nil then
    return {what = 'drop'}
  end
  local d = {id = id, att = att, seg = tonumber(seg) or 1, phone = phone, bid = bid, data = '',
             ex = ex}
  local st = redis.call('GET', 'gw:{q}:m:' .. id)
  if st and (string.sub(st, 1, 5) == 'sent|' or string.sub(st, 1, 10) == 'delivered|'
             or string.sub(st, 1, 7) == 'failed|') then
    d.what = 'drop'
    return d
  end
  if lane ~= 'bulk' then
    d.what = 'send'
    return d
  end
  local kind, camp, pid, tag
  if ex ~= '' then
    kind, camp, pid, tag = string.match(ex, '^(%a),(%d+),([^,]*),?(.*)$')
  end
  d.camp = camp
  if kind then
    -- what makes two reminders the same, and the mark its campaign left
    d.dkey = reminder_key(kind, pid, phone, tag)
    -- only a campaign marks its reminders pending (camp_push.lua); an
    -- automatic one (campaign 0) has no mark to drop
    if camp ~= '0' then d.pend = camp .. ':' .. pid end
    d.cstate = camp_state(camp)
    if d.cstate == 'cancelled' or d.cstate == 'gone' then
      d.what, d.reason = 'skip', 'cancelled'
      return d
    end
  end
  -- (a reminder's phone is checked once the roster's is known)
  if not kind and redis.call('HEXISTS', 'gw:{q}:optout', phone) == 1 then
    d.what, d.reason = 'skip', 'opted_out'
    return d
  end
  if wnext > now then
    d.what, d.until_s = 'defer', string.format('%d', math.floor(wnext / 1000))
    return d
  end
  if not kind then
    d.what = 'send'
    return d
  end
  local to      -- the phone the roster has for the person now
  if kind == 'u' or kind == 'n' then
    local f = participant(pid)
    local p = f and {f[1], f[2], f[6], f[7], f[8], f[9], f[10]} or {}
    if not p[1] then
      d.what, d.reason = 'skip', 'removed'
    elseif p[1] == '' and kind == 'u' then
      d.what, d.reason = 'skip', 'no_phone'
    elseif p[1] ~= phone and kind == 'u' and camp == '0' then
      -- (an automatic one: the import queued one for the new phone)
      d.what, d.reason = 'skip', 'phone_changed'
    elseif kind == 'u' and (tonumber(p[6]) or 0) > 0 then
      d.what, d.reason = 'skip', 'paid'
    elseif kind == 'u' and (tonumber(p[4]) or 0) <= 0 then
      d.what, d.reason = 'skip', 'no_contribution'
    elseif kind == 'u' and camp == '0' and tag ~= '' and tag ~= p[7] then
      d.what, d.reason = 'skip', 'rescheduled'
    elseif kind == 'u' and today ~= '' and p[7] ~= '' and p[7] < today then
      d.what, d.reason = 'skip', 'expired'
    end
    if d.what then return d end
    to = p[1]
    d.data = table.concat({p[2], p[3], p[4], p[5], p[6], p[7]}, '\31')
  else
    local inc = redis.call('HMGET', 'gw:inc:' .. tag, 'participant', 'kind', 'deadline', 'state',
                           'reminded_for', 'occurred_on')
    local f = participant(pid)
    local p = f and {f[1], f[2], f[6]} or {}
    if not inc[4] or not inc[3] or not p[1] or inc[1] ~= pid then
      d.what, d.reason = 'skip', 'removed'
    elseif inc[4] ~= 'open' then
      d.what, d.reason = 'skip', 'reported'
    elseif today ~= '' and (inc[3] < today or (kind == 'l' and inc[3] == today)) then
      -- (an eve's reminder late until the last day itself: that day's own
      -- one, the same text, goes)
      d.what, d.reason = 'skip', 'expired'
    elseif (kind == 'l' or kind == 'd') and today ~= '' and inc[5] == inc[3] and
           day_number(inc[3]) - day_number(today) > (kind == 'l' and 1 or 0) then
      -- before the eve or the last day: the deadline was moved later and
      -- its own reminders queued (inc_recheck.lua; without reminded_for, as
      -- an older version moved it, this one goes, naming the new date)
      d.what, d.reason = 'skip', 'rescheduled'
    elseif p[1] == '' then
      d.what, d.reason = 'skip', 'no_phone'
    end
    if d.what then return d end
    to = p[1]
    d.data = table.concat({p[2], p[3], inc[2], inc[3], tag, inc[6] or ''}, '\31')
  end
  -- The roster has another phone for the person now: the reminder goes
  -- there (checked as one to that phone), not to the old one. A notice goes
  -- to the phones the campaign's walk found (one per phone: the others on
  -- it were counted duplicates): it stays with the old phone, written for
  -- one of them, while someone the campaign reaches is on it, unless that
  -- phone opted out or has had it; else it follows the person.
  if kind == 'n' and to ~= phone then
    local stay = household(camp, pid, phone)
    if stay and redis.call('HEXISTS', 'gw:{q}:optout', phone) == 0 and
       (redis.call('GET', 'gw:{q}:last:' .. d.dkey) or id) == id then
      to = phone
      d.data = table.concat({stay[2], stay[6], stay[7], stay[8], stay[9], stay[10]}, '\31')
    elseif to == '' then
      d.what, d.reason = 'skip', 'no_phone'
      return d
    end
  end
  if redis.call('HEXISTS', 'gw:{q}:optout', to) == 1 then
    d.what, d.reason = 'skip', 'opted_out'
    return d
  end
  if to ~= phone then
    d.member = id .. ':' .. att .. ':' .. seg .. ':' .. to .. ':' .. bid .. ':' .. ex
    d.pend_key = d.dkey
    d.dkey = reminder_key(kind, pid, to, tag)
  end
  local last = redis.call('GET', 'gw:{q}:last:' .. d.dkey)
  if last and last ~= id then
    d.what, d.reason = 'skip', 'duplicate'
    return d
  end
  -- held for campaign OF: goes only if OF was cancelled (or is gone);
  -- otherwise OF's copy is the one that goes. Due before OF, it waits for
  -- OF's time (a second after it), so that OF cancelled meanwhile still
  -- leaves the person this copy.
  local of = any_held and camp ~= '0' and redis.call('HGET', 'gw:{q}:held', id)
  local ostate = of and camp_state(of)
  if of and ostate ~= 'cancelled' and ostate ~= 'gone' then
    local odue = tonumber(redis.call('HGET', 'gw:{q}:camp:' .. of, 'send_at_ms') or '') or 0
    if odue > now then
      d.what, d.until_s, d.held = 'defer', string.format('%d', math.floor(odue / 1000) + 1), true
      return d
    end
    d.what, d.reason = 'skip', 'duplicate'
    return d
  end
  d.what = 'send'
  return d
end

-- A reminder's pending mark goes once it is sent or skipped: a later
-- campaign may reach the person again (after an opt-in, a new phone).
local function drop_pend(d)
  local key = d.pend_key or d.dkey
  if key and d.pend then
    local v = redis.call('HGET', 'gw:{q}:pend', key)
    if v and string.sub(v, 1, #d.pend + 1) == d.pend .. ':' then
      redis.call('HDEL', 'gw:{q}:pend', key)
    elseif not v then
      -- an older version kept the mark as a key (idx_migrate.lua moves
      -- those that are left; this one must not come back)
      local pk = 'gw:{q}:pend:' .. key
      if redis.call('GET', pk) == d.pend then redis.call('DEL', pk) end
    end
  end
end

-- Moves D's campaign count FROM -> TO; a skip also counts its reason
-- (field skip_REASON: a coordinator sees why, e.g. paid since).
local function camp_move(d, from, to)
  if d.camp and d.camp ~= '0' and d.cstate ~= 'cancelled' and d.cstate ~= 'gone' then
    local ck = 'gw:{q}:camp:' .. d.camp
    redis.call('HINCRBY', ck, from, -1)
    redis.call('HINCRBY', ck, to, 1)
    if to == 'skipped' then redis.call('HINCRBY', ck, 'skip_' .. d.reason, 1) end
  end
end

-- Takes message D out of the held (true when it was held), and moves its
-- campaign's "held" count, unless the campaign is gone.
local function unhold(d)
  if not any_held or not d.camp or d.camp == '0' or
     redis.call('HDEL', 'gw:{q}:held', d.id) == 0 then
    return false
  end
  if d.cstate ~= 'gone' then
    redis.call('HINCRBY', 'gw:{q}:camp:' .. d.camp, 'held', -1)
  end
  return true
end

-- A held message about to go: a recipient of its campaign after all.
local function release(d)
  if d.cstate == 'gone' then return end
  local ck = 'gw:{q}:camp:' .. d.camp
  redis.call('HINCRBY', ck, 'skipped_duplicate', -1)
  redis.call('HINCRBY', ck, 'recipients', 1)
  redis.call('HINCRBY', ck, 'segments_total', d.seg)
  redis.call('HINCRBY', ck, 'queued', 1)
end

local flk = 'gw:{q}:fl:' .. consumer
local items, bodies, datas, seen = {}, {}, {}, {}
local wait, count, dropped = 0, 0, 0
-- The reply lane, then the bulk lane's claim reminders (their own buckets,
-- "prio": a member's legal window is not to wait behind a campaign's
-- backlog), then the rest of the bulk lane.
for _, src in ipairs({{'reply', 'reply'}, {'bulk', 'prio'}, {'bulk', 'bulk'}}) do
  local lane, key = src[1], src[2]
  local sk = 'gw:{q}:sched:' .. key
  while count < max and wait == 0 do
    local b = redis.call('ZRANGEBYSCORE', sk, '-inf', sec, 'LIMIT', 0, 1)
    if #b == 0 then
      break
    end
    local bk = 'gw:{q}:b:' .. key .. ':' .. b[1]
    local got = redis.call('LRANGE', bk, 0, max - count - 1)
    local take = 0
    for i = 1, #got do
      local m = got[i]
      local d = judge(lane, m)
      if d.what == 'send' and rate > 0 then
        -- a message of more parts than the bucket holds goes when it is
        -- full, and leaves it owing the rest (the rate holds on average):
        -- waiting for more than BURST would hold the lane for good
        local need = math.min(d.seg, burst)
        if need > tokens then
          wait = math.ceil((need - tokens) * 1000 / rate)
          break
        end
        tokens = tokens - d.seg
      end
      take = i
      if d.what == 'drop' then
        dropped = dropped + 1
      elseif d.what == 'skip' then
        redis.call('SET', 'gw:{q}:m:' .. d.id, 'skipped||||' .. nowstr .. '|' .. d.reason,
                   'EX', 604800)
        redis.call('HINCRBY', 'gw:{q}:stats', 'skipped_' .. d.reason, 1)
        if not unhold(d) then camp_move(d, 'queued', 'skipped') end
        drop_pend(d)
        -- Handed out before and back without going (the carrier throttled
        -- it, a clean stop): its own mark goes with it. After an attempt
        -- that may have reached the phone the mark stays.
        if d.att == '0' then reminder_failed(d.dkey, d.id) end
      elseif d.what == 'defer' then
        redis.call('RPUSH', 'gw:{q}:b:' .. key .. ':' .. d.until_s, m)
        redis.call('ZADD', sk, d.until_s, d.until_s)
        redis.call('HINCRBY', 'gw:{q}:n', lane, 1)
        -- its text is kept until then (and a week, as q_enqueue.lua keeps a
        -- body past its message's due time): a held one may wait days
        redis.call('EXPIRE', 'gw:{q}:body:' .. d.bid, tonumber(d.until_s) - sec + 604800, 'GT')
        if not d.held then redis.call('HINCRBY', 'gw:{q}:stats', 'deferred_window', 1) end
      else
        if unhold(d) then release(d) end
        if d.dkey then
          -- remembered for the interval, and ten minutes at least: with an
          -- interval of 0, a reminder queued twice (a roster corrected back
          -- and forth) still goes once
          redis.call('SET', 'gw:{q}:last:' .. d.dkey, d.id, 'EX', math.max(minint, 600))
          drop_pend(d)
        end
        redis.call('HSET', flk, d.id, lane .. '|' .. (d.member or m))
        items[#items + 1] = lane
        items[#items + 1] = d.member or m
        datas[#datas + 1] = d.data
        if not seen[d.bid] then
          seen[d.bid] = true
          bodies[#bodies + 1] = d.bid
          bodies[#bodies + 1] = redis.call('GET', 'gw:{q}:body:' .. d.bid)
        end
      end
    end
    if take > 0 then
      redis.call('LTRIM', bk, take, -1)
      redis.call('HINCRBY', 'gw:{q}:n', lane, -take)
    end
    if take == #got and redis.call('EXISTS', bk) == 0 then
      redis.call('ZREM', sk, b[1])
    end
    count = count + take
    if take < #got then
      break
    end
  end
end
if rate > 0 then
  redis.call('HSET', tbk, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', tbk, 3600000)
end
if dropped > 0 then
  redis.call('HINCRBY', 'gw:{q}:stats', 'dropped_done', dropped)
end
-- Leases run on Redis' clock, not the daemons' (which may differ, or be
-- moved by a test): one clock for every daemon's lease.
local t = redis.call('TIME')
redis.call('ZADD', 'gw:{q}:consumers', t[1] * 1000 + math.floor(t[2] / 1000) + lease, consumer)
return {0, wait, items, bodies, dropped, datas, count}
