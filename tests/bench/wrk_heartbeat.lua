-- wrk (LuaJIT) script for the heartbeat benchmark (tests/bench/bench_heartbeat.sh).
--
-- POSTs /monitor/heartbeat with no body, as `serf-forwarder tick` does, with
-- keep-alive. X-Reporter spreads over BENCH_REPORTERS names (hb0 ..), each
-- wrk thread taking its own slice in turn; X-Reporter-Epoch, X-Reporter-Seq
-- (the reporter's current last seq: constant, a heartbeat never increments
-- it) and X-Spool-Depth are set as a forwarder sets them.
--
--   BENCH_REPORTERS  reporter names                              (10000)

local nrep = tonumber(os.getenv("BENCH_REPORTERS") or "10000")
local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local i

function init(args)
   i = tid * 7919
   ok, bad = 0, 0
end

function request()
   i = i + 1
   local rep = i % nrep
   return wrk.format("POST", "/monitor/heartbeat", {
      ["X-Reporter"] = "hb" .. rep,
      ["X-Reporter-Epoch"] = "bench-" .. rep,
      ["X-Reporter-Seq"] = "7",
      ["X-Spool-Depth"] = "0",
      ["Content-Length"] = "0",
   }, nil)
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   else
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local tok, tbad = 0, 0
   for _, t in ipairs(threads) do
      tok = tok + t:get("ok")
      tbad = tbad + t:get("bad")
   end
   io.write(string.format("lua: ok=%d non200=%d p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f\n",
      tok, tbad, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency:percentile(99.9) / 1000))
end
