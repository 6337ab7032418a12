-- participant_upsert.lua: inserts or updates participants of the roster, a
-- batch of rows per call (an import sends them in groups: one call's
-- overhead, and its MULTI/EXEC in the append-only file, per group, not per
-- row). ARGV[1] is the number of rows; each row is then its argument count
-- followed by its arguments, called A below:
-- A[1] participant id; A[2..15] the fields in the order of FIELDS. The
-- participant's hash is gw:{p:ID}.
-- Keeps the phone index, the township and village indexes and the set of all
-- participants in step with the hash. The place indexes are split by what a
-- campaign needs to know of the contribution, the class C: 'u' unpaid for
-- contribution_year, 'p' paid, 'o' no contribution (pensioners):
-- gw:idx:tw:TOWNSHIP:C, gw:idx:vl:TOWNSHIP\31VILLAGE:C, gw:idx:all:C; so an
-- unpaid-contribution campaign walks only the unpaid and counts the paid
-- with SCARD. The hash's field iv (index version, 2) says its indexes are
-- in this form; a participant indexed by an older version is moved on its
-- next import even when nothing else changed. The phone index gw:{ph:E164} is a hash
-- of participant id -> the same 14 fields joined by \31 (unit separator; the
-- roster refuses control characters): a copy, so that a USSD session's start
-- reads everyone on a phone with one HGETALL. This script is the only writer
-- of participants; anything that changes one must go through it.
-- A[16] (optional): the SMS parts of an automatic unpaid-contribution
-- reminder, A[17] until when (Unix seconds, after the due date) the mark
-- that they are queued lasts, A[18..] the due seconds of those reminders
-- (computed by the daemon from [reminders] unpaid_offsets_days and the send
-- window). They are queued (bulk lane, EXTRA "u,0,ID,DUE", body
-- gw:{q}:body:auto_u) once per due date and phone, remembered in
-- gw:{q}:auto:ID; a participant who has paid forgets it (queued ones are
-- skipped when their time comes).
-- Returns, per row, 1 when the participant is new, 2 when a field changed,
-- 0 when nothing changed, -1 when it failed.
local FIELDS = {'ph', 'nm', 'id4', 'tw', 'vl', 'lg', 'yr', 'tier', 'paid', 'due',
                'bal', 'pen', 'plast', 'aid'}
local IV = '2'

-- 'u', 'p' or 'o' from contribution_year and contribution_paid (fen)
local function class(yr, paid)
  if (tonumber(yr) or 0) <= 0 then return 'o' end
  if (tonumber(paid) or 0) > 0 then return 'p' end
  return 'u'
end

local function upsert(A)
  local id = A[1]
  local key = 'gw:{p:' .. id .. '}'
  local function schedule()
    local ak = 'gw:{q}:auto:' .. id
    local phone, paid, due = A[2], tonumber(A[10]) or 0, A[11]
    if paid > 0 or phone == '' or due == '' then
      redis.call('DEL', ak)
      return
    end
    if #A < 18 then return end
    local mark = due .. '|' .. phone
    if redis.call('GET', ak) == mark then return end
    redis.call('SET', 'gw:{q}:body:auto_u', 'tunpaid_reminder')
    local seg, last = A[16], tonumber(A[17]) or 0
    local n = #A - 17
    local top = redis.call('INCRBY', 'gw:{q}:seq', n)
    for i = 18, #A do
      local sec = A[i]
      local mid = string.format('%d', top - n + i - 17)
      redis.call('RPUSH', 'gw:{q}:b:bulk:' .. sec,
                 mid .. ':0:' .. seg .. ':' .. phone .. ':auto_u:u,0,' .. id .. ',' .. due)
      redis.call('ZADD', 'gw:{q}:sched:bulk', sec, sec)
      if tonumber(sec) > last then last = tonumber(sec) end
    end
    redis.call('HINCRBY', 'gw:{q}:n', 'bulk', n)
    redis.call('SET', ak, mark, 'EXAT', last + 86400)
  end

  local old = redis.call('HMGET', key, 'iv', unpack(FIELDS))
  local iv = table.remove(old, 1)
  local existed = old[2] ~= false
  if existed and iv == IV then
    local same = true
    for i = 1, #FIELDS do
      if old[i] ~= A[i + 1] then same = false break end
    end
    if same then
      schedule()
      return 0
    end
  end
  local function place(tw, vl) return tw .. '\31' .. vl end
  local c = class(A[8], A[10])
  if existed then
    if old[1] ~= A[2] and old[1] ~= '' then
      redis.call('HDEL', 'gw:{ph:' .. old[1] .. '}', id)
    end
    if iv ~= IV then
      -- indexed by an older version: one set per place, not split by class
      redis.call('SREM', 'gw:idx:tw:' .. old[4], id)
      redis.call('SREM', 'gw:idx:vl:' .. place(old[4], old[5]), id)
      redis.call('SREM', 'gw:idx:all', id)
    else
      local oc = class(old[7], old[9])
      if old[4] ~= A[5] or oc ~= c then
        redis.call('SREM', 'gw:idx:tw:' .. old[4] .. ':' .. oc, id)
      end
      if place(old[4], old[5]) ~= place(A[5], A[6]) or oc ~= c then
        redis.call('SREM', 'gw:idx:vl:' .. place(old[4], old[5]) .. ':' .. oc, id)
      end
      if oc ~= c then
        redis.call('SREM', 'gw:idx:all:' .. oc, id)
      end
    end
  end
  local kv = {'iv', IV}
  for i = 1, #FIELDS do
    kv[#kv + 1] = FIELDS[i]
    kv[#kv + 1] = A[i + 1]
  end
  redis.call('HSET', key, unpack(kv))
  if A[2] ~= '' then
    redis.call('HSET', 'gw:{ph:' .. A[2] .. '}', id, table.concat(A, '\31', 2, #FIELDS + 1))
  end
  redis.call('SADD', 'gw:idx:tw:' .. A[5] .. ':' .. c, id)
  redis.call('SADD', 'gw:idx:vl:' .. place(A[5], A[6]) .. ':' .. c, id)
  redis.call('SADD', 'gw:idx:all:' .. c, id)
  schedule()
  if existed then return 2 end
  return 1
end

local out = {}
local i = 2
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[i])
  -- one row's error fails that row only (what it wrote stays written)
  local ok, res = pcall(upsert, {unpack(ARGV, i + 1, i + n)})
  if ok then out[r] = res else out[r] = -1 end
  i = i + n + 1
end
return out
