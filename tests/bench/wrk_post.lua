-- wrk (LuaJIT) script for the intake benchmarks (tests/bench/bench_intake.sh).
--
-- POSTs report batches to /monitor/event/discovered with keep-alive. The same
-- script drives clusterm and the bare civetweb baseline, so the client does
-- the same work against both. Settings come from the environment:
--
--   BENCH_NODES     node-name space, nodes n0 .. n<NODES-1>     (100000)
--   BENCH_BATCH     reports per request: 1 = single-node intake   (1)
--   BENCH_REPORTER  "" = operator reports, no X-Reporter header
--                   "pool"   = X-Reporter from a pool of BENCH_POOL names per
--                              wrk thread (rep<tid>-<i>), none of them a node
--                   "member" = the same, but the reporters are nodes of the
--                              reported space (n<tid*POOL+i>), as in a serf
--                              cluster where every node runs serf-forwarder
--   BENCH_POOL      reporters per wrk thread                     (1000)
--   BENCH_RUN       run id in X-Reporter-Epoch (default: the time); each run
--                   needs its own, as seq starts again at 1
--
-- With reporters, every request carries X-Reporter, X-Reporter-Epoch and an
-- X-Reporter-Seq that increases with every request of the thread (so each
-- reporter's seq increases too). A reporter is used again only after POOL
-- other requests of its thread, far more than the connections a thread has
-- in flight, so requests of one reporter do not overtake each other; the
-- replies' "duplicates" are counted anyway and printed at the end, with any
-- status other than 200.

local nodes = tonumber(os.getenv("BENCH_NODES") or "100000")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local mode = os.getenv("BENCH_REPORTER") or ""
local pool = tonumber(os.getenv("BENCH_POOL") or "1000")

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local function report(i)
   return string.format('{"Node-Label":"n%d","Node-Mgmt-Address":"10.%d.%d.%d",' ..
      '"Node-Name":"n%d","Node-Role":"worker","Serf-Event":"member-join"}',
      i, bit.band(bit.rshift(i, 16), 255), bit.band(bit.rshift(i, 8), 255),
      bit.band(i, 255), i)
end

-- A fresh epoch per wrk run: seq restarts at 1 in every run.
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())
local bodies, nbodies, pos, seq, epoch
local path = "/monitor/event/discovered"

function init(args)
   -- Precomputed bodies: batch j holds nodes j*batch .. j*batch+batch-1.
   bodies = {}
   nbodies = math.max(1, math.floor(nodes / batch))
   for j = 0, nbodies - 1 do
      local parts = {}
      for k = 0, batch - 1 do
         parts[#parts + 1] = report((j * batch + k) % nodes)
      end
      bodies[j + 1] = "[" .. table.concat(parts, ",") .. "]"
   end
   -- Threads start at different points of the node space.
   pos = (tid * 7919) % nbodies
   seq = 0
   epoch = "bench-" .. run_id .. "-" .. tid
   ok, dups, bad, accepted = 0, 0, 0, 0
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local body = bodies[pos + 1]
   pos = (pos + 1) % nbodies
   if mode == "" then
      return wrk.format("POST", path, nil, body)
   end
   seq = seq + 1
   local rep
   if mode == "member" then
      rep = string.format("n%d", (tid * pool + seq % pool) % nodes)
   else
      rep = string.format("rep%d-%d", tid, seq % pool)
   end
   return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Reporter"] = rep,
      ["X-Reporter-Epoch"] = epoch,
      ["X-Reporter-Seq"] = tostring(seq),
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
   io.write(string.format("lua: ok=%d duplicates=%d non200=%d batch=%d\n",
      tok, tdup, tbad, batch))
end
