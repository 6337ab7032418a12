-- id_attempt.lua: one answer to the balance check (last four of the ID).
-- KEYS[1] gw:{p:ID}:idlock   KEYS[2] gw:{p:ID}:idfail
-- ARGV[1] '1' when the answer was right, else '0'; ARGV[2] now in ms;
-- ARGV[3] lock length in ms; ARGV[4] wrong answers that lock.
-- Returns {1, until_ms} already locked, {0, 0} right, {2, until_ms} this
-- answer locked it, {3, wrong_so_far} wrong but not locked yet. The counter
-- and the lock are the participant's, shared by every session and phone.
local locked = redis.call('GET', KEYS[1])
if locked then return {1, tonumber(locked)} end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2])
  return {0, 0}
end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
if n >= tonumber(ARGV[4]) then
  local until_ms = tonumber(ARGV[2]) + tonumber(ARGV[3])
  redis.call('SET', KEYS[1], string.format('%d', until_ms), 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return {2, until_ms}
end
return {3, n}
