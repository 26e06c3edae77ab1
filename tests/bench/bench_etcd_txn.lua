-- wrk (LuaJIT) script for tests/bench/bench_etcd.sh: one put per txn
-- through etcd's v3 JSON gateway (POST /v3/kv/txn), a new key per request
-- (<BENCH_PREFIX>/<run>/<thread>/<n>), a value of BENCH_VALUE_BYTES bytes.
-- What clusterm's etcd store does per group commit, without clusterm.
--
--   BENCH_VALUE_BYTES  value size (15000)
--   BENCH_PREFIX       key prefix ("/benchtxn")
--   BENCH_RUN          run id in the keys (default: the time)

local value_bytes = tonumber(os.getenv("BENCH_VALUE_BYTES") or "15000")
local prefix = os.getenv("BENCH_PREFIX") or "/benchtxn"
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
   local out = {}
   for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local c1 = bit.rshift(n, 18) % 64
      local c2 = bit.rshift(n, 12) % 64
      local c3 = bit.rshift(n, 6) % 64
      local c4 = n % 64
      out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1) ..
         (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
   end
   return table.concat(out)
end

local value64, n

function init(args)
   -- A JSON-ish value, as incompressible as a batch of reports would be.
   local parts, len, i = {}, 0, 0
   while len < value_bytes do
      local p = string.format('{"Node-Label":"n%d","Node-Mgmt-Address":"10.0.%d.%d"},',
         i, math.floor(i / 256) % 256, i % 256)
      parts[#parts + 1] = p
      len = len + #p
      i = i + 1
   end
   value64 = b64(table.concat(parts):sub(1, value_bytes))
   n = 0
   ok, bad = 0, 0
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   n = n + 1
   local key = b64(string.format("%s/%s/%d/%012d", prefix, run_id, tid, n))
   return wrk.format("POST", "/v3/kv/txn", nil,
      '{"success":[{"requestPut":{"key":"' .. key .. '","value":"' .. value64 .. '"}}]}')
end

function response(status, headers, body)
   if status == 200 and body:find('"succeeded":true', 1, true) then
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
   io.write(string.format("lua: ok=%d duplicates=0 non200=%d value_bytes=%d\n",
      tok, tbad, value_bytes))
end
