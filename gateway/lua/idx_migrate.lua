-- idx_migrate.lua: moves participants an older version kept (a hash each,
-- a hash per phone, sets per place; see lib_participant.lua, put before
-- this) to this version's hashes, ARGV[1] of them per call. They are popped
-- from the older versions' sets of everyone (gw:idx:all, then gw:idx:all:u,
-- :p and :o), so every daemon may run it at once and a stop halfway loses
-- nothing; the other old keys empty themselves (Redis drops an empty hash or
-- set). A participant this version has written meanwhile (an import) keeps
-- that record. Then the pending marks of campaign reminders kept as keys
-- (gw:{q}:pend:DKEY = "CAMPAIGN:PID", with an expiry) become fields of the
-- hash gw:{q}:pend ("CAMPAIGN:PID:UNTIL_S", ARGV[2] the daemon's clock in
-- seconds), walked with SCAN (its place in gw:idx:pendmove, "done" at the
-- end). Then the places (below). With ARGV[1] 0 it only answers. Returns
-- how many participants are left, plus one while the marks are not all
-- moved, plus one while the places are not all kept.
local budget = tonumber(ARGV[1])
local sources = {'gw:idx:all', 'gw:idx:all:u', 'gw:idx:all:p', 'gw:idx:all:o'}

for _, set in ipairs(sources) do
  if budget <= 0 then break end
  for _, id in ipairs(redis.call('SPOP', set, budget)) do
    budget = budget - 1
    local rec = participant_unmigrate(id)
    if rec and not participant_records({id})[1] then
      local f = participant_fields(rec)
      redis.call('HSET', 'gw:pt:' .. participant_class(f[7], f[9]), id, rec)
      if f[1] ~= '' then
        local list = {}
        for _, e in ipairs(phone_entries(redis.call('HGET', 'gw:pt:ph', f[1]) or nil)) do
          if e[1] ~= id then list[#list + 1] = e[1] .. '\31' .. e[2] end
        end
        list[#list + 1] = id .. '\31' .. rec
        redis.call('HSET', 'gw:pt:ph', f[1], table.concat(list, '\30'))
      end
    end
  end
end
local left = 0
for _, set in ipairs(sources) do left = left + redis.call('SCARD', set) end

local marks = redis.call('GET', 'gw:idx:pendmove') or '0'
if left == 0 and marks ~= 'done' and budget > 0 then
  local now = tonumber(ARGV[2]) or 0
  repeat
    -- a hundred keys looked at a step, whatever they hold: a call over a
    -- keyspace of millions stays short
    local r = redis.call('SCAN', marks, 'MATCH', 'gw:{q}:pend:*', 'COUNT', 100)
    marks = r[1]
    budget = budget - 100
    for _, k in ipairs(r[2]) do
      local v, ttl = redis.pcall('GET', k), redis.call('TTL', k)
      if type(v) == 'string' and ttl > 0 then
        redis.call('HSETNX', 'gw:{q}:pend', string.sub(k, 13), v .. ':' .. (now + ttl))
      end
      redis.call('DEL', k)
    end
  until marks == '0' or budget <= 0
  if marks == '0' then marks = 'done' end
  redis.call('SET', 'gw:idx:pendmove', marks)
end
if marks ~= 'done' then left = left + 1 end

-- Then the places of a roster imported before they were kept (gw:pt:places,
-- see lib_participant.lua): the class hashes walked with HSCAN, where it is
-- in gw:idx:placemove ("CLASS:CURSOR:RUN_ID", "done" at the end). A cursor
-- means something only to the Redis process that gave it (a restart or a
-- failover reseeds the hashes), so under another run_id the walk starts
-- over. An import meanwhile adds the places it writes itself.
local places = redis.call('GET', 'gw:idx:placemove') or 'u:0:'
if left == 0 and places ~= 'done' and budget > 0 then
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
  local c, cur, was = string.match(places, '^(%a):(%d+):(%x*)$')
  if not c or was ~= run then c, cur = 'u', '0' end
  repeat
    local r = redis.call('HSCAN', 'gw:pt:' .. c, cur, 'COUNT', 100)
    cur = r[1]
    local put, seen = {}, {}
    for i = 2, #r[2], 2 do place_add(put, seen, r[2][i]) end
    if #put > 0 then redis.call('HSET', 'gw:pt:places', unpack(put)) end
    budget = budget - math.max(#r[2] / 2, 10)
    if cur == '0' then
      c = c == 'u' and 'p' or c == 'p' and 'o' or nil
    end
  until not c or budget <= 0
  places = c and (c .. ':' .. cur .. ':' .. run) or 'done'
  redis.call('SET', 'gw:idx:placemove', places)
end
if places ~= 'done' then left = left + 1 end
return left
