-- camp_scan.lua: one chunk of a campaign's recipients, read only (see
-- gateway/gw_campaign.h; how participants are kept: lib_participant.lua, put
-- before this). Walks one class's hash of participants with HSCAN (SOURCE
-- "place": KEY is "CLASS\30TOWNSHIP\30VILLAGE", either of those empty for
-- all of it), a started campaign's list of participant ids (SOURCE "list",
-- the cursor an index into it) or takes the participant ids given (SOURCE
-- "ids"), and sorts each participant into a recipient or a skip, as the
-- send-time checks of q_claim.lua would:
--   kind u (unpaid contribution): paid (contribution_paid > 0), past_due
--          (contribution_due before today), no_phone, opted_out, duplicate
--          (the same reminder sent within the minimum interval, or pending
--          for another campaign); participants with no contribution_year
--          (pensioners) are not counted at all; walking the paid class only
--          counts them;
--   kind n (policy notice): no_phone, opted_out, duplicate (this text went
--          to this phone within the interval, is pending, or reaches the
--          phone through an earlier participant of this run: household);
--   kind c (claim report): one recipient per open incident of a mutual-aid
--          member whose deadline is today or later, or a skip (no_phone,
--          opted_out, duplicate); members without one are not counted.
-- Pending for another campaign still going: a dry run counts it a
-- duplicate; a started campaign passes it on, and camp_push.lua counts it
-- so and queues it held (sent only if that campaign is cancelled by then).
-- A place walk reads up to COUNT participants of the place, and passes over
-- at most 20 times as many of other places per call. SOURCE "moved" (KEY
-- "LIST\30TOWNSHIP\30VILLAGE", the cursor an index into LIST) reads the
-- participants an import moved while a started place walk went on (see
-- participant_upsert.lua): those of the place; one already queued by this
-- campaign (its pending mark) is passed over uncounted.
-- ARGV: kind, source, key, cursor, count, campaign id ("" in a dry run),
--       today "YYYY-MM-DD", tag (kind n: the text's hash), seen key (kind n:
--       a set of phones of this run), seen_ttl_s, now_s (pending marks past
--       their time count as none; see camp_push.lua), ids...
-- Returns {next_cursor ("0" when done), {pid, phone, tag, data, ...},
--          paid, opted_out, no_phone, duplicate, unknown, past_due}; for
--          "moved" the cursor after the ids read, and a ninth element, 1
--          when the list had no more (else 0); a tenth: the first ten ids of
--          the chunk not in the roster.
-- DATA is what the text needs, fields joined by \31 (as q_claim.lua gives):
-- u, n: name, language, year, tier, paid, due; c: name, language, incident
-- kind, deadline, reference, the incident's date.
local kind, source, key, cursor = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, camp, today, tag = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local seen, seen_ttl, now = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local ids, fields = {}, {}        -- the participants to sort, and their fields
local nextc = '0'
local mtw, mvl, exhausted         -- source "moved": the place, and the end of the list
local paid = 0
if source == 'place' then
  local class, tw, vl = string.match(key, '^(%a)\30([^\30]*)\30(.*)$')
  local passed = 0
  repeat
    local r = redis.call('HSCAN', 'gw:pt:' .. class, cursor, 'COUNT', count)
    cursor = r[1]
    local kv = r[2]
    for i = 1, #kv, 2 do
      local f = participant_fields(kv[i + 1])
      if (tw == '' or f[4] == tw) and (vl == '' or f[5] == vl) then
        if class == 'p' and kind == 'u' then
          paid = paid + 1
        else
          ids[#ids + 1] = kv[i]
          fields[#ids] = f
        end
      else
        passed = passed + 1
      end
    end
  until cursor == '0' or #ids + paid >= count or passed >= 20 * count
  nextc = cursor
elseif source == 'list' then
  local from = tonumber(cursor)
  ids = redis.call('LRANGE', key, from, from + count - 1)
  if #ids == count then nextc = string.format('%d', from + count) end
elseif source == 'moved' then
  local list
  list, mtw, mvl = string.match(key, '^([^\30]*)\30([^\30]*)\30(.*)$')
  local from = tonumber(cursor)
  ids = redis.call('LRANGE', list, from, from + count - 1)
  nextc = string.format('%d', from + #ids)
  exhausted = #ids < count and 1 or 0
  for i, id in ipairs(ids) do
    if string.sub(id, 1, 1) == '~' then   -- counted paid at the start: counted here now
      ids[i] = string.sub(id, 2)
      paid = paid - 1
    end
  end
else
  for i = 12, #ARGV do ids[#ids + 1] = ARGV[i] end
end
if source ~= 'place' then
  local recs = participant_records(ids)
  for i, pid in ipairs(ids) do
    local rec = recs[i] or participant_old(pid)
    fields[i] = rec and participant_fields(rec) or false
  end
end
if source == 'moved' then             -- of the place, and not queued by this campaign yet
  local keep, kf = {}, {}
  for i, pid in ipairs(ids) do
    local f = fields[i]
    if f and f[2] and (mtw == '' or f[4] == mtw) and (mvl == '' or f[5] == mvl) then
      keep[#keep + 1], kf[#keep + 1] = pid, f
    end
  end
  ids, fields = keep, kf
end

-- One this campaign queued already (walked before it moved): source "moved".
local function mine(v, pid)
  return source == 'moved' and v ~= nil and v ~= false and
         string.sub(v, 1, #camp + #pid + 2) == camp .. ':' .. pid .. ':'
end
local out = {}
local optout, nophone, dup, unknown, pastdue = 0, 0, 0, 0, 0
local unknown_ids = {}            -- the first ten not in the roster, to name them

-- Pending for another campaign that is still going (not cancelled), given
-- the pending mark's value V ("CAMPAIGN:PID:UNTIL_S").
local function pending_elsewhere(v, pid)
  local who, untl = string.match(v or '', '^(.*):(%d+)$')
  if not who or tonumber(untl) < now or who == camp .. ':' .. pid then return false end
  local other = string.match(who, '^(%d+):')
  local st = other and redis.call('HGET', 'gw:{q}:camp:' .. other, 'state')
  return st and st ~= 'cancelled'
end

-- Kinds u and n: sorted by their fields first; the candidates' opt-outs,
-- last sends and pending marks are then read with one call each.
local cand, phones, lasts, pends = {}, {}, {}, {}
-- Kind c: each member's open incidents, one by one (few are open).
for i, pid in ipairs(ids) do
  local f = fields[i]
  if not f or not f[2] then
    unknown = unknown + 1
    if #unknown_ids < 10 then unknown_ids[#unknown_ids + 1] = pid end
  elseif kind == 'u' and (tonumber(f[7]) or 0) <= 0 then
    -- no contribution to remind of (a pensioner): not a recipient, not a skip
  elseif kind == 'c' then
    if f[14] == '1' then
      for _, ref in ipairs(redis.call('SMEMBERS', 'gw:{p:' .. pid .. '}:incidents')) do
        local inc = redis.call('HMGET', 'gw:inc:' .. ref, 'kind', 'deadline', 'state',
                               'occurred_on')
        local dkey = reminder_key('c', pid, f[1], ref)
        if inc[3] == 'open' and inc[2] and inc[2] >= today then
          if source == 'moved' and mine(redis.call('HGET', 'gw:{q}:pend', dkey), pid) then
            -- queued by this campaign already
          elseif f[1] == '' then
            nophone = nophone + 1    -- staff must reach them another way
          elseif redis.call('HEXISTS', 'gw:{q}:optout', f[1]) == 1 then
            optout = optout + 1
          elseif redis.call('EXISTS', 'gw:{q}:last:' .. dkey) == 1 or
                 (camp == '' and
                  pending_elsewhere(redis.call('HGET', 'gw:{q}:pend', dkey), pid)) then
            dup = dup + 1
          else
            out[#out + 1] = pid
            out[#out + 1] = f[1]
            out[#out + 1] = ref
            out[#out + 1] = table.concat({f[2], f[6], inc[1], inc[2], ref, inc[4] or ''}, '\31')
          end
        end
      end
    end
  elseif kind == 'u' and (tonumber(f[9]) or 0) > 0 then
    paid = paid + 1
  elseif kind == 'u' and f[10] ~= '' and today ~= '' and f[10] < today then
    pastdue = pastdue + 1     -- its last day to pay has gone: q_claim.lua would skip it
  elseif f[1] == '' then
    nophone = nophone + 1
  else
    local dkey = reminder_key(kind, pid, f[1], tag)
    cand[#cand + 1] = i
    phones[#phones + 1] = f[1]
    lasts[#lasts + 1] = 'gw:{q}:last:' .. dkey
    pends[#pends + 1] = dkey
  end
end
if #cand > 0 then
  local opted = redis.call('HMGET', 'gw:{q}:optout', unpack(phones))
  local sent = redis.call('MGET', unpack(lasts))
  local pending = (camp == '' or source == 'moved') and
                  redis.call('HMGET', 'gw:{q}:pend', unpack(pends)) or {}
  for k, i in ipairs(cand) do
    local pid, f = ids[i], fields[i]
    if mine(pending[k], pid) then
      -- queued by this campaign already
    elseif opted[k] then
      optout = optout + 1
    elseif sent[k] or (camp == '' and pending_elsewhere(pending[k], pid)) or
           (kind == 'n' and seen ~= '' and redis.call('SADD', seen, f[1]) == 0) then
      dup = dup + 1
    else
      out[#out + 1] = pid
      out[#out + 1] = f[1]
      out[#out + 1] = (kind == 'n') and tag or ''
      out[#out + 1] = table.concat({f[2], f[6], f[7], f[8], f[9], f[10]}, '\31')
    end
  end
end
if seen ~= '' then
  redis.call('EXPIRE', seen, seen_ttl)
end
return {nextc, out, paid, optout, nophone, dup, unknown, pastdue, exhausted or 0, unknown_ids}
