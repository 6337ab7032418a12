-- ops/bench/ussd.lua - wrk script for ops/bench/ussd: Africa's Talking USSD hops.
--
-- Each wrk thread plays sessions of two hops: a first hop (text "") and then a
-- main-menu choice, "1" (contribution status) and "3" (pension) in turn, so the hops
-- are first / "1" / first / "3" / ... A session's second hop is sent only after at
-- least GW_BENCH_LAG other requests (2 x connections), so its first hop has almost
-- surely been answered on whichever connection carried it. Phones come from the file
-- GW_BENCH_PHONES (one E.164 number a line, from ops/gen_roster.py --phones-out).
-- done() prints one "GWBENCH key=value ..." line that ops/bench/ussd reads.
-- The global id (set by setup) is per thread, as wrk gives each thread its own
-- Lua state.

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
   table.insert(threads, thread)
end

local phones = {}
local prefix                -- request line and headers up to Content-Length's value
local lag = 128
local counter = 0
local pending = {}          -- sessions waiting for their second hop: {session, phone, choice, at}
local head, tail = 1, 0
local choices = {"1", "3"}
local started = 0
local run = tostring(os.time())   -- session ids differ from one run to the next

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
   local path = os.getenv("GW_BENCH_PHONES") or "phones.txt"
   local f = assert(io.open(path, "r"), "cannot open " .. path)
   for line in f:lines() do
      if #line > 0 then phones[#phones + 1] = urlencode(line) end
   end
   f:close()
   assert(#phones > 0, "no phones in " .. path)
   lag = tonumber(os.getenv("GW_BENCH_LAG") or "128")
   local host = wrk.host .. ":" .. wrk.port
   prefix = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host ..
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
end

local service = urlencode("*120*12345#")

-- The request is assembled here rather than by wrk.format, which rebuilds
-- the header table each time: the load generator shares the machine's two
-- cores with the daemon and Redis, so its cost per request matters.
local function hop(session, phone, text)
   local body = "sessionId=" .. session .. "&serviceCode=" .. service .. "&phoneNumber=" ..
      phone .. "&networkCode=46000&text=" .. text
   return prefix .. #body .. "\r\n\r\n" .. body
end

function request()
   counter = counter + 1
   if id == 1 and counter == 1 then
      -- wrk calls request() once on the first thread to check it, and never sends it
      return hop("verify", phones[1], "")
   end
   local p = pending[head]
   if head <= tail and counter % 2 == 0 and counter - p.at >= lag then
      pending[head] = nil
      head = head + 1
      return hop(p.session, p.phone, p.choice)
   end
   started = started + 1
   local session = "b" .. run .. "-" .. id .. "-" .. started
   -- a prime stride spreads the sessions over the whole phone list
   local phone = phones[(started * 7919 + id * 104729) % #phones + 1]
   tail = tail + 1
   pending[tail] = {session = session, phone = phone, choice = choices[started % 2 + 1],
                    at = counter}
   return hop(session, phone, "")
end

-- No response() hook: it would make wrk parse every answer in Lua and cost
-- more CPU than the daemon. ops/bench/ussd reads the answers' outcomes from
-- the daemon's own metrics instead.

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   io.write(string.format(
      "GWBENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, secs, summary.requests / secs, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, summary.errors.status,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.timeout))
end
