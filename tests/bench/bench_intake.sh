#!/bin/bash
# Intake benchmarks of clusterm (issue 2, tests/bench/README.md): request
# rates against a bare civetweb handler measured in the same run, durable
# batched intake, restart time and memory per node.
#
#   tests/bench/bench_intake.sh [BUILD_DIR]        (default: build-bench)
#
# Environment: DURATION (s per wrk run, 10), REPS (interleaved runs per
# scenario, 3), THREADS (wrk threads, 2), CONNS (connections, 64),
# NODES (node-name space, 100000), RESTART_RECORDS (1000000), SKIP (space
# separated parts to leave out: single batch restart memory).
#
# Every server is started here on 127.0.0.1 with a temporary state dir and
# stopped by its PID (SIGTERM, SIGKILL after a deadline); nothing else is
# touched. Output: plain "name: value" lines.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-bench}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
CLUSTERM=$BUILD/clusterm/clusterm
BARE=$BUILD/tests/bench/bare_civetweb
RESTART=$BUILD/tests/bench/bench_restart
LUA=$SRC/tests/bench/wrk_post.lua
DURATION=${DURATION:-10}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
NODES=${NODES:-100000}
RESTART_RECORDS=${RESTART_RECORDS:-1000000}
SKIP=${SKIP:-}
WAIT_S=30

for f in "$CLUSTERM" "$BARE" "$RESTART"; do
	[ -x "$f" ] || { echo "missing $f: meson setup build-bench --buildtype=release && meson compile -C build-bench" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not installed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/clusterm-bench.XXXXXX)
PIDS=()

# Stops one server by PID: SIGTERM, then SIGKILL after WAIT_S.
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
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { [[ " $SKIP " == *" $1 "* ]]; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls GET /healthz until it answers 200 or 503, for at most WAIT_S.
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

# start_server VAR LOG CMD...: runs CMD in the background, PID into VAR.
start_server() {
	local var=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	PIDS+=("$!")
	printf -v "$var" '%s' "$!"
}

forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# run_wrk PORT DURATION ENV...: prints requests/s; the wrk output is kept.
# Runs in a subshell: the run id (the reporters' epoch) comes from the clock.
run_wrk() {
	local port=$1 dur=$2 out
	shift 2
	out=$(mktemp "$TMP/wrk.XXXXXX")
	env BENCH_RUN="$(date +%s%N)" "$@" wrk -t"$THREADS" -c"$CONNS" -d"${dur}s" --timeout 10s -s "$LUA" \
		"http://127.0.0.1:$port/" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
	if ! grep -q 'duplicates=0 non200=0' "$out" || grep -q 'Socket errors' "$out"; then
		echo "warning: errors in wrk run $out ($*):" >&2
		grep -E 'lua:|Socket errors|Non-2xx' "$out" >&2 || true
	fi
	awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

metric() {
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}

echo "bench: $(nproc) cpus, wrk -t$THREADS -c$CONNS -d${DURATION}s, $REPS interleaved runs per scenario, node space $NODES"
echo "bench: clusterm $CLUSTERM"

# scenario NAME BATCH REPORTER: interleaves bare and clusterm runs, REPS each.
scenario() {
	local name=$1 batch=$2 rep=$3 bport cport bpid cpid i b c bares=() cms=() ratios=()
	local envs=(BENCH_NODES="$NODES" BENCH_BATCH="$batch" BENCH_REPORTER="$rep")
	local fs0 fsum0 fs1 fsum1 bm cm rt
	bport=$(free_port)
	start_server bpid "$TMP/bare.$name.log" "$BARE" "127.0.0.1:$bport"
	wait_healthz "$bport" "$bpid"
	cport=$(free_port)
	start_server cpid "$TMP/clusterm.$name.log" "$CLUSTERM" -l "127.0.0.1:$cport" -d "$TMP/state.$name"
	wait_healthz "$cport" "$cpid"
	# Warm-up: clusterm learns every node of the space once.
	run_wrk "$bport" 3 "${envs[@]}" >/dev/null
	run_wrk "$cport" 5 "${envs[@]}" >/dev/null
	fs0=$(metric "$cport" clusterm_store_fsync_seconds_count)
	fsum0=$(metric "$cport" clusterm_store_fsync_seconds_sum)
	for ((i = 1; i <= REPS; i++)); do
		b=$(run_wrk "$bport" "$DURATION" "${envs[@]}")
		c=$(run_wrk "$cport" "$DURATION" "${envs[@]}")
		bares+=("$b")
		cms+=("$c")
		ratios+=("$(ratio "$c" "$b")")
		echo "$name run $i: bare $b req/s, clusterm $c req/s, ratio $(ratio "$c" "$b")"
	done
	fs1=$(metric "$cport" clusterm_store_fsync_seconds_count)
	fsum1=$(metric "$cport" clusterm_store_fsync_seconds_sum)
	bm=$(printf '%s\n' "${bares[@]}" | median)
	cm=$(printf '%s\n' "${cms[@]}" | median)
	rt=$(printf '%s\n' "${ratios[@]}" | median)
	echo "$name: bare_req_s=$bm clusterm_req_s=$cm ratio=$rt (median of $REPS)"
	if [ "$batch" -gt 1 ]; then
		echo "$name: clusterm_node_reports_s=$(awk -v c="$cm" -v n="$batch" 'BEGIN { printf "%.0f", c * n }') (durable)"
	fi
	awk -v n="$((fs1 - fs0))" -v s0="$fsum0" -v s1="$fsum1" -v r="$cm" -v d="$DURATION" -v k="$REPS" \
		'BEGIN { if (n > 0) printf "'"$name"': fsyncs_s=%.0f avg_fsync_ms=%.3f requests_per_fsync=%.1f\n", n / (d * k), (s1 - s0) * 1000 / n, r * d * k / n }'
	echo "$name: snapshots_written=$(grep -c 'snapshot written' "$TMP/clusterm.$name.log" || true)"
	stop_pid "$cpid"; forget_pid "$cpid"
	stop_pid "$bpid"; forget_pid "$bpid"
	rm -rf "$TMP/state.$name"
}

if ! skip single; then
	scenario single 1 ""
	scenario single_reporter 1 pool
	scenario single_member_reporter 1 member
fi
if ! skip batch; then
	scenario batch100 100 ""
	scenario batch100_reporter 100 pool
	scenario batch100_member_reporter 100 member
fi

if ! skip memory; then
	# RSS of a fresh clusterm, then after 100-node batches that create NODES nodes.
	port=$(free_port)
	start_server mpid "$TMP/clusterm.memory.log" "$CLUSTERM" -l "127.0.0.1:$port" -d "$TMP/state.memory"
	wait_healthz "$port" "$mpid"
	rss0=$(rss_kb "$mpid")
	python3 - "$port" "$NODES" <<'EOF'
import http.client, json, sys
port, nodes = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for j in range(0, nodes, 100):
    body = json.dumps([{"Node-Label": "n%d" % i,
                        "Node-Mgmt-Address": "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255),
                        "Node-Name": "n%d" % i, "Node-Role": "worker", "Serf-Event": "member-join"}
                       for i in range(j, min(j + 100, nodes))])
    c.request("POST", "/monitor/event/discovered", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit("load: HTTP %d" % r.status)
EOF
	rss1=$(rss_kb "$mpid")
	echo "memory: rss_empty_kb=$rss0 rss_with_nodes_kb=$rss1 nodes=$NODES bytes_per_node=$(( (rss1 - rss0) * 1024 / NODES )) (loaded over HTTP, 5 report keys, no votes)"
	stop_pid "$mpid"; forget_pid "$mpid"
	# The same state recovered by a fresh process (no transient request buffers).
	out=$("$RESTART" start "$CLUSTERM" "127.0.0.1:$(free_port)" "$TMP/state.memory" "$WAIT_S" 2>/dev/null)
	rss2=${out##*rss_kb=}
	echo "memory: rss_after_restart_kb=$rss2 bytes_per_node=$(( (rss2 - rss0) * 1024 / NODES )) (same state, recovered)"
	rm -rf "$TMP/state.memory"
fi

if ! skip restart; then
	# A state dir written through clusterm's own state/records/store code,
	# without clusterm running: NODES nodes, RESTART_RECORDS log records.
	"$RESTART" mkstate "$TMP/state.empty" 1 0 >/dev/null
	out=$("$RESTART" start "$CLUSTERM" "127.0.0.1:$(free_port)" "$TMP/state.empty" "$WAIT_S" 2>/dev/null)
	echo "restart: empty state: $out"
	rss_empty=${out##*rss_kb=}
	"$RESTART" mkstate "$TMP/state.log" "$NODES" "$RESTART_RECORDS" | sed 's/^/restart: /'
	echo "restart: log size $(du -sm "$TMP/state.log" | cut -f1) MB"
	for ((i = 1; i <= REPS; i++)); do
		# Stopped right after /healthz, before its first snapshot check (1 s):
		# each start replays the whole log again.
		out=$("$RESTART" start "$CLUSTERM" "127.0.0.1:$(free_port)" "$TMP/state.log" "$WAIT_S" 2>/dev/null)
		echo "restart: $NODES nodes, $RESTART_RECORDS log records, no snapshot, run $i: $out"
	done
	rss=${out##*rss_kb=}
	echo "restart: bytes_per_node=$(( (rss - rss_empty) * 1024 / NODES )) (recovered, 8 report keys, 3 votes each)"
	rm -rf "$TMP/state.log"
	snap=$((RESTART_RECORDS > 400000 ? RESTART_RECORDS - 200000 : RESTART_RECORDS / 2))
	"$RESTART" mkstate "$TMP/state.snap" "$NODES" "$RESTART_RECORDS" "$snap" | sed 's/^/restart: /'
	for ((i = 1; i <= REPS; i++)); do
		out=$("$RESTART" start "$CLUSTERM" "127.0.0.1:$(free_port)" "$TMP/state.snap" "$WAIT_S" 2>/dev/null)
		echo "restart: $NODES nodes, snapshot + $((RESTART_RECORDS - snap)) log records (as clusterm leaves it), run $i: $out"
	done
	rm -rf "$TMP/state.snap"
fi
echo "bench: done"
