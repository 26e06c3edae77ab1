-- wrk (LuaJIT) script for the hot-node storm (tests/bench/bench_hot.sh).
--
-- Every request is one report about the same node, n1, from a different
-- reporter: X-Reporter cycles through the node names n1..nN, as when every
-- node of a serf cluster reports the same flapping member. Settings from the
-- environment:
--
--   BENCH_NODES    N, the reporters n1..nN                       (1000)
--   BENCH_THREADS  wrk's -t (wrk does not tell a thread the count) (2)
--   BENCH_MODE     "alive": every report says n1 is alive
--                  "flip":  rounds alternate: in even rounds every reporter
--                           says alive, in odd ones gone (member-failed to
--                           /monitor/event/disappeared), so n1 changes state
--                           twice per round of N reports
--   BENCH_RUN      the X-Reporter-Epoch of this run (fixed for the run);
--                  each run needs its own, as seq starts again at 1
--
-- Thread t owns the reporters n<i> with (i - 1) % THREADS == t and cycles
-- through them; a reporter's X-Reporter-Seq is its round number + 1, so it
-- increases per reporter, and a reporter comes back only after N/THREADS
-- other requests of its thread (more than the connections a thread has in
-- flight). The replies' "duplicates" and any status other than 200 are
-- counted and printed at the end.

local nodes = tonumber(os.getenv("BENCH_NODES") or "1000")
local nthreads_cfg = tonumber(os.getenv("BENCH_THREADS") or "2")
local mode = os.getenv("BENCH_MODE") or "alive"
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local alive_body = '[{"Node-Label":"n1","Node-Serial":"","Node-Mgmt-Address":"10.0.0.1",' ..
   '"Node-Name":"n1","Node-Role":"worker","Serf-Event":"member-join"}]'
local gone_body = '[{"Node-Label":"n1","Node-Serial":"","Node-Mgmt-Address":"10.0.0.1",' ..
   '"Node-Name":"n1","Node-Role":"worker","Serf-Event":"member-failed"}]'
local reporters, per, count, epoch

function init(args)
   reporters = {}
   for i = tid + 1, nodes, nthreads_cfg do
      reporters[#reporters + 1] = "n" .. i
   end
   per = #reporters
   count = 0
   epoch = "hot-" .. run_id
   ok, dups, bad = 0, 0, 0
end

function request()
   local idx = count % per
   local round = math.floor(count / per)
   count = count + 1
   local path, body = "/monitor/event/discovered", alive_body
   if mode == "flip" and round % 2 == 1 then
      path, body = "/monitor/event/disappeared", gone_body
   end
   return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Reporter"] = reporters[idx + 1],
      ["X-Reporter-Epoch"] = epoch,
      ["X-Reporter-Seq"] = tostring(round + 1),
   }, body)
end

function response(status, headers, body)
   if status ~= 200 then
      bad = bad + 1
      return
   end
   ok = ok + 1
   local d = body:match('"duplicates":%s*(%d+)')
   if d ~= nil and d ~= "0" then
      dups = dups + 1
   end
end

function done(summary, latency, requests)
   local tok, tdup, tbad = 0, 0, 0
   for _, t in ipairs(threads) do
      tok = tok + t:get("ok")
      tdup = tdup + t:get("dups")
      tbad = tbad + t:get("bad")
   end
   io.write(string.format("lua: ok=%d duplicates=%d non200=%d mode=%s\n",
      tok, tdup, tbad, mode))
end
