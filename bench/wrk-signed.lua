-- wrk script for scf-bridge's benchmark: POSTs precomputed, signed legacy
-- InvokeFunction bodies (bench/gen_requests.py), each exactly once, and
-- counts every answer that is not HTTP 200 with the expected text as an
-- error. Usage: wrk ... -s wrk-signed.lua URL -- <shard prefix> <expect>
--   <shard prefix>: thread k reads <prefix>.<k> (disjoint nonces per thread)
--   <expect>: text every good body contains, e.g. "code":0, for the bridge
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1] .. "." .. id
   local f = assert(io.open(path, "r"))
   prefix = f:read("*l")
   suffixes = {}
   for line in f:lines() do suffixes[#suffixes + 1] = line end
   f:close()
   expect = args[2]
   n, i, bad, wrapped = #suffixes, 0, 0, 0
   hdrs = {
      ["Host"] = "scf.api.qcloud.com",
      ["Content-Type"] = "application/x-www-form-urlencoded",
   }
end

function request()
   i = i + 1
   if i > n then
      -- Out of fresh requests: sending one again would be a replay. It is
      -- counted, and bench/run.sh refuses a run that wrapped.
      i, wrapped = 1, wrapped + 1
   end
   return wrk.format("POST", "/v2/index.php", hdrs, prefix .. suffixes[i])
end

function response(status, headers, body)
   if status ~= 200 or not string.find(body, expect, 1, true) then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local b, w = 0, 0
   for _, t in ipairs(threads) do
      b = b + t:get("bad")
      w = w + t:get("wrapped")
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bad":%d,"wrapped":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, b, w,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
