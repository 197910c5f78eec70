-- Shared by the api_load.py wrk scripts: numbers each thread (global `tid` in its Lua state)
-- and, when the run ends, prints one line "API_LOAD_JSON {...}" with wrk's own counters, the
-- exact latency percentiles (microseconds) and the counters the scenario scripts keep per thread.

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   threads[#threads + 1] = thread
end

local COUNTERS = { "ok_2xx", "non_2xx", "conflicts", "unparsed", "starved" }

function done(summary, latency, requests)
   local e = summary.errors
   local parts = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"bytes":%d', summary.bytes),
      string.format(
         '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
         e.connect, e.read, e.write, e.status, e.timeout
      ),
   }
   if summary.requests > 0 then
      parts[#parts + 1] = string.format(
         '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
            .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p99_9":%d}',
         latency.min, latency.mean, latency.stdev, latency.max,
         latency:percentile(50), latency:percentile(75), latency:percentile(90),
         latency:percentile(99), latency:percentile(99.9)
      )
   end
   local counted = {}
   for _, name in ipairs(COUNTERS) do
      local total, seen = 0, false
      for _, thread in ipairs(threads) do
         local value = thread:get(name)
         if type(value) == "number" then
            total, seen = total + value, true
         end
      end
      if seen then
         counted[#counted + 1] = string.format('"%s":%d', name, total)
      end
   end
   parts[#parts + 1] = '"counters":{' .. table.concat(counted, ",") .. "}"
   io.write("API_LOAD_JSON {" .. table.concat(parts, ",") .. "}\n")
end
