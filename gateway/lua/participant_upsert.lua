-- participant_upsert.lua: inserts or updates participants of the roster, a
-- batch of rows per call. How participants are kept: lib_participant.lua,
-- put before this; this script is their only writer.
-- ARGV[1] is the number of rows; each row is then its argument count
-- followed by its arguments: id, record (the 14 fields joined), phone,
-- contribution class, contribution_due, '1' when automatic unpaid-
-- contribution reminders apply (unpaid for a contribution year, with a phone
-- and a due date) else '0'; then, when reminders are to be queued, their SMS
-- parts and due seconds (computed by the daemon from [reminders]
-- unpaid_offsets_days and the send window). The daemon derives phone, class
-- and due date from the same fields as the record, so this script need not
-- take it apart.
-- Reminders are queued (bulk lane, EXTRA "u,0,ID,DUE", body
-- gw:{q}:body:auto_u) once per due date and phone, remembered in gw:pt:auto;
-- a participant who has paid forgets it (queued ones are skipped when their
-- time comes).
-- The batch is read with a few calls (the rows' records, marks and phones),
-- decided row by row in order (a participant given twice ends as its last
-- row says), and written with a few calls: what a participant ends as, once.
-- While a campaign walks the class hashes (gw:{q}:camp:fanning), a
-- participant this batch adds, or moves into a class the walk has done or
-- is doing from one it has not begun, could be passed over: their ids are
-- appended to gw:{q}:camp:ID:moved, which the walk reads last (see
-- gateway/gw_campaign.c).
-- Returns, per row, 1 when the participant is new, 2 when a field changed,
-- 0 when nothing changed, -1 when it failed.

local nrows = tonumber(ARGV[1])
local rb, rn, ids = {}, {}, {}    -- row r: its first argument, their count, its id
local b = 2
for r = 1, nrows do
  local n = tonumber(ARGV[b])
  rb[r], rn[r], ids[r] = b + 1, n, ARGV[b + 1]
  b = b + n + 1
end

-- What each participant is: as stored when first met (init_rec, init_c),
-- and as the rows so far leave it (cur_rec, cur_c); false for none.
local init_rec, init_c, cur_rec, cur_c = {}, {}, {}, {}
local order = {}                  -- ids in first-met order
local recs, cls = participant_records(ids)
local old_left = participant_old_left()
for r = 1, nrows do
  local id = ids[r]
  if init_rec[id] == nil then
    local rec, c = recs[r] or false, cls[r] or false
    init_rec[id], init_c[id] = rec, c
    if not rec and old_left then
      -- an older version's: out of its keys, into this version's below
      rec = participant_unmigrate(id) or false
    end
    cur_rec[id], cur_c[id] = rec, c
    order[#order + 1] = id
  end
end

-- Marks are read for those that may have one or need one: only the unpaid
-- of a contribution year (class u; the daemon says '1' for them alone) ever
-- get one, and it goes when they no longer are.
local marks = {}                  -- id -> mark (false: none)
local marks_new = {}              -- id -> true: to be written (or deleted)
do
  local look = {}
  for r = 1, nrows do
    local id = ids[r]
    if marks[id] == nil and (ARGV[rb[r] + 5] == '1' or init_c[id] == 'u' or
                             (cur_rec[id] and not init_rec[id])) then
      marks[id] = false
      look[#look + 1] = id
    end
  end
  for j = 1, #look, 1000 do
    local v = redis.call('HMGET', 'gw:pt:auto', unpack(look, j, math.min(j + 999, #look)))
    for k = 1, #v do marks[look[j + k - 1]] = v[k] or false end
  end
end

local pushes, secs = {}, {}       -- due second -> reminder members without their id
local npush = 0

-- The automatic reminders of row R (first argument at ARGV[b], N of them).
local function schedule(b, n)
  local id, phone, due = ARGV[b], ARGV[b + 2], ARGV[b + 4]
  if ARGV[b + 5] ~= '1' then
    if marks[id] then
      marks[id] = false
      marks_new[id] = true
    end
    return
  end
  local mark = due .. '|' .. phone
  if n < 8 then
    -- none to queue (already past, or none configured): a mark of another
    -- due date or phone goes, so that the right row, imported again (last
    -- year's file taken by mistake, then this year's), is scheduled anew
    if marks[id] and marks[id] ~= mark then
      marks[id] = false
      marks_new[id] = true
    end
    return
  end
  if marks[id] == mark then return end
  local tail = ':0:' .. ARGV[b + 6] .. ':' .. phone .. ':auto_u:u,0,' .. id .. ',' .. due
  for i = b + 7, b + n - 1 do
    local sec = ARGV[i]
    local l = pushes[sec]
    if l == nil then
      l = {}
      pushes[sec] = l
      secs[#secs + 1] = sec
    end
    l[#l + 1] = tail
    npush = npush + 1
  end
  marks[id] = mark
  marks_new[id] = true
end

local function upsert(r)
  local b = rb[r]
  local id, rec = ARGV[b], ARGV[b + 1]
  local old = cur_rec[id]
  local result = 2
  if old == rec then result = 0 elseif not old then result = 1 end
  cur_rec[id], cur_c[id] = rec, ARGV[b + 3]
  schedule(b, rn[r])
  return result
end

-- Calls CMD KEY with the values of list L, at most 1000 at a time.
local function call_list(cmd, key, l)
  for j = 1, #l, 1000 do
    redis.call(cmd, key, unpack(l, j, math.min(j + 999, #l)))
  end
end

-- The fields that decide whether a walk reaches someone: phone, township, village.
local function reach(rec)
  local f = participant_fields(rec)
  return f[1] .. '\31' .. (f[4] or '') .. '\31' .. (f[5] or '')
end

-- Appends to each fanning campaign's list of moved participants those its
-- walk could pass over (see the header): a class walk has done the classes
-- before KIDX (0-based, from its cursor "KIDX:CURSOR") and is doing KIDX.
-- Also those who stay in a class done or being done but get a phone or
-- another place. "~ID": counted paid at the start (an unpaid reminder to
-- everyone counts the paid with HLEN, and marks its record paid_counted in
-- the same step), so the walk takes that back.
local function note_moves()
  local fan = redis.call('SMEMBERS', 'gw:{q}:camp:fanning')
  for _, camp in ipairs(fan) do
    local v = redis.call('HMGET', 'gw:{q}:camp:' .. camp, 'state', 'source', 'classes', 'cursor',
                         'kind', 'paid_counted')
    if v[1] == 'fanning_out' and v[2] == 'place' and v[3] and v[3] ~= '-' then
      local doing = (tonumber(string.match(v[4] or '', '^(%d+):')) or 0) + 1   -- 1-based
      local list = {}
      for _, id in ipairs(order) do
        local ic, c, rec, irec = init_c[id], cur_c[id], cur_rec[id], init_rec[id]
        local to = c and string.find(v[3], c, 1, true)
        if to and to <= doing then
          local from = ic and string.find(v[3], ic, 1, true)
          if c ~= ic and (not from or from >= doing) then
            local paid_at_start = ic == 'p' and v[3] == 'u' and v[5] == 'u' and v[6] == '1'
            list[#list + 1] = (paid_at_start and '~' or '') .. id
          elseif c == ic and irec and rec ~= irec and reach(rec) ~= reach(irec) then
            list[#list + 1] = id
          end
        end
      end
      call_list('RPUSH', 'gw:{q}:camp:' .. camp .. ':moved', list)
    end
  end
end

-- Writes what the participants end as: the phones they left and joined,
-- the reminders (one range of the queue's ids), their marks, and last the
-- records by class.
local function finish()
  note_moves()
  -- a roster begun by this version keeps its places from the start: none
  -- to find later (idx_migrate.lua)
  if redis.call('EXISTS', 'gw:idx:placemove') == 0 and
     redis.call('EXISTS', 'gw:pt:u', 'gw:pt:p', 'gw:pt:o') == 0 and
     not participant_old_left() then
    redis.call('SET', 'gw:idx:placemove', 'done')
  end
  local sets, dels = {u = {}, p = {}, o = {}}, {u = {}, p = {}, o = {}}
  -- phone -> {id -> record|false}, the phones in the order touched
  local phones, touched = {}, {}
  local places, place_list = {}, {}   -- the places written, once each
  local function touch(ph, id, rec)
    if ph == '' then return end
    local t = phones[ph]
    if t == nil then
      t = {}
      phones[ph] = t
      touched[#touched + 1] = ph
    end
    t[id] = rec
  end
  for _, id in ipairs(order) do
    local irec, ic, rec, c = init_rec[id], init_c[id], cur_rec[id], cur_c[id]
    if c and (rec ~= irec or c ~= ic) then
      local l = sets[c]
      l[#l + 1] = id
      l[#l + 1] = rec
      if ic and ic ~= c then table.insert(dels[ic], id) end
      local ph = record_phone(rec)
      if irec and record_phone(irec) ~= ph then touch(record_phone(irec), id, false) end
      touch(ph, id, rec)
      place_add(place_list, places, rec)
    end
  end
  call_list('HSET', 'gw:pt:places', place_list)
  if #touched > 0 then
    local v = redis.call('HMGET', 'gw:pt:ph', unpack(touched))
    local put, gone = {}, {}
    for i, ph in ipairs(touched) do
      local t, list = phones[ph], {}
      if v[i] then
        for _, e in ipairs(phone_entries(v[i])) do
          if t[e[1]] == nil then list[#list + 1] = e[1] .. '\31' .. e[2] end
        end
      end
      for id, rec in pairs(t) do
        if rec then list[#list + 1] = id .. '\31' .. rec end
      end
      if #list > 0 then
        put[#put + 1] = ph
        put[#put + 1] = #list == 1 and list[1] or table.concat(list, '\30')
      else
        gone[#gone + 1] = ph
      end
    end
    call_list('HSET', 'gw:pt:ph', put)
    call_list('HDEL', 'gw:pt:ph', gone)
  end
  if npush > 0 then
    redis.call('SET', 'gw:{q}:body:auto_u', 'tunpaid_reminder')
    local mid = redis.call('INCRBY', 'gw:{q}:seq', npush) - npush
    for _, sec in ipairs(secs) do
      local l = pushes[sec]
      for j = 1, #l do
        mid = mid + 1
        l[j] = string.format('%d', mid) .. l[j]
      end
      call_list('RPUSH', 'gw:{q}:b:bulk:' .. sec, l)
      redis.call('ZADD', 'gw:{q}:sched:bulk', sec, sec)
    end
    redis.call('HINCRBY', 'gw:{q}:n', 'bulk', npush)
  end
  local mset, mdel = {}, {}
  for _, id in ipairs(order) do
    if marks_new[id] then
      if marks[id] then
        mset[#mset + 1] = id
        mset[#mset + 1] = marks[id]
      else
        mdel[#mdel + 1] = id
      end
    end
  end
  call_list('HSET', 'gw:pt:auto', mset)
  call_list('HDEL', 'gw:pt:auto', mdel)
  -- the records last: a record as stored is what says "nothing changed" to
  -- the next import, so everything else must be written before it
  for _, k in ipairs(P_CLASSES) do
    call_list('HSET', 'gw:pt:' .. k, sets[k])
    call_list('HDEL', 'gw:pt:' .. k, dels[k])
  end
end

local out = {}
for r = 1, nrows do
  local ok, res = pcall(upsert, r)
  if ok then out[r] = res else out[r] = -1 end
end
if not pcall(finish) then
  -- not all of the batch is written: every row is reported failed, and
  -- importing again (idempotent) completes it
  for r = 1, #out do out[r] = -1 end
end
return out
