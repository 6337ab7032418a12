-- place_check.lua: whether a campaign's township and village are in the
-- roster, from gw:pt:places ("TOWNSHIP\31VILLAGE" -> "1" for every place
-- anyone has lived in; see lib_participant.lua). A village given alone is
-- looked for in every township. A county has a few hundred places, so the
-- hash is read whole.
-- ARGV: township ('' for none), village ('' for none).
-- Returns {code, names}, names sorted (at most ARGV[3] of them):
--   0 found: {township} (the one a village alone is in);
--   1 no such township: the roster's townships;
--   2 no such village in that township: its villages;
--   3 the village is in several townships: those townships;
--   4 no such village in any township: the roster's townships.
local tw, vl, most = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 30
local tws, seen, vls, has = {}, {}, {}, {}
for _, k in ipairs(redis.call('HKEYS', 'gw:pt:places')) do
  local t, v = string.match(k, '^([^\31]*)\31(.*)$')
  if t then
    if not seen[t] then
      seen[t] = true
      tws[#tws + 1] = t
    end
    if vl ~= '' and v == vl then has[#has + 1] = t end
    if t == tw and v ~= '' then vls[#vls + 1] = v end
  end
end

local function first(list)
  table.sort(list)
  local out = {}
  for i = 1, math.min(#list, most) do out[i] = list[i] end
  return out
end

if tw ~= '' then
  if not seen[tw] then return {1, first(tws)} end
  if vl == '' then return {0, {tw}} end
  for _, t in ipairs(has) do
    if t == tw then return {0, {tw}} end
  end
  return {2, first(vls)}
end
if #has == 1 then return {0, has} end
if #has > 1 then return {3, first(has)} end
return {4, first(tws)}
