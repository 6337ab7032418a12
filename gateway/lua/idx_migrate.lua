-- idx_migrate.lua: moves participants indexed the old way (one set per place,
-- gw:idx:tw:TOWNSHIP, gw:idx:vl:TOWNSHIP\31VILLAGE, gw:idx:all) to the
-- indexes split by contribution class that campaigns walk (see
-- participant_upsert.lua), ARGV[1] participants per call. It pops them from
-- the old gw:idx:all, so every daemon may run it at once and a stop halfway
-- loses nothing; the old place sets empty themselves (Redis drops an empty
-- set). Returns how many are left.
local function class(yr, paid)
  if (tonumber(yr) or 0) <= 0 then return 'o' end
  if (tonumber(paid) or 0) > 0 then return 'p' end
  return 'u'
end
for _, id in ipairs(redis.call('SPOP', 'gw:idx:all', tonumber(ARGV[1]))) do
  local key = 'gw:{p:' .. id .. '}'
  local f = redis.call('HMGET', key, 'tw', 'vl', 'yr', 'paid', 'iv')
  if f[1] then
    local place = f[1] .. '\31' .. (f[2] or '')
    redis.call('SREM', 'gw:idx:tw:' .. f[1], id)
    redis.call('SREM', 'gw:idx:vl:' .. place, id)
    if f[5] ~= '2' then
      local c = class(f[3], f[4])
      redis.call('SADD', 'gw:idx:tw:' .. f[1] .. ':' .. c, id)
      redis.call('SADD', 'gw:idx:vl:' .. place .. ':' .. c, id)
      redis.call('SADD', 'gw:idx:all:' .. c, id)
      redis.call('HSET', key, 'iv', '2')
    end
  end
end
return redis.call('SCARD', 'gw:idx:all')
