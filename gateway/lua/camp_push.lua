-- camp_push.lua: queues one chunk of a started campaign's recipients (see
-- gateway/gw_campaign.h) in the bulk lane at one due second, sharing the
-- campaign's body, and records the chunk's counts and the walk's cursor in
-- the campaign's record, so that a fan-out cut short (the daemon killed)
-- resumes after the last chunk queued. Each recipient's reminder is marked
-- pending (field DKEY of the hash gw:{q}:pend = "CAMPAIGN:PID:UNTIL_S"; a
-- mark past UNTIL_S counts as none) so that neither this campaign (HSCAN
-- may return a participant twice; a resumed chunk is walked again) nor
-- another sends it again. One pending for another campaign still going
-- counts as a duplicate, and is queued all the same, held (gw:{q}:held, id
-- -> that campaign; counted in the record's "held"): q_claim.lua sends it
-- only if that campaign was cancelled by then, and then counts it a
-- recipient. One hash, not a key per mark: a
-- county's campaign marks 100,000s at once. Nothing is queued once the
-- campaign is cancelled, or by a daemon that no longer owns its fan-out
-- (gw:{q}:camp:ID:owner, renewed here for OWNER_MS).
-- ARGV: campaign, kind, due_s, bid, pend_ttl_s, cursor, owner, owner_ms,
--       walked ("1": this was the last chunk), paid, opted_out, no_phone,
--       unknown, duplicate (the walk's skips), now_s, past_due (a skip too),
--       then groups of 4: pid, phone, segments, tag
-- Returns {queued, duplicate, first_id, segments, held (of the duplicates),
-- the most segments a queued one takes} or {-1} (cancelled) or {-2} (not the
-- owner).
local camp, kind, due, bid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, cursor, owner, owner_ms = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local now = tonumber(ARGV[15])
local ck = 'gw:{q}:camp:' .. camp
if redis.call('HGET', ck, 'state') ~= 'fanning_out' then
  return {-1}
end
local ok = 'gw:{q}:camp:' .. camp .. ':owner'
if redis.call('GET', ok) ~= owner then
  return {-2}
end
redis.call('PEXPIRE', ok, owner_ms)
local take = {}
local dup, segs, segmax = 0, 0, 0
local dkeys = {}
for i = 17, #ARGV, 4 do
  dkeys[#dkeys + 1] = reminder_key(kind, ARGV[i], ARGV[i + 1], ARGV[i + 3])
end
local marks = #dkeys > 0 and redis.call('HMGET', 'gw:{q}:pend', unpack(dkeys)) or {}
local mine_until = ':' .. string.format('%d', now + ttl)
local set = {}
for k, dkey in ipairs(dkeys) do
  local i = 17 + (k - 1) * 4
  local pid, phone, seg, tag = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local mine = camp .. ':' .. pid
  local v = set[dkey] or marks[k]    -- one marked earlier in this chunk (a household)
  local who, untl
  if v then who, untl = string.match(v, '^(.*):(%d+)$') end
  local take_it = false
  if not who or tonumber(untl) < now then
    take_it = true
  elseif who ~= mine then
    -- pending for a campaign since cancelled: not a duplicate any more
    local other = string.match(who, '^(%d+):')
    local st = other and redis.call('HGET', 'gw:{q}:camp:' .. other, 'state')
    if st == 'cancelled' or not st then
      take_it = true
    else
      dup = dup + 1
      -- another campaign's (not this one's: a household, a chunk walked
      -- again): held, in case that campaign is cancelled
      if other ~= camp then take[#take + 1] = {pid, phone, seg, tag, dkey, other} end
    end
  end
  if take_it then
    set[dkey] = mine .. mine_until
    take[#take + 1] = {pid, phone, seg, tag, dkey}
    local s = tonumber(seg) or 1
    segs = segs + s
    if s > segmax then segmax = s end
  end
end
if #take > 0 then
  local kv = {}
  for _, t in ipairs(take) do
    if not t[6] then
      kv[#kv + 1] = t[5]
      kv[#kv + 1] = set[t[5]]
    end
  end
  if #kv > 0 then redis.call('HSET', 'gw:{q}:pend', unpack(kv)) end
end
local all = #take
local held = {}
local first = 0
if all > 0 then
  local last = redis.call('INCRBY', 'gw:{q}:seq', all)
  first = last - all + 1
  local batch = {}
  for i, t in ipairs(take) do
    local id = string.format('%d', first + i - 1)
    batch[i] = id .. ':0:' .. t[3] .. ':' .. t[2] .. ':' .. bid ..
               ':' .. kind .. ',' .. camp .. ',' .. t[1] .. ',' .. t[4]
    if t[6] then
      held[#held + 1] = id
      held[#held + 1] = t[6]
    end
  end
  -- a claim campaign's reminders go ahead of the rest of the bulk lane
  local key = queue_key('bulk', batch[1])
  redis.call('RPUSH', 'gw:{q}:b:' .. key .. ':' .. due, unpack(batch))
  redis.call('ZADD', 'gw:{q}:sched:' .. key, due, due)
  redis.call('HINCRBY', 'gw:{q}:n', 'bulk', all)
end
local n = all - #held / 2
if #held > 0 then
  redis.call('HSET', 'gw:{q}:held', unpack(held))
  redis.call('HINCRBY', ck, 'held', #held / 2)
end
if n > 0 then
  redis.call('HINCRBY', ck, 'queued', n)
  redis.call('HINCRBY', ck, 'recipients', n)
  redis.call('HINCRBY', ck, 'segments_total', segs)
  if segmax > tonumber(redis.call('HGET', ck, 'segments_per_message') or '0') then
    redis.call('HSET', ck, 'segments_per_message', segmax)
  end
end
redis.call('HINCRBY', ck, 'skipped_paid', ARGV[10])
redis.call('HINCRBY', ck, 'skipped_opted_out', ARGV[11])
redis.call('HINCRBY', ck, 'skipped_no_phone', ARGV[12])
redis.call('HINCRBY', ck, 'skipped_past_due', ARGV[16])
redis.call('HINCRBY', ck, 'unknown', ARGV[13])
redis.call('HINCRBY', ck, 'skipped_duplicate', dup + tonumber(ARGV[14]))
-- An HSCAN cursor means something only to the Redis process that gave it
-- (a restarted or promoted one orders its hashes anew): the cursor is kept
-- with that process' run_id, and a fan-out resumed under another starts
-- its class over (gw_campaign_resume.c). Read at a fan-out's first chunk
-- only: a fan-out that loses its Redis connection ends, and the one that
-- takes it over has an owner token of its own.
if redis.call('HGET', ck, 'walk_owner') ~= owner then
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
  redis.call('HSET', ck, 'walk_run', run, 'walk_owner', owner)
end
redis.call('HSET', ck, 'cursor', cursor)
if ARGV[9] == '1' then
  redis.call('HSET', ck, 'walked', '1')    -- the last chunk: nothing left to walk
end
return {n, dup, first, segs, #held / 2, segmax}
