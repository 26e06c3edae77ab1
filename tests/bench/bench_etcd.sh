#!/bin/bash
# clusterm on etcd (CONTRACT section 9) beside the embedded WAL, on one
# machine in one run (tests/bench/README.md):
#   1. batched intake, 100 reports per POST, in node-reports/s: one clusterm
#      on a 3-member etcd cluster, one clusterm on its WAL, interleaved;
#   2. etcd's own rate of one-put txns of the same value size through its
#      v3 JSON gateway (wrk + bench_etcd_txn.lua, a new key per request), at
#      1 connection and at CONNS; at CONNS also right after each intake run,
#      for a ratio of the two under the same load of the machine;
#   3. failover: kill -9 of the leader of 3 instances until a surviving
#      instance accepts a job (POST /discover/nodes answered 200), median
#      of FAILOVERS runs;
#   4. a hung member: SIGSTOP of the first etcd endpoint of 3 instances
#      (it accepts connections and never answers) until every instance
#      has answered a monitor POST 200 and one leads (target: under
#      lease_ttl_s + 2 s), then SIGCONT;
#   5. failover by kind (bench_failover.py): kill -9, SIGSTOP and black-holed
#      links of the leader, median and max of FAILOVERS runs each.
#
#   tests/bench/bench_etcd.sh [BUILD_DIR]        (default: build-bench)
#
# Environment: DURATION (s per wrk run, 10), REPS (interleaved runs, 3),
# THREADS (wrk threads, 2), CONNS (connections, 64), NODES (node-name
# space, 100000), TTL (lease_ttl_s, 3), FAILOVERS (5), PORTS (range for
# every server, 24000-25999: below the ephemeral ports), SKIP (parts to leave out: intake size txn failover hang kinds), SIZE_S (the size
# part's intake, 60), SNAP_RECORDS (its store.etcd.snapshot_records, 20000).
#
# Every server (etcd members, clusterm) is started here on 127.0.0.1 with
# temporary data dirs and stopped by its PID from the EXIT trap; every wait
# is bounded. The jobs of the failover part run ansible.command=/bin/true:
# the figure is the hand-over, not ansible.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-bench}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
CLUSTERM=$BUILD/clusterm/clusterm
ETCD=${ETCD:-/usr/bin/etcd}
LUA_POST=$SRC/tests/bench/wrk_post.lua
LUA_TXN=$SRC/tests/bench/bench_etcd_txn.lua
DURATION=${DURATION:-10}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
NODES=${NODES:-100000}
TTL=${TTL:-3}
FAILOVERS=${FAILOVERS:-5}
PORTS=${PORTS:-24000-25999}
SKIP=${SKIP:-}
SIZE_S=${SIZE_S:-60}
SNAP_RECORDS=${SNAP_RECORDS:-20000}
WAIT_S=30
BATCH=100

for f in "$CLUSTERM" "$ETCD"; do
	[ -x "$f" ] || { echo "missing $f (meson setup build-bench --buildtype=release && meson compile -C build-bench)" >&2; exit 1; }
done
for t in wrk curl python3; do
	command -v "$t" >/dev/null || { echo "$t not installed" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/clusterm-bench-etcd.XXXXXX)
chmod 700 "$TMP"
PIDS=()
GIVEN=" "

alive() { kill -0 "$1" 2>/dev/null; }

# Stops one process by PID: SIGCONT+SIGTERM, SIGKILL after WAIT_S.
stop_pid() {
	local pid=$1 i
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < WAIT_S * 10; i++)); do
		alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	echo "warning: pid $pid ignored SIGTERM for ${WAIT_S}s, SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

kill9_pid() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { [[ " $SKIP " == *" $1 "* ]]; }

# A port of PORTS that is free now and was not handed out before.
port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$(python3 -c 'import random, socket, sys
lo, hi = map(int, sys.argv[1].split("-"))
p = random.randint(lo, hi)
s = socket.socket()
try:
    s.bind(("127.0.0.1", p))
except OSError:
    p = 0
print(p)' "$PORTS")
		if [ "$p" != 0 ] && [[ $GIVEN != *" $p "* ]]; then
			GIVEN+="$p "
			echo "$p"
			return 0
		fi
	done
	echo "no free port in $PORTS" >&2
	return 1
}

# start_bg VAR LOG CMD...: runs CMD in the background, its PID into VAR.
start_bg() {
	local var=$1 log=$2
	shift 2
	"$@" >>"$log" 2>&1 &
	PIDS+=("$!")
	printf -v "$var" '%s' "$!"
}

forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# wait_http URL WANT PID: until URL answers with a code in WANT ("200|503").
wait_http() {
	local url=$1 want=$2 pid=$3 deadline code
	deadline=$(($(date +%s) + WAIT_S))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		alive "$pid" || { echo "pid $pid exited before $url answered" >&2; return 1; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
		[[ "|$want|" == *"|$code|"* ]] && return 0
		sleep 0.05
	done
	echo "no $want from $url within ${WAIT_S}s" >&2
	return 1
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_wrk URL LUA CONNS DURATION ENV...: prints requests/s.
run_wrk() {
	local url=$1 lua=$2 conns=$3 dur=$4 out threads=$THREADS
	shift 4
	[ "$conns" -lt "$threads" ] && threads=$conns
	out=$(mktemp "$TMP/wrk.XXXXXX")
	env BENCH_RUN="$(date +%s%N)" "$@" wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 10s -s "$lua" \
		"$url" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
	if ! grep -q 'duplicates=0 non200=0' "$out" || grep -q 'Socket errors' "$out"; then
		echo "warning: errors in wrk run $out ($*):" >&2
		grep -E 'lua:|Socket errors|Non-2xx' "$out" >&2 || true
	fi
	awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$out"
}

# --- etcd: 3 members
ECLIENT=()
EPIDS=()
ECMD=()
etcd_start() {
	local i name cp pp initial="" token="clusterm-bench-$$-$RANDOM"
	local cps=() pps=()
	for i in 1 2 3; do
		cps+=("$(port)")
		pps+=("$(port)")
		initial+="${initial:+,}e$i=http://127.0.0.1:${pps[$((i - 1))]}"
	done
	for i in 1 2 3; do
		name=e$i cp=${cps[$((i - 1))]} pp=${pps[$((i - 1))]}
		ECLIENT+=("http://127.0.0.1:$cp")
		mkdir -m 700 "$TMP/$name"
		ECMD+=("$ETCD --name $name --data-dir $TMP/$name/data --listen-client-urls http://127.0.0.1:$cp --advertise-client-urls http://127.0.0.1:$cp --listen-peer-urls http://127.0.0.1:$pp --initial-advertise-peer-urls http://127.0.0.1:$pp --initial-cluster $initial --initial-cluster-state new --initial-cluster-token $token --heartbeat-interval 100 --election-timeout 1000 --quota-backend-bytes 8589934592 --log-level warn")
		local pid
		# shellcheck disable=SC2086
		start_bg pid "$TMP/$name.log" ${ECMD[$((i - 1))]}
		EPIDS+=("$pid")
	done
	for i in 0 1 2; do
		local deadline=$(($(date +%s) + WAIT_S))
		until curl -s --max-time 2 "${ECLIENT[$i]}/health" | grep -q '"health":"true"'; do
			alive "${EPIDS[$i]}" || { cat "$TMP/e$((i + 1)).log" >&2; exit 1; }
			[ "$(date +%s)" -lt "$deadline" ] || { echo "etcd e$((i + 1)) not healthy" >&2; exit 1; }
			sleep 0.05
		done
	done
}

endpoints_json() {
	local IFS=,
	local q=()
	local u
	for u in "${ECLIENT[@]}"; do q+=("\"$u\""); done
	echo "[${q[*]}]"
}

# write_conf FILE PORT ID BACKEND PREFIX [ANSIBLE_JSON]
write_conf() {
	local file=$1 p=$2 id=$3 backend=$4 prefix=$5 ansible=${6:-}
	local sd="$TMP/$id.state"
	mkdir -p -m 700 "$sd"
	{
		printf '{"manager": {"addr": "127.0.0.1:%s", "state_dir": "%s", "instance_id": "%s", "advertise_url": "http://127.0.0.1:%s", "max_jobs": 4},\n' "$p" "$sd" "$id" "$p"
		if [ "$backend" = etcd ]; then
			printf ' "store": {"backend": "etcd", "etcd": {"endpoints": %s, "prefix": "%s", "lease_ttl_s": %s}},\n' "$(endpoints_json)" "$prefix" "$TTL"
		else
			printf ' "store": {"backend": "wal"},\n'
		fi
		[ -n "$ansible" ] && printf ' "ansible": %s,\n' "$ansible"
		printf ' "monitor": {"grace_s": 1}}\n'
	} >"$file"
}

echo "bench: $(nproc) cpus, wrk -t$THREADS -c$CONNS -d${DURATION}s, $REPS interleaved runs, batches of $BATCH, node space $NODES, lease_ttl_s $TTL"
echo "bench: clusterm $CLUSTERM; $("$ETCD" --version | head -1)"
etcd_start
echo "bench: etcd ${ECLIENT[*]}"

# The mean size of one POST body of wrk_post.lua (BATCH reports): the value size of the txn part.
VALUE_BYTES=$(python3 -c 'import json, sys
b = int(sys.argv[1]); n = int(sys.argv[2]); tot = 0; k = 0
for j in range(0, min(n, 100 * b), b):
    body = "[" + ",".join("{\"Node-Label\":\"n%d\",\"Node-Mgmt-Address\":\"10.%d.%d.%d\",\"Node-Name\":\"n%d\",\"Node-Role\":\"worker\",\"Serf-Event\":\"member-join\"}" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i) for i in range(j, j + b)) + "]"
    tot += len(body); k += 1
print(tot // k)' "$BATCH" "$NODES")

WAL_RS=- ETCD_RS=- TXN1=- TXNC=- FO_MED=- FO_ALL=- WAL_REQ=- ETCD_REQ=- LOGV=- RATIO=-
# Each intake run's ceiling (txn/s at CONNS) and ratio, measured right after it.
TC_RUNS=() RATIOS=()

if ! skip intake; then
	wport=$(port)
	eport=$(port)
	write_conf "$TMP/wal.conf" "$wport" wal wal ""
	write_conf "$TMP/etcd.conf" "$eport" cme etcd "/bench-intake-$$"
	start_bg wpid "$TMP/wal.log" "$CLUSTERM" -c "$TMP/wal.conf"
	start_bg cpid "$TMP/cme.log" "$CLUSTERM" -c "$TMP/etcd.conf"
	wait_http "http://127.0.0.1:$wport/healthz" 200 "$wpid"
	wait_http "http://127.0.0.1:$eport/healthz" 200 "$cpid"
	envs=(BENCH_NODES="$NODES" BENCH_BATCH="$BATCH" BENCH_REPORTER="")
	# Warm-up: every node of the space exists in both.
	run_wrk "http://127.0.0.1:$wport/" "$LUA_POST" "$CONNS" 5 "${envs[@]}" >/dev/null
	run_wrk "http://127.0.0.1:$eport/" "$LUA_POST" "$CONNS" 5 "${envs[@]}" >/dev/null
	ws=() es=()
	for ((i = 1; i <= REPS; i++)); do
		w=$(run_wrk "http://127.0.0.1:$wport/" "$LUA_POST" "$CONNS" "$DURATION" "${envs[@]}")
		e=$(run_wrk "http://127.0.0.1:$eport/" "$LUA_POST" "$CONNS" "$DURATION" "${envs[@]}")
		ws+=("$w") es+=("$e")
		echo "intake run $i: wal $w req/s ($((w * BATCH)) node-reports/s), etcd $e req/s ($((e * BATCH)) node-reports/s)"
		# etcd's ceiling right after, under the same load of the machine.
		if ! skip txn; then
			t=$(run_wrk "${ECLIENT[0]}/" "$LUA_TXN" "$CONNS" "$DURATION" \
			    BENCH_VALUE_BYTES="$VALUE_BYTES" BENCH_PREFIX="/benchtxn")
			TC_RUNS+=("$t")
			RATIOS+=("$(awk -v e="$e" -v t="$t" 'BEGIN { printf "%.2f", (t > 0 ? e / t : 0) }')")
			echo "intake run $i: etcd's txn ceiling right after, $CONNS connections: $t txn/s; clusterm on etcd / ceiling ${RATIOS[-1]}x"
		fi
	done
	WAL_REQ=$(printf '%s\n' "${ws[@]}" | median)
	ETCD_REQ=$(printf '%s\n' "${es[@]}" | median)
	WAL_RS=$(awk -v r="$WAL_REQ" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')
	ETCD_RS=$(awk -v r="$ETCD_REQ" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')
	# What the store wrote per log key (group commits), as etcd holds it now.
	LOGV=$(ETCDCTL_API=3 etcdctl --endpoints "${ECLIENT[0]}" get --prefix "/bench-intake-$$/log/" -w json 2>/dev/null |
		python3 -c 'import json, sys, base64
kvs = json.load(sys.stdin).get("kvs", [])
print("%d keys, mean %d bytes" % (len(kvs), sum(len(base64.b64decode(k["value"])) for k in kvs) / len(kvs)) if kvs else "-")' || echo -)
	echo "intake: wal ${WAL_RS} node-reports/s, etcd ${ETCD_RS} node-reports/s (medians of $REPS); etcd log now: $LOGV"
	stop_pid "$wpid"; forget_pid "$wpid"
	stop_pid "$cpid"; forget_pid "$cpid"
fi

# etcd's size under continuous intake: every SIZE_S / 6 s, the members' db
# size and the keys under the prefix, while wrk posts batches for SIZE_S s.
# The leader snapshots every store.etcd.snapshot_records records, deletes
# the log keys behind and compacts: both should level off, not grow.
SIZES=-
if ! skip size; then
	sport=$(port)
	write_conf "$TMP/size.conf" "$sport" cms etcd "/bench-size-$$"
	sed -i "s/\"lease_ttl_s\": $TTL}/\"lease_ttl_s\": $TTL, \"snapshot_records\": $SNAP_RECORDS}/" "$TMP/size.conf"
	start_bg spid "$TMP/cms.log" "$CLUSTERM" -c "$TMP/size.conf"
	wait_http "http://127.0.0.1:$sport/healthz" 200 "$spid"
	envs=(BENCH_NODES="$NODES" BENCH_BATCH="$BATCH" BENCH_REPORTER="")
	run_wrk "http://127.0.0.1:$sport/" "$LUA_POST" "$CONNS" "$SIZE_S" "${envs[@]}" >"$TMP/size.rate" &
	wrkpid=$!
	SIZES=""
	for ((k = 1; k <= 6; k++)); do
		sleep "$((SIZE_S / 6))"
		db=$(ETCDCTL_API=3 etcdctl --endpoints "${ECLIENT[0]}" endpoint status -w json 2>/dev/null |
			python3 -c 'import json, sys; s = json.load(sys.stdin)[0]["Status"]; print("%.1f (in use %.1f)" % (s["dbSize"] / 1048576, s.get("dbSizeInUse", 0) / 1048576))' || echo -)
		keys=$(ETCDCTL_API=3 etcdctl --endpoints "${ECLIENT[0]}" get --prefix "/bench-size-$$/log/" --keys-only 2>/dev/null | grep -c . || true)
		echo "size at $((k * SIZE_S / 6)) s: etcd db $db MiB, $keys log keys"
		SIZES="$SIZES $((k * SIZE_S / 6))s: ${db} MiB, ${keys} keys;"
	done
	wait "$wrkpid" || true
	echo "size: intake ran at $(cat "$TMP/size.rate") req/s; snapshots: $(grep -c 'snapshot written' "$TMP/cms.log" || true)"
	stop_pid "$spid"; forget_pid "$spid"
fi

if ! skip txn; then
	t1=() tc=()
	for ((i = 1; i <= REPS; i++)); do
		a=$(run_wrk "${ECLIENT[0]}/" "$LUA_TXN" 1 "$DURATION" BENCH_VALUE_BYTES="$VALUE_BYTES" BENCH_PREFIX="/benchtxn")
		b=$(run_wrk "${ECLIENT[0]}/" "$LUA_TXN" "$CONNS" "$DURATION" BENCH_VALUE_BYTES="$VALUE_BYTES" BENCH_PREFIX="/benchtxn")
		t1+=("$a") tc+=("$b")
		echo "txn run $i: $VALUE_BYTES-byte puts, 1 connection $a txn/s, $CONNS connections $b txn/s"
	done
	TXN1=$(printf '%s\n' "${t1[@]}" | median)
	TXNC=$(printf '%s\n' "${tc[@]}" | median)
	if [ "${#RATIOS[@]}" -gt 0 ]; then
		RATIO=$(printf '%s\n' "${RATIOS[@]}" | median)
		echo "intake against etcd's ceiling measured right after each run: ${RATIOS[*]} (median ${RATIO}x)"
	fi
	ETCDCTL_API=3 etcdctl --endpoints "${ECLIENT[0]}" del --prefix /benchtxn >/dev/null 2>&1 || true
fi

if ! skip failover; then
	mkdir -m 700 "$TMP/books"
	: >"$TMP/books/site.yml"
	ans="{\"command\": \"/bin/true\", \"playbook_location\": \"$TMP/books\", \"timeout_s\": 60}"
	FPORT=() FPID=() FCONF=()
	for i in 1 2 3; do
		FPORT+=("$(port)")
		FCONF+=("$TMP/f$i.conf")
		write_conf "$TMP/f$i.conf" "${FPORT[$((i - 1))]}" "f$i" etcd "/bench-failover-$$" "$ans"
		start_bg pid "$TMP/f$i.log" "$CLUSTERM" -c "$TMP/f$i.conf"
		FPID+=("$pid")
	done
	for i in 0 1 2; do wait_http "http://127.0.0.1:${FPORT[$i]}/healthz" "200|503" "${FPID[$i]}"; done
	# leader_index: the instance whose /healthz says leader (the others agreeing), else -1.
	leader_index() {
		python3 - "${FPORT[@]}" <<'EOF'
import json, sys, urllib.request
roles, named = {}, set()
for i, p in enumerate(sys.argv[1:]):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % p, timeout=1) as r:
            b = json.load(r)
    except Exception as e:
        try:
            b = json.load(e)
        except Exception:
            continue
    roles[i] = b.get("role")
    named.add(b.get("leader"))
ls = [i for i, r in roles.items() if r == "leader"]
print(ls[0] if len(ls) == 1 and len(named) == 1 else -1)
EOF
	}
	wait_leader() {
		local deadline=$(($(date +%s) + WAIT_S)) l
		while [ "$(date +%s)" -lt "$deadline" ]; do
			l=$(leader_index)
			[ "$l" -ge 0 ] && { echo "$l"; return 0; }
			sleep 0.05
		done
		echo "no leader within ${WAIT_S}s" >&2
		return 1
	}
	fos=()
	for ((r = 1; r <= FAILOVERS; r++)); do
		l=$(wait_leader)
		others=()
		for i in 0 1 2; do [ "$i" != "$l" ] && others+=("${FPORT[$i]}"); done
		kill9_pid "${FPID[$l]}"
		# From the kill to the first 200 of POST /discover/nodes on a survivor
		# (polled every 20 ms, alternating), timed in one process.
		t=$(python3 - "$r" "$((TTL + 10))" "${others[@]}" <<'EOF'
import http.client, json, sys, time
r, bound, ports = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
t0 = time.monotonic()
k = 0
while time.monotonic() - t0 < bound:
    p = ports[k % len(ports)]
    k += 1
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(p), timeout=5)
        c.request("POST", "/discover/nodes", json.dumps({"addrs": ["127.0.250.%d" % r]}),
                  {"Content-Type": "application/json"})
        resp = c.getresponse()
        resp.read()
        c.close()
        if resp.status == 200:
            print("%.3f" % (time.monotonic() - t0))
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.02)
sys.exit("no job accepted within %.0f s" % bound)
EOF
		)
		fos+=("$t")
		echo "failover run $r: kill -9 of f$((l + 1)), a job accepted after $t s"
		# The killed one comes back (as a follower) for the next run.
		start_bg pid "$TMP/f$((l + 1)).log" "$CLUSTERM" -c "${FCONF[$l]}"
		FPID[l]=$pid
		deadline=$(($(date +%s) + WAIT_S))
		until [ "$(curl -s --max-time 1 "http://127.0.0.1:${FPORT[$l]}/healthz" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("role"))' 2>/dev/null)" = follower ]; do
			if ! alive "$pid"; then
				# A start while its old lease still lives may be refused: again.
				forget_pid "$pid"
				start_bg pid "$TMP/f$((l + 1)).log" "$CLUSTERM" -c "${FCONF[$l]}"
				FPID[l]=$pid
			fi
			[ "$(date +%s)" -lt "$deadline" ] || { echo "f$((l + 1)) did not come back" >&2; tail -20 "$TMP/f$((l + 1)).log" >&2; exit 1; }
			sleep 0.1
		done
	done
	FO_MED=$(printf '%s\n' "${fos[@]}" | median)
	FO_ALL=${fos[*]}
fi

HANG_W=- HANG_L=-
if ! skip hang; then
	HPORT=() HPID=()
	for i in 1 2 3; do
		HPORT+=("$(port)")
		write_conf "$TMP/h$i.conf" "${HPORT[$((i - 1))]}" "h$i" etcd "/bench-hang-$$"
		start_bg pid "$TMP/h$i.log" "$CLUSTERM" -c "$TMP/h$i.conf"
		HPID+=("$pid")
	done
	for i in 0 1 2; do wait_http "http://127.0.0.1:${HPORT[$i]}/healthz" 200 "${HPID[$i]}"; done
	# One leader, then SIGSTOP of the first endpoint's member; the time to a
	# 200 on every instance (a thread each, polling every 100 ms) and to one
	# leader that all name; SIGCONT. Timed in one process.
	out=$(python3 - "${EPIDS[0]}" "$((TTL + 20))" "${HPORT[@]}" <<'EOF'
import http.client, json, os, signal, sys, threading, time
pid, bound, ports = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]

def get(p, path):
    c = http.client.HTTPConnection("127.0.0.1", int(p), timeout=3)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()

def one_leader():
    roles, named = [], set()
    for p in ports:
        try:
            st, b = get(p, "/healthz")
        except (OSError, ValueError):
            return False
        roles.append(b.get("role"))
        named.add(b.get("leader"))
    return roles.count("leader") == 1 and len(named) == 1 and None not in named

t = time.monotonic()
while not one_leader():
    if time.monotonic() - t > 30:
        sys.exit("no leader before the hang")
    time.sleep(0.05)
first = {}
os.kill(pid, signal.SIGSTOP)
t0 = time.monotonic()
try:
    def writer(p):
        k = 0
        while time.monotonic() - t0 < bound:
            k += 1
            body = json.dumps([{"Node-Name": "hang-%s-%d" % (p, k), "Node-Label": "hang",
                                "Node-Mgmt-Address": "127.0.251.1", "Node-Role": "worker",
                                "Serf-Event": "member-join"}])
            try:
                c = http.client.HTTPConnection("127.0.0.1", int(p), timeout=15)
                c.request("POST", "/monitor/event/discovered", body,
                          {"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    first[p] = time.monotonic() - t0
                    return
            except OSError:
                pass
            time.sleep(0.1)
    ths = [threading.Thread(target=writer, args=(p,)) for p in ports]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if len(first) != len(ports):
        sys.exit("instances without a 200 within %.0f s of the hang: %s" % (
            bound, sorted(set(ports) - set(first))))
    while not one_leader():
        if time.monotonic() - t0 > bound:
            sys.exit("no single leader within %.0f s of the hang" % bound)
        time.sleep(0.05)
    print("%.3f %.3f" % (max(first.values()), time.monotonic() - t0))
finally:
    os.kill(pid, signal.SIGCONT)
EOF
	)
	HANG_W=${out% *} HANG_L=${out#* }
	echo "hang: first endpoint's member stopped: a 200 on every instance after $HANG_W s, one leader agreed after $HANG_L s (target < $((TTL + 2)) s)"
	for i in 0 1 2; do stop_pid "${HPID[$i]}"; forget_pid "${HPID[$i]}"; done
fi

echo
# 5. failover by kind of fault (bench_failover.py: its own etcd cluster and
# instances, their links through relays): kill -9, SIGSTOP, black-holed links.
FK=()
if ! skip kinds; then
	while IFS= read -r line; do
		echo "$line"
		case $line in "failover "*:*) FK+=("$line") ;; esac
	done < <(HA_PORTS=$PORTS python3 "$SRC/tests/bench/bench_failover.py" --build "$BUILD" \
	    --runs "$FAILOVERS" --ttl "$TTL")
fi

echo "| measure | value |"
echo "|---|---|"
echo "| batched intake, clusterm on WAL | $WAL_RS node-reports/s ($WAL_REQ req/s) |"
echo "| batched intake, clusterm on etcd (3 members) | $ETCD_RS node-reports/s ($ETCD_REQ req/s) |"
echo "| etcd txn, one ${VALUE_BYTES}-byte put, 1 connection | $TXN1 txn/s |"
echo "| etcd txn, one ${VALUE_BYTES}-byte put, $CONNS connections | $TXNC txn/s = $(awk -v t="$TXNC" -v b="$BATCH" 'BEGIN { if (t == "-") print "-"; else printf "%.0f", t * b }') node-reports/s at one txn per batch |"
echo "| clusterm on etcd / etcd's ceiling ($CONNS connections) measured right after each intake run, median of $REPS | ${RATIO}x (${RATIOS[*]:--}) |"
echo "| failover, kill -9 of the leader to a job accepted (median of $FAILOVERS) | $FO_MED s ($FO_ALL) |"
for line in "${FK[@]}"; do
	# "failover KIND: median M s, max X s (all ...)"
	kind=${line#failover }
	echo "| failover, ${kind%%:*} of the leader to a job accepted (lease_ttl_s $TTL, $FAILOVERS runs) | ${kind#*: } |"
done
echo "| a hung member (SIGSTOP of the first endpoint) to a 200 on every instance / one leader | $HANG_W s / $HANG_L s (target < $((TTL + 2)) s) |"
echo "| etcd size under $SIZE_S s of intake (snapshot_records $SNAP_RECORDS): db file (in use) MiB, log keys |$SIZES |"
echo "bench: etcd log keys after the intake runs: $LOGV"
echo "bench: done"
