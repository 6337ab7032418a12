-- participants_by_phone.lua: every participant sharing one phone.
-- KEYS[1]  the phone index gw:{ph:E164}
-- Returns a flat array: for each participant (sorted by id) its id followed
-- by the 14 fields of participant_upsert.lua, missing values as ''.
local FIELDS = {'ph', 'nm', 'id4', 'tw', 'vl', 'lg', 'yr', 'tier', 'paid', 'due',
                'bal', 'pen', 'plast', 'aid'}
local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', 'gw:{p:' .. id .. '}', unpack(FIELDS))
  if v[2] then
    out[#out + 1] = id
    for i = 1, #FIELDS do out[#out + 1] = v[i] or '' end
  end
end
return out
