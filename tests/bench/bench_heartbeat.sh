#!/bin/bash
# Heartbeat intake of clusterm (CONTRACT 11): how many POST /monitor/heartbeat
# a second one clusterm takes, each durable (logged, fsync'd, group commit)
# before its 200, and their latency percentiles. X-Reporter spreads over
# REPORTERS names, as a cluster's tick timers would.
#
#   tests/bench/bench_heartbeat.sh [BUILD_DIR]        (default: build-bench)
#
# Environment: DURATION (s per wrk run, 10), REPS (runs, 3), THREADS (wrk
# threads, 2), CONNS (connections, 64), REPORTERS (10000), GOAL (heartbeats
# a second to reach, 10000). clusterm is started here on 127.0.0.1 with a
# temporary state dir and stopped by its PID. Output: "name: value" lines.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-bench}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
CLUSTERM=$BUILD/clusterm/clusterm
LUA=$SRC/tests/bench/wrk_heartbeat.lua
DURATION=${DURATION:-10}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
REPORTERS=${REPORTERS:-10000}
GOAL=${GOAL:-10000}
WAIT_S=30

[ -x "$CLUSTERM" ] || { echo "missing $CLUSTERM: meson setup build-bench --buildtype=release && meson compile -C build-bench" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not installed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/clusterm-bench-hb.XXXXXX)
PID=

cleanup() {
	local i
	if [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; then
		for ((i = 0; i < WAIT_S * 10; i++)); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -m 700 "$TMP/state"
"$CLUSTERM" -l 127.0.0.1:$PORT -d "$TMP/state" 2>"$TMP/clusterm.log" &
PID=$!
for ((i = 0; i < WAIT_S * 10; i++)); do
	curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "clusterm did not start" >&2; cat "$TMP/clusterm.log" >&2; exit 1; }

# Warm-up: every reporter interned once.
BENCH_REPORTERS=$REPORTERS wrk -t "$THREADS" -c "$CONNS" -d 5s -s "$LUA" \
	"http://127.0.0.1:$PORT" >/dev/null

echo "heartbeat: threads $THREADS, connections $CONNS, reporters $REPORTERS, ${DURATION}s x $REPS"
rates=()
for ((r = 1; r <= REPS; r++)); do
	out=$(BENCH_REPORTERS=$REPORTERS wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" -s "$LUA" \
		"http://127.0.0.1:$PORT")
	rate=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
	lua=$(echo "$out" | grep '^lua:')
	echo "run $r: heartbeats/s: $rate; $lua"
	case $lua in *non200=0*) ;; *) echo "warning: replies other than 200" >&2 ;; esac
	rates+=("$rate")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "heartbeats/s (median): $median"
awk -v m="$median" -v g="$GOAL" 'BEGIN { printf "goal %d/s: %s\n", g, (m >= g ? "met" : "NOT met") }'
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -E '^clusterm_reporters|^clusterm_store_fsync_seconds_count' || true
