#!/bin/bash
# How clusterm scales with the size of a serf cluster (tests/bench/README.md,
# "Scale"). N nodes n1..nN are simulated by running the real serf-forwarder
# the way serf runs it (SERF_EVENT, SERF_SELF_NAME, member lines on stdin),
# one spool dir per node; no serf agent runs.
#
#   tests/bench/bench_scale.sh N [PARALLEL]          (PARALLEL default 8)
#
# Phases:
#   boot    every node's handler reports all N members (member-join): N runs,
#           N^2 reports, PARALLEL at a time; timed until every run has exited
#           and clusterm shows all N nodes Discovered
#   fail1   n2..nN each report member-failed for n1; timed until n1 is
#           Disappeared (and, as *_done_s, until every run has exited too)
#   fail10  10% of the nodes (n2..n<K+1>, K = N/10) fail at once: every
#           remaining node reports member-failed for all K in one batch; timed
#           until all K are Disappeared
# Then clusterm's peak RSS (VmHWM), the state dir size and the spool depth
# left in all forwarders (must be 0).
#
# With OBSERVERS=K (monitor.observers, default 0) each forwarder reports only
# on itself and its subjects: the boot phase is then followed, one second
# after the event runs (clusterm's settle time for a burst of joins), by one
# tick per node (what the tick timer does within tick_s), which hands every node
# its final assignment and reports the subjects it has not reported yet;
# boot is timed until those ticks have exited too. One untimed tick round
# follows fail1 (the subjects of the failed node get new observers).
# Each phase also prints the reports clusterm took (clusterm_reports_received_total).
#
# Environment: BUILD_DIR (default build/ of this tree), PHASE_TIMEOUT (s per
# phase, 900), FWD_TIMEOUT (the forwarder's -t, 5 as deployed), POLL_S (state
# polling interval, 0.1), OBSERVERS (K, 0), KEEP=1 keeps the temp dir.
#
# Uses only the HTTP API (GET /api/v1/nodes, or contiv's /info/nodes) and the
# forwarder's command line, on 127.0.0.1. Every process started here is
# stopped by its PID on exit; every wait is bounded.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-}
PAR=${2:-8}
case $N in ''|*[!0-9]*) echo "usage: $0 N [PARALLEL]" >&2; exit 1 ;; esac
case $PAR in ''|*[!0-9]*) echo "usage: $0 N [PARALLEL]" >&2; exit 1 ;; esac
[ "$N" -ge 2 ] && [ "$PAR" -ge 1 ] || { echo "N >= 2 and PARALLEL >= 1 please" >&2; exit 1; }
BUILD=${BUILD_DIR:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
CLUSTERM=$BUILD/clusterm/clusterm
FWD=$BUILD/serf-forwarder/serf-forwarder
PHASE_TIMEOUT=${PHASE_TIMEOUT:-900}
FWD_TIMEOUT=${FWD_TIMEOUT:-5}
POLL_S=${POLL_S:-0.1}
OBSERVERS=${OBSERVERS:-0}
case $OBSERVERS in ''|*[!0-9]*) echo "OBSERVERS must be a number" >&2; exit 1 ;; esac
STOP_WAIT_S=30

for f in "$CLUSTERM" "$FWD"; do
	[ -x "$f" ] || { echo "missing $f (build first, or set BUILD_DIR)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

TMP=$(mktemp -d /tmp/clusterm-scale.XXXXXX)
CM_PID=
POLL_PID=
declare -A RUN=()	# PIDs of the forwarder runs going on

# SIGTERM, then SIGKILL after STOP_WAIT_S; only the PID given.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < STOP_WAIT_S * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	echo "warning: pid $pid ignored SIGTERM for ${STOP_WAIT_S}s, SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	trap - EXIT
	# Forwarder runs still going (an interrupted phase): each by its PID.
	for pid in "${!RUN[@]}"; do stop_pid "$pid"; done
	[ -n "$POLL_PID" ] && stop_pid "$POLL_PID"
	[ -n "$CM_PID" ] && stop_pid "$CM_PID"
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The state poller: waits until every node named in FILE has STATE, polling
# GET /api/v1/nodes (or /info/nodes) every POLL_S over one keep-alive
# connection; prints the Unix time it first saw it. Exit 1 at the deadline,
# with what it saw last on stderr.
cat >"$TMP/poll.py" <<'EOF'
import http.client, json, sys, time
port, state, names_file, deadline, interval = sys.argv[1:6]
deadline, interval = float(deadline), float(interval)
want = set(l.strip() for l in open(names_file) if l.strip())
path, conn, last = "/api/v1/nodes", None, "no reply"

def states():
    global path, conn
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status == 404 and path != "/info/nodes":
        path = "/info/nodes"
        return states()
    if r.status != 200:
        raise OSError("GET %s: HTTP %d" % (path, r.status))
    doc = json.loads(body)
    if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
        return {o.get("name"): o.get("state") for o in doc["nodes"]}
    # contiv's /info/nodes: {name: {"inventory_state": {"state": ..}}}
    return {k: (v.get("inventory_state") or {}).get("state") for k, v in doc.items()}

while True:
    try:
        st = states()
        miss = [n for n in want if st.get(n) != state]
        if not miss:
            print("%.3f" % time.time())
            sys.exit(0)
        last = "%d of %d not %s (e.g. %s: %s)" % (len(miss), len(want), state, miss[0], st.get(miss[0]))
    except (OSError, http.client.HTTPException, ValueError) as e:
        conn, last = None, "error: %s" % e
    if time.time() >= deadline:
        sys.stderr.write("poll: deadline: %s\n" % last)
        sys.exit(1)
    time.sleep(interval)
EOF

port=$(free_port)
URL=http://127.0.0.1:$port
# With observers the ticks send heartbeats, and a node that sent one waits
# one heartbeat interval before Disappeared (CONTRACT 11): 0 here, so that
# the decision times compare with runs without ticks.
if [ "$OBSERVERS" -gt 0 ]; then
	mon=$(printf '"grace_s": 0, "observers": %s, "heartbeat_interval_s": 0' "$OBSERVERS")
else
	mon='"grace_s": 0'	# as before observers (an older clusterm reads it)
fi
printf '{"manager": {"addr": "127.0.0.1:%s", "state_dir": "%s"}, "monitor": {%s}}\n' \
	"$port" "$TMP/state" "$mon" >"$TMP/clusterm.conf"
echo '{}' >"$TMP/fwd.conf"	# no /etc/serf-forwarder.conf
mkdir "$TMP/spool"

"$CLUSTERM" -c "$TMP/clusterm.conf" >"$TMP/clusterm.log" 2>&1 &
CM_PID=$!
deadline=$(($(date +%s) + 30))
until curl -sf --max-time 2 "$URL/healthz" >/dev/null 2>&1; do
	kill -0 "$CM_PID" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ] || {
		echo "clusterm did not get ready" >&2; tail -20 "$TMP/clusterm.log" >&2; exit 1; }
	sleep 0.05
done

# Member lines as serf writes them: NAME, ADDRESS, ROLE, TAGS.
member() { printf 'n%d\t10.%d.%d.%d\tworker\t\n' "$1" $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255)); }
K=$((N / 10 > 0 ? N / 10 : 1))
[ $((K + 2)) -le "$N" ] || { echo "N too small for the 10% phase" >&2; exit 1; }
for ((i = 1; i <= N; i++)); do member "$i"; done >"$TMP/members.all"
member 1 >"$TMP/members.fail1"
for ((i = 2; i <= K + 1; i++)); do member "$i"; done >"$TMP/members.fail10"
seq -f 'n%.0f' 1 "$N" >"$TMP/names.all"
echo n1 >"$TMP/names.fail1"
seq -f 'n%.0f' 2 $((K + 1)) >"$TMP/names.fail10"

echo "scale: N=$N parallel=$PAR cpus=$(nproc) forwarder -t $FWD_TIMEOUT, clusterm $CLUSTERM (monitor.grace_s 0, monitor.observers $OBSERVERS)"

# run_pool EVENT MEMBERS FIRST LAST: runs the forwarder of nodes nFIRST..nLAST
# with EVENT and the member lines of MEMBERS, PARALLEL at a time. Sets
# POOL_FAILED (runs that exited non-zero), POOL_SKIPPED (not started: the
# phase's deadline passed) and POOL_END (when the last run exited).
# Reaps one finished run. Polls (kill -0) rather than `wait -n PID...`,
# which on a loaded machine was seen to lose a run already reaped and then
# wait for any child: clusterm, for ever.
pool_reap() {
	local rc pid
	while :; do
		for pid in "${!RUN[@]}"; do
			kill -0 "$pid" 2>/dev/null && continue
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			unset "RUN[$pid]"
			[ "$rc" -eq 0 ] || POOL_FAILED=$((POOL_FAILED + 1))
			return 0
		done
		sleep 0.005
	done
}
run_pool() {
	local ev=$1 members=$2 first=$3 last=$4 i
	local dl=$(($(date +%s) + PHASE_TIMEOUT))
	POOL_FAILED=0 POOL_SKIPPED=0
	for ((i = first; i <= last; i++)); do
		[ "${#RUN[@]}" -lt "$PAR" ] || pool_reap
		if [ "$(date +%s)" -ge "$dl" ]; then
			POOL_SKIPPED=$((last - i + 1))
			break
		fi
		if [ "$ev" = tick ]; then
			"$FWD" -c "$TMP/fwd.conf" -u "$URL" -s "$TMP/spool/n$i" \
				-t "$FWD_TIMEOUT" tick </dev/null 2>>"$TMP/fwd.log" &
		else
			SERF_EVENT=$ev SERF_SELF_NAME=n$i "$FWD" -c "$TMP/fwd.conf" -u "$URL" \
				-s "$TMP/spool/n$i" -t "$FWD_TIMEOUT" <"$members" 2>>"$TMP/fwd.log" &
		fi
		RUN[$!]=1
	done
	while [ "${#RUN[@]}" -gt 0 ]; do pool_reap; done
	POOL_END=$(now)
}

# Forwarder runs whose batch (or part of it) was spooled, not delivered.
spooled_runs() { grep -c -- '-> spooled' "$TMP/fwd.log" 2>/dev/null || true; }

# phase NAME EVENT MEMBERS FIRST LAST STATE NAMES: the forwarders of
# nFIRST..nLAST report EVENT; the state poller runs from the start. Sets
# PH_S (until every node of NAMES has STATE), PH_DONE_S (and every run has
# exited) and PH_OK.
phase() {
	local name=$1 ev=$2 members=$3 first=$4 last=$5 state=$6 names=$7
	local t0 seen sp0 runs=$(($5 - $4 + 1)) reports r0
	reports=$((runs * $(wc -l <"$members")))
	sp0=$(spooled_runs)
	r0=$(taken)
	t0=$(now)
	python3 "$TMP/poll.py" "$port" "$state" "$names" \
		"$(awk -v t="$t0" -v d="$PHASE_TIMEOUT" 'BEGIN { printf "%.0f", t + d }')" "$POLL_S" \
		>"$TMP/poll.$name" 2>"$TMP/poll.$name.err" &
	POLL_PID=$!
	run_pool "$ev" "$members" "$first" "$last"
	if [ "$name" = boot ] && [ "$OBSERVERS" -gt 0 ]; then
		# clusterm holds assignments back until a burst of joins has
		# settled for its OBSERVERS_SETTLE_MS (1 s); real ticks come
		# tick_s apart, long after
		sleep 1.1
		run_pool tick /dev/null "$first" "$last"	# the tick timer's round
	fi
	PH_OK=1
	wait "$POLL_PID" 2>/dev/null || PH_OK=0
	POLL_PID=
	seen=$(cat "$TMP/poll.$name")
	if [ "$PH_OK" = 1 ] && [ "$POOL_SKIPPED" = 0 ]; then
		PH_S=$(elapsed "$t0" "$seen")
		PH_DONE_S=$(elapsed "$t0" "$(max "$seen" "$POOL_END")")
	else
		PH_OK=0 PH_S=">$PHASE_TIMEOUT" PH_DONE_S=">$PHASE_TIMEOUT"
		cat "$TMP/poll.$name.err" >&2
	fi
	PH_TAKEN=$(($(taken) - r0))
	echo "$name: $runs forwarder runs ($ev, $reports member lines, $PAR at a time): $(wc -l <"$names") node(s) $state after ${PH_S}s, every run exited and state reached after ${PH_DONE_S}s; reports taken by clusterm $PH_TAKEN; runs failed $POOL_FAILED, not started $POOL_SKIPPED, spooled $(($(spooled_runs) - sp0)); clusterm VmHWM $(hwm_mb) MB"
}

# Reports clusterm has applied so far (its /metrics counter).
taken() { curl -sf --max-time 10 "$URL/metrics" | awk '$1 == "clusterm_reports_received_total" { print $2 }' || echo 0; }

# clusterm's CPU time (user + system) so far, in seconds: less noisy than wall time on a shared machine.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$CM_PID/stat" 2>/dev/null || echo '?'; }
hwm_mb() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$CM_PID/status" 2>/dev/null || echo '?'; }

result=fail
final() {
	local depth=0 d n rss state_mb
	rss=$(hwm_mb)
	cpu=$(cpu_s)
	for d in "$TMP"/spool/n*; do
		[ -d "$d" ] || continue
		n=$("$FWD" -c "$TMP/fwd.conf" -s "$d" status | awk '$1 == "depth:" { print $2 }')
		depth=$((depth + ${n:-0}))
	done
	state_mb=$(du -sk "$TMP/state" | awk '{ printf "%.1f", $1 / 1024 }')
	echo "end: clusterm peak RSS (VmHWM) $rss MB, state dir $state_mb MB, spooled (depth of all $N spools) $depth, forwarder runs that spooled $(spooled_runs)"
	echo "scale N=$N observers=$OBSERVERS parallel=$PAR boot_s=$BOOT_S boot_reports=$BOOT_R fail1_s=$F1_S fail1_done_s=$F1_DONE_S fail1_reports=$F1_R fail10_s=$F10_S fail10_done_s=$F10_DONE_S fail10_reports=$F10_R rss_mb=$rss cpu_s=$cpu state_mb=$state_mb spooled=$depth result=$result"
}
BOOT_S=- F1_S=- F1_DONE_S=- F10_S=- F10_DONE_S=- BOOT_R=- F1_R=- F10_R=-

# boot: the poller counts only once the forwarders are done (the first run
# alone makes every node Discovered), so the time is the later of the two.
phase boot member-join "$TMP/members.all" 1 "$N" Discovered "$TMP/names.all"
BOOT_S=$PH_DONE_S BOOT_R=$PH_TAKEN
[ "$PH_OK" = 1 ] || { final; exit 1; }
phase fail1 member-failed "$TMP/members.fail1" 2 "$N" Disappeared "$TMP/names.fail1"
F1_S=$PH_S F1_DONE_S=$PH_DONE_S F1_R=$PH_TAKEN
[ "$PH_OK" = 1 ] || { final; exit 1; }
if [ "$OBSERVERS" -gt 0 ]; then
	run_pool tick /dev/null 2 "$N"	# untimed: n1's subjects get their new observers
fi
phase fail10 member-failed "$TMP/members.fail10" $((K + 2)) "$N" Disappeared "$TMP/names.fail10"
F10_S=$PH_S F10_DONE_S=$PH_DONE_S F10_R=$PH_TAKEN
[ "$PH_OK" = 1 ] || { final; exit 1; }
result=ok
final
