-- camp_scan.lua: one chunk of a campaign's recipients, read only (see
-- gateway/gw_campaign.h). Walks a roster index with SSCAN (SOURCE "set"), a
-- started campaign's list of participant ids (SOURCE "list", the cursor an
-- index into it) or takes the participant ids given (SOURCE "ids"), and sorts each participant
-- into a recipient or a skip, as the send-time checks of q_claim.lua would:
--   kind u (unpaid contribution): paid (contribution_paid > 0), no_phone,
--          opted_out, duplicate; participants with no contribution_year
--          (pensioners) are not counted at all (the same reminder sent within the minimum
--          interval, or already pending from another campaign);
--   kind n (policy notice): no_phone, opted_out, duplicate (this text went
--          to this phone within the interval, is pending, or reaches the
--          phone through an earlier participant of this run: household);
--   kind c (claim report): one recipient per open incident of a mutual-aid
--          member whose deadline is today or later; others are not counted.
-- ARGV: kind, source, key|"" (set source), cursor, count, campaign id ("" in
--       a dry run), today "YYYY-MM-DD", tag (kind n: the text's hash),
--       seen key (kind n: a set of phones of this run), seen_ttl_s, ids...
-- Returns {next_cursor ("0" when done), {pid, phone, tag, data, ...},
--          paid, opted_out, no_phone, duplicate, unknown}
-- DATA is what the text needs, fields joined by \31 (as q_claim.lua gives):
-- u, n: name, language, year, tier, paid, due; c: name, language, incident
-- kind, deadline, reference.
local kind, source, key, cursor = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, camp, today, tag = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local seen, seen_ttl = ARGV[9], tonumber(ARGV[10])
local ids
local nextc = '0'
if source == 'set' then
  local r = redis.call('SSCAN', key, cursor, 'COUNT', count)
  nextc, ids = r[1], r[2]
elseif source == 'list' then
  local from = tonumber(cursor)
  ids = redis.call('LRANGE', key, from, from + count - 1)
  if #ids == count then nextc = string.format('%d', from + count) end
else
  ids = {}
  for i = 11, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
local paid, optout, nophone, dup, unknown = 0, 0, 0, 0, 0

-- Pending for another campaign that is still going (not cancelled).
local function pending_elsewhere(dkey, pid)
  local v = redis.call('GET', 'gw:{q}:pend:' .. dkey)
  if not v or v == camp .. ':' .. pid then return false end
  local other = string.match(v, '^(%d+):')
  local st = other and redis.call('HGET', 'gw:{q}:camp:' .. other, 'state')
  return st and st ~= 'cancelled'
end

for _, pid in ipairs(ids) do
  local p = redis.call('HMGET', 'gw:{p:' .. pid .. '}', 'ph', 'nm', 'lg', 'yr', 'tier', 'paid',
                       'due', 'aid')
  if not p[2] then
    unknown = unknown + 1
  elseif kind == 'u' and (tonumber(p[4]) or 0) <= 0 then
    -- no contribution to remind of (a pensioner): not a recipient, not a skip
  elseif kind == 'c' then
    if p[8] == '1' and p[1] ~= '' then
      for _, ref in ipairs(redis.call('SMEMBERS', 'gw:{p:' .. pid .. '}:incidents')) do
        local inc = redis.call('HMGET', 'gw:inc:' .. ref, 'kind', 'deadline', 'state')
        if inc[3] == 'open' and inc[2] and inc[2] >= today then
          if redis.call('HEXISTS', 'gw:{q}:optout', p[1]) == 1 then
            optout = optout + 1
          elseif redis.call('EXISTS', 'gw:{q}:last:c:' .. ref) == 1 or
                 pending_elsewhere('c:' .. ref, pid) then
            dup = dup + 1
          else
            out[#out + 1] = pid
            out[#out + 1] = p[1]
            out[#out + 1] = ref
            out[#out + 1] = table.concat({p[2], p[3], inc[1], inc[2], ref}, '\31')
          end
        end
      end
    end
  elseif kind == 'u' and (tonumber(p[6]) or 0) > 0 then
    paid = paid + 1
  elseif p[1] == '' then
    nophone = nophone + 1
  elseif redis.call('HEXISTS', 'gw:{q}:optout', p[1]) == 1 then
    optout = optout + 1
  else
    local dkey
    if kind == 'u' then dkey = 'u:' .. pid else dkey = 'n:' .. tag .. ':' .. p[1] end
    if redis.call('EXISTS', 'gw:{q}:last:' .. dkey) == 1 or pending_elsewhere(dkey, pid) or
       (kind == 'n' and seen ~= '' and redis.call('SADD', seen, p[1]) == 0) then
      dup = dup + 1
    else
      out[#out + 1] = pid
      out[#out + 1] = p[1]
      out[#out + 1] = (kind == 'n') and tag or ''
      out[#out + 1] = table.concat({p[2], p[3], p[4], p[5], p[6], p[7]}, '\31')
    end
  end
end
if seen ~= '' then
  redis.call('EXPIRE', seen, seen_ttl)
end
return {nextc, out, paid, optout, nophone, dup, unknown}
