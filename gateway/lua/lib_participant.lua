-- lib_participant.lua: how participants are kept, put (at build time) before
-- every script that reads or writes them.
--
-- A participant's record is its 14 fields (P_FIELDS) joined by \31 (unit
-- separator; the roster refuses control characters), amounts in fen as
-- decimal strings. Records live in three hashes, one per contribution class,
-- participant id -> record:
--   gw:pt:u  unpaid for contribution_year
--   gw:pt:p  paid
--   gw:pt:o  no contribution (pensioners)
-- so an unpaid-contribution campaign walks gw:pt:u alone (HSCAN, the record
-- comes with the id) and counts the paid with HLEN. The phone index gw:pt:ph
-- is one hash of E.164 number -> the entries of everyone on that phone,
-- "ID\31RECORD" joined by \30 (record separator): a USSD session's start is
-- one HGET. Automatic reminders' marks are gw:pt:auto, id -> "DUE|PHONE".
-- The places are gw:pt:places, "TOWNSHIP\31VILLAGE" -> "1" for every place
-- anyone of the roster has lived in (none is taken out): a campaign's
-- township or village is looked up there before the walk (place_check.lua).
-- Big hashes rather than keys per participant: an import writes a batch of
-- rows with a few calls whatever the rows' order (a key per participant and
-- per phone cost a call and a keyspace entry each, most of an import's time).
-- participant_upsert.lua is the only writer.
--
-- Versions before this one kept a hash per participant (gw:{p:ID}), a hash
-- per phone (gw:{ph:E164}) and sets per place (gw:idx:tw:..., gw:idx:vl:...,
-- gw:idx:all, and from the second version on split by class, ...:u|p|o).
-- Until idx_migrate.lua has moved them all (the sets gw:idx:all[:u|p|o] are
-- gone) a participant not found here is looked for there.
local P_FIELDS = {'ph', 'nm', 'id4', 'tw', 'vl', 'lg', 'yr', 'tier', 'paid', 'due',
                  'bal', 'pen', 'plast', 'aid'}
local P_CLASSES = {'u', 'p', 'o'}

-- The contribution class: 'u' unpaid for contribution_year, 'p' paid, 'o'
-- no contribution (pensioners).
local function participant_class(yr, paid)
  if (tonumber(yr) or 0) <= 0 then return 'o' end
  if (tonumber(paid) or 0) > 0 then return 'p' end
  return 'u'
end

-- The 14 fields of a record, in the order of P_FIELDS (one pattern match:
-- a campaign's walk takes apart every record it reads).
local P_SPLIT = '^' .. string.rep('([^\31]*)\31', #P_FIELDS - 1) .. '([^\31]*)$'
local function participant_fields(rec)
  local f = {string.match(rec, P_SPLIT)}
  if #f == #P_FIELDS then return f end
  f = {}                          -- damaged: what fields there are
  for v in string.gmatch(rec .. '\31', '([^\31]*)\31') do f[#f + 1] = v end
  return f
end

-- The phone of a record (its first field).
local function record_phone(rec)
  return string.match(rec, '^[^\31]*')
end

-- The place of a record, "TOWNSHIP\31VILLAGE" (its 4th and 5th fields), the
-- field of gw:pt:places; nil when the record is damaged.
local function record_place(rec)
  return string.match(rec, '^[^\31]*\31[^\31]*\31[^\31]*\31([^\31]*\31[^\31]*)')
end

-- Adds REC's place to LIST as a field and value of gw:pt:places, once (SEEN:
-- the places added already).
local function place_add(list, seen, rec)
  local pl = record_place(rec)
  if pl and not seen[pl] then
    seen[pl] = true
    list[#list + 1] = pl
    list[#list + 1] = '1'
  end
end

-- True while an older version's participants are left to move.
local function participant_old_left()
  return redis.call('EXISTS', 'gw:idx:all', 'gw:idx:all:u', 'gw:idx:all:p',
                    'gw:idx:all:o') > 0
end

-- An older version's record of participant ID, or nil (read only).
local function participant_old(id)
  local v = redis.call('HMGET', 'gw:{p:' .. id .. '}', unpack(P_FIELDS))
  if not v[2] then return nil end
  for i = 1, #v do v[i] = v[i] or '' end
  return table.concat(v, '\31')
end

-- Participant ID's record and class, or nil.
local function participant_record(id)
  for _, c in ipairs(P_CLASSES) do
    local r = redis.call('HGET', 'gw:pt:' .. c, id)
    if r then return r, c end
  end
  local r = participant_old(id)
  if r then
    local f = participant_fields(r)
    return r, participant_class(f[7], f[9])
  end
  return nil
end

-- Participant ID's fields, or nil.
local function participant(id)
  local r = participant_record(id)
  return r and participant_fields(r)
end

-- The records and classes of the ids in IDS (three calls whatever their
-- number): RECS[i] and CLS[i], nil for an id not found.
local function participant_records(ids)
  local recs, cls = {}, {}
  if #ids == 0 then return recs, cls end
  for _, c in ipairs(P_CLASSES) do
    for j = 1, #ids, 1000 do
      local v = redis.call('HMGET', 'gw:pt:' .. c, unpack(ids, j, math.min(j + 999, #ids)))
      for k = 1, #v do
        if v[k] and not recs[j + k - 1] then recs[j + k - 1], cls[j + k - 1] = v[k], c end
      end
    end
  end
  return recs, cls
end

-- The entries of a phone index value: a list of {id, record}.
local function phone_entries(v)
  local list = {}
  if not v then return list end
  for e in string.gmatch(v .. '\30', '([^\30]*)\30') do
    local id, rec = string.match(e, '^([^\31]*)\31(.*)$')
    if id then list[#list + 1] = {id, rec} end
  end
  return list
end

-- Takes participant ID out of an older version's keys (its hash, its
-- phone's hash, the place sets; its reminders' mark goes to gw:pt:auto) and
-- returns its record, or nil when it had none. The caller writes the record
-- where this version keeps it.
local function participant_unmigrate(id)
  local key = 'gw:{p:' .. id .. '}'
  local v = redis.call('HMGET', key, 'iv', unpack(P_FIELDS))
  local iv = table.remove(v, 1)
  redis.call('SREM', 'gw:idx:all', id)
  for _, c in ipairs(P_CLASSES) do redis.call('SREM', 'gw:idx:all:' .. c, id) end
  if not v[2] then return nil end
  for i = 1, #v do v[i] = v[i] or '' end
  local tw, place = v[4], v[4] .. '\31' .. v[5]
  if iv == '2' then
    local c = participant_class(v[7], v[9])
    redis.call('SREM', 'gw:idx:tw:' .. tw .. ':' .. c, id)
    redis.call('SREM', 'gw:idx:vl:' .. place .. ':' .. c, id)
  else
    redis.call('SREM', 'gw:idx:tw:' .. tw, id)
    redis.call('SREM', 'gw:idx:vl:' .. place, id)
  end
  if v[1] ~= '' then redis.call('HDEL', 'gw:{ph:' .. v[1] .. '}', id) end
  local mark = redis.call('GET', 'gw:{q}:auto:' .. id)
  if mark then
    redis.call('HSET', 'gw:pt:auto', id, mark)
    redis.call('DEL', 'gw:{q}:auto:' .. id)
  end
  redis.call('DEL', key)
  return table.concat(v, '\31')
end

