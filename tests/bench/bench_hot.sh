#!/bin/bash
# Hot-node storm (tests/bench/README.md, "Scale"): N nodes are Discovered,
# each reporter having reported all N (BOOT=full) or itself and n1 only
# (BOOT=self); then wrk sends single reports about n1 only, each from
# another reporter (X-Reporter cycling through n1..nN, seq increasing per
# reporter, one epoch per run): every report replaces one of n1's N votes. Prints reports/s, and the bare
# civetweb handler's requests/s with the same script in the same run.
#
#   tests/bench/bench_hot.sh [N]                     (default 1000)
#
# Environment: BUILD_DIR (default build/ of this tree), DURATION (s per wrk
# run, 10), CONNS (32), THREADS (wrk threads, 2), MODES ("alive flip": n1
# always reported alive, or alternating rounds of alive and gone), REPS (1),
# BOOT ("full": every reporter first reports all N members, as a serf boot
# does, so n1 and every other node hold N votes; "self": each reporter
# reports itself and n1 only), BOOT_CONNS (4), BOOT_WAIT_S (900),
# BARE (the baseline binary, default BUILD_DIR/tests/bench/bare_civetweb;
# "none" leaves it out).
#
# Uses only the monitor endpoints and GET /api/v1/nodes (or /info/nodes), on
# 127.0.0.1; every server started here is stopped by its PID on exit.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000}
case $N in ''|*[!0-9]*) echo "usage: $0 [N]" >&2; exit 1 ;; esac
[ "$N" -ge 2 ] || { echo "N >= 2 please" >&2; exit 1; }
BUILD=${BUILD_DIR:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
CLUSTERM=$BUILD/clusterm/clusterm
BARE=${BARE:-$BUILD/tests/bench/bare_civetweb}
LUA=$SRC/tests/bench/wrk_hot.lua
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
MODES=${MODES:-alive flip}
REPS=${REPS:-1}
BOOT=${BOOT:-full}
BOOT_CONNS=${BOOT_CONNS:-4}
BOOT_WAIT_S=${BOOT_WAIT_S:-900}
WAIT_S=30
case $BOOT in full|self) ;; *) echo "BOOT is full or self" >&2; exit 1 ;; esac

[ -x "$CLUSTERM" ] || { echo "missing $CLUSTERM (build first, or set BUILD_DIR)" >&2; exit 1; }
if [ "$BARE" != none ] && [ ! -x "$BARE" ]; then
	echo "note: no $BARE (a build with -Dtests=false?): no baseline" >&2
	BARE=none
fi
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/clusterm-hot.XXXXXX)
PIDS=()

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < WAIT_S * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	echo "warning: pid $pid ignored SIGTERM for ${WAIT_S}s, SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	trap - EXIT
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_healthz() {
	local port=$1 pid=$2 deadline code
	deadline=$(($(date +%s) + WAIT_S))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		kill -0 "$pid" 2>/dev/null || { echo "server $pid exited before answering" >&2; return 1; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)
		case $code in 200|503) return 0 ;; esac
		sleep 0.05
	done
	echo "no /healthz answer on port $port within ${WAIT_S}s" >&2
	return 1
}

cport=$(free_port)
printf '{"manager": {"addr": "127.0.0.1:%s", "state_dir": "%s"}, "monitor": {"grace_s": 0}}\n' \
	"$cport" "$TMP/state" >"$TMP/clusterm.conf"
"$CLUSTERM" -c "$TMP/clusterm.conf" >"$TMP/clusterm.log" 2>&1 &
CM_PID=$!
PIDS+=("$CM_PID")
wait_healthz "$cport" "$CM_PID"
if [ "$BARE" != none ]; then
	bport=$(free_port)
	"$BARE" "127.0.0.1:$bport" >"$TMP/bare.log" 2>&1 &
	PIDS+=("$!")
	wait_healthz "$bport" "$!"
fi

echo "hot: N=$N boot=$BOOT cpus=$(nproc) wrk -t$THREADS -c$CONNS -d${DURATION}s, clusterm $CLUSTERM (monitor.grace_s 0), baseline $BARE"

# Boot, BOOT=full (default): every reporter nI posts one batch with all N
# members (seq 1), so every node holds N votes, as after a serf cluster's
# boot; BOOT=self: nI posts only its own report and one about n1. Posted
# over BOOT_CONNS keep-alive connections; then every node must be Discovered.
python3 - "$cport" "$N" "$BOOT_WAIT_S" "$BOOT" "$BOOT_CONNS" <<'EOF'
import http.client, json, sys, threading, time
port, n, wait_s, boot, conns = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def rep(i):
    return {"Node-Label": "n%d" % i, "Node-Serial": "",
            "Node-Mgmt-Address": "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255),
            "Node-Name": "n%d" % i, "Node-Role": "worker", "Serf-Event": "member-join"}
t0 = time.time()
epoch = "hotboot-%d" % time.time_ns()
if boot == "full":
    # The forwarder splits batches over 1000 members; so does this.
    members = [rep(i) for i in range(1, n + 1)]
    parts = [json.dumps(members[j:j + 1000]) for j in range(0, n, 1000)]
errors = []
def post(first):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for i in range(first, n + 1, conns):
        if time.time() > t0 + wait_s:
            errors.append("boot: not done after %.0fs" % wait_s)
            return
        if boot == "full":
            bodies = parts
        else:
            bodies = [json.dumps([rep(i)] + ([rep(1)] if i != 1 else []))]
        for k, body in enumerate(bodies):
            c.request("POST", "/monitor/event/discovered", body,
                      {"Content-Type": "application/json", "X-Reporter": "n%d" % i,
                       "X-Reporter-Epoch": epoch, "X-Reporter-Seq": str(k + 1)})
            r = c.getresponse(); r.read()
            if r.status != 200:
                errors.append("boot: HTTP %d for reporter n%d" % (r.status, i))
                return
ts = [threading.Thread(target=post, args=(f,)) for f in range(1, conns + 1)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    sys.exit(errors[0])
nreports = n * n if boot == "full" else 2 * n - 1
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
deadline, path = t0 + wait_s, "/api/v1/nodes"
while True:
    c.request("GET", path)
    r = c.getresponse(); body = r.read()
    if r.status == 404 and path != "/info/nodes":
        path = "/info/nodes"
        continue
    doc = json.loads(body)
    if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
        st = {o.get("name"): o.get("state") for o in doc["nodes"]}
    else:
        st = {k: (v.get("inventory_state") or {}).get("state") for k, v in doc.items()}
    if all(st.get("n%d" % i) == "Discovered" for i in range(1, n + 1)):
        break
    if time.time() > deadline:
        sys.exit("boot: not every node Discovered after %.0fs" % wait_s)
    time.sleep(0.1)
print("hot: boot (%s): %d nodes Discovered, %d reports from %d reporters, %.2fs" % (boot, n, nreports, n, time.time() - t0))
EOF

# run_wrk PORT MODE: prints requests/s; warns on duplicates or errors.
run_wrk() {
	local port=$1 mode=$2 out
	out=$(mktemp "$TMP/wrk.XXXXXX")
	env BENCH_NODES="$N" BENCH_THREADS="$THREADS" BENCH_MODE="$mode" BENCH_RUN="$(date +%s%N)" \
		wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$LUA" \
		"http://127.0.0.1:$port/" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
	if ! grep -q 'duplicates=0 non200=0' "$out" || grep -q 'Socket errors' "$out"; then
		echo "warning: errors in the wrk run against port $port, mode $mode:" >&2
		grep -E 'lua:|Socket errors|Non-2xx' "$out" >&2 || true
	fi
	awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RES=()
bares=()
for ((r = 1; r <= REPS; r++)); do
	b=0
	if [ "$BARE" != none ]; then
		b=$(run_wrk "$bport" alive)
		bares+=("$b")
		echo "hot run $r: bare civetweb $b req/s"
	fi
	for m in $MODES; do
		c=$(run_wrk "$cport" "$m")
		RES[$m]="${RES[$m]:-} $c"
		echo "hot run $r: clusterm, n1 $m: $c reports/s (ratio to bare $(ratio "$c" "$b"))"
	done
done
state=$(curl -s --max-time 10 "http://127.0.0.1:$cport/api/v1/nodes/n1" |
	python3 -c 'import json, sys; d = json.load(sys.stdin); print("%s, %d votes" % (d.get("state"), len(d.get("votes", []))))' 2>/dev/null || echo '?')
hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$CM_PID/status")
echo "hot: n1 at the end: $state; clusterm peak RSS (VmHWM) $hwm MB"
line="hot N=$N boot=$BOOT"
bm=0
if [ "${#bares[@]}" -gt 0 ]; then
	bm=$(printf '%s\n' "${bares[@]}" | median)
	line+=" bare_req_s=$bm"
fi
for m in $MODES; do
	v=$(printf '%s\n' ${RES[$m]} | median)
	line+=" ${m}_reports_s=$v"
	[ "$bm" = 0 ] || line+=" ${m}_ratio=$(ratio "$v" "$bm")"
done
echo "$line rss_mb=$hwm"
