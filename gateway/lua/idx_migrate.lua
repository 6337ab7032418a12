-- idx_migrate.lua: moves participants an older version kept (a hash each,
-- a hash per phone, sets per place; see lib_participant.lua, put before
-- this) to this version's hashes, ARGV[1] of them per call. They are popped
-- from the older versions' sets of everyone (gw:idx:all, then gw:idx:all:u,
-- :p and :o), so every daemon may run it at once and a stop halfway loses
-- nothing; the other old keys empty themselves (Redis drops an empty hash or
-- set). A participant this version has written meanwhile (an import) keeps
-- that record. With ARGV[1] 0 it only answers. Returns how many are left.
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
return left
