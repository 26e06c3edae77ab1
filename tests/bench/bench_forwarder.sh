#!/bin/sh
# Invocation cost of serf-forwarder against an sh+curl handler doing the
# same POST: wall time per run and peak RSS, one member-update delivered to
# a real clusterm on loopback each time (the tag changes every run, so no
# update is suppressed). Both in the same run, alternating in blocks, with a
# third block of serf-forwarder over https:// to a second, TLS clusterm (a
# self-signed certificate, --cacert): the per-event cost of the https client
# beside the built-in http one (its TLS layer on libssl, loaded at the first
# https use). Also checks that a plain-HTTP run maps neither libssl nor
# libcurl, and which of them an https run maps. Last, the cost of a
# `serf-forwarder tick` (empty spool, heartbeat, no sync due: what runs every
# 10 s on every node) against an event run, in alternating blocks of the
# same run: wall time, CPU (user + sys) per run and peak RSS. Not run by
# meson test.
#
#   tests/bench/bench_forwarder.sh [BUILD_DIR] [RUNS]
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${BUILD_DIR:-$src/build}}
runs=${2:-300}
fwd=$build/serf-forwarder/serf-forwarder
cm=$build/clusterm/clusterm
for b in "$fwd" "$cm"; do
	[ -x "$b" ] || { echo "missing $b (build first)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-fwd.XXXXXX)
cm_pid= tls_pid=
cleanup() {
	[ -n "$cm_pid" ] && kill "$cm_pid" 2>/dev/null && wait "$cm_pid" 2>/dev/null
	[ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null && wait "$tls_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$cm" -l "127.0.0.1:$port" -d "$tmp/state" >"$tmp/clusterm.log" 2>&1 &
cm_pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 500 ] || { echo "clusterm did not get ready" >&2; cat "$tmp/clusterm.log" >&2; exit 1; }
	sleep 0.01
done
url=http://127.0.0.1:$port

# The TLS clusterm for the https:// runs.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
mkdir -p -m 700 "$tmp/tls-state"
printf '{"tls": {"cert_file": "%s", "key_file": "%s"}}\n' "$tmp/cert.pem" "$tmp/key.pem" \
    >"$tmp/tls.conf"
tport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$cm" -c "$tmp/tls.conf" -l "127.0.0.1:$tport" -d "$tmp/tls-state" >"$tmp/clusterm-tls.log" 2>&1 &
tls_pid=$!
i=0
until curl -sf --cacert "$tmp/cert.pem" "https://127.0.0.1:$tport/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 500 ] || { echo "TLS clusterm did not get ready" >&2; cat "$tmp/clusterm-tls.log" >&2; exit 1; }
	sleep 0.01
done
turl=https://127.0.0.1:$tport

now_ns() { date +%s%N; }

# The sh + curl handler: the same POST (body and reporter headers).
cat >"$tmp/handler.sh" <<'SH'
read -r name addr role tags
curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -H "X-Reporter: $SERF_SELF_NAME" -H 'X-Reporter-Epoch: shcurl' \
    -H "X-Reporter-Seq: $SEQ" \
    --data "[{\"Node-Label\":\"$name\",\"Node-Serial\":\"S1\",\"Node-Mgmt-Address\":\"$addr\",\"Node-Name\":\"$name\",\"Node-Role\":\"$role\",\"Serf-Event\":\"$SERF_EVENT\",\"rack\":\"${tags#*rack=}\"}]" \
    "$URL/monitor/event/discovered"
SH
export URL="$url" SERF_EVENT=member-update SERF_SELF_NAME=bench

# One member-update per run, delivered; serf-forwarder and sh + curl take
# turns in blocks, so that a change of machine load hits both alike.
fwd_run() {
	printf 'node1\t127.0.0.1\tweb\tNodeSerial=S1,rack=r%d\n' "$1" |
	    "$fwd" -u "$url" -s "$tmp/spool" 2>/dev/null
}
tls_run() {
	printf 'node3\t127.0.0.1\tweb\tNodeSerial=S1,rack=r%d\n' "$1" |
	    "$fwd" -u "$turl" --cacert "$tmp/cert.pem" -s "$tmp/tls-spool" 2>/dev/null
}
sh_run() {
	printf 'node2\t127.0.0.1\tweb\tNodeSerial=S1,rack=r%d\n' "$1" |
	    SEQ=$(($1 + 1)) sh "$tmp/handler.sh"
}
fwd_run 0; sh_run 0; tls_run 0	# the spools' epochs and the nodes exist before timing
blocks=10
per=$(( (runs + blocks - 1) / blocks ))
fwd_ns=0 sh_ns=0 tls_ns=0 i=1 b=0
while [ $b -lt $blocks ]; do
	t0=$(now_ns)
	j=0
	while [ $j -lt $per ]; do fwd_run $((i + j)); j=$((j + 1)); done
	t1=$(now_ns)
	j=0
	while [ $j -lt $per ]; do sh_run $((i + j)); j=$((j + 1)); done
	t2=$(now_ns)
	j=0
	while [ $j -lt $per ]; do tls_run $((i + j)); j=$((j + 1)); done
	t3=$(now_ns)
	fwd_ns=$((fwd_ns + t1 - t0))
	sh_ns=$((sh_ns + t2 - t1))
	tls_ns=$((tls_ns + t3 - t2))
	i=$((i + per))
	b=$((b + 1))
done
runs=$((per * blocks))
fwd_us=$((fwd_ns / runs / 1000))
sh_us=$((sh_ns / runs / 1000))
tls_us=$((tls_ns / runs / 1000))

# Peak RSS of one run each (GNU time; for sh it covers curl too).
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
if [ -x /usr/bin/time ]; then
	fwd_kb=$(printf 'node1\t127.0.0.1\tweb\tNodeSerial=S1,rack=rss\n' |
	    rss "$fwd" -u "$url" -s "$tmp/spool")
	sh_kb=$(printf 'node2\t127.0.0.1\tweb\tNodeSerial=S1,rack=rss\n' |
	    SEQ=$((i + 1)) rss sh "$tmp/handler.sh")
	tls_kb=$(printf 'node3\t127.0.0.1\tweb\tNodeSerial=S1,rack=rss\n' |
	    rss "$fwd" -u "$turl" --cacert "$tmp/cert.pem" -s "$tmp/tls-spool")
else
	fwd_kb=? sh_kb=? tls_kb=?
fi

echo "runs: $runs each, in $blocks alternating blocks (one member-update delivered per run, clusterm on loopback)"
echo "serf-forwarder: ${fwd_us} us/run, peak RSS ${fwd_kb} KiB"
echo "sh + curl:      ${sh_us} us/run, peak RSS ${sh_kb} KiB"
echo "serf-forwarder https: ${tls_us} us/run, peak RSS ${tls_kb} KiB (http: ${fwd_us} us/run)"
awk -v a="$tls_us" -v b="$fwd_us" 'BEGIN { printf "https/http per event: %.2fx (+%d us)\n", a / b, a - b }'
awk -v a="$sh_us" -v b="$fwd_us" 'BEGIN { printf "speed-up: %.2fx (target >= 3x)\n", a / b }'
case $fwd_kb in
''|*[!0-9]*) ;;
*) awk -v k="$fwd_kb" 'BEGIN { printf "RSS: %.1f MiB (target < 8 MiB)\n", k / 1024 }' ;;
esac
"$fwd" -s "$tmp/spool" status | sed -n 1p | sed 's/^/spool after the runs: /'
"$fwd" -s "$tmp/tls-spool" status | sed -n 1p | sed 's/^/https spool after the runs: /'

# ---- a tick against an event run (same run, alternating blocks) ----
printf '{"spool_dir": "%s", "node_name": "bench-tick", "sync_interval_s": 604800}\n' \
    "$tmp/tick-spool" >"$tmp/tick.conf"
"$fwd" -c "$tmp/tick.conf" -u "$url" tick 2>/dev/null || true	# epoch, sync schedule
tick_hb=$("$fwd" -v -c "$tmp/tick.conf" -u "$url" tick 2>&1 | sed -n 's/.*; heartbeat \(.*\); sync.*/\1/p')
# block KIND N: runs N runs of KIND, prints "wall_s user_s sys_s" (GNU time, children included)
block() {
	/usr/bin/time -f '%e %U %S' sh -c '
		kind=$1 n=$2 fwd=$3 url=$4 tmp=$5 i=0
		while [ $i -lt $n ]; do
			if [ "$kind" = tick ]; then
				"$fwd" -c "$tmp/tick.conf" -u "$url" tick 2>/dev/null
			else
				printf "node4\t127.0.0.1\tweb\tNodeSerial=S1,rack=t%d\n" "$i$$" |
				    "$fwd" -u "$url" -s "$tmp/ev-spool" 2>/dev/null
			fi
			i=$((i + 1))
		done' sh "$1" "$2" "$fwd" "$url" "$tmp" 2>&1 >/dev/null | tail -1
}
if [ -x /usr/bin/time ]; then
	ev_w=0 ev_c=0 tk_w=0 tk_c=0 b=0
	while [ $b -lt $blocks ]; do
		set -- $(block event "$per")
		ev_w=$(awk -v a="$ev_w" -v b="$1" 'BEGIN { print a + b }')
		ev_c=$(awk -v a="$ev_c" -v b="$2" -v c="$3" 'BEGIN { print a + b + c }')
		set -- $(block tick "$per")
		tk_w=$(awk -v a="$tk_w" -v b="$1" 'BEGIN { print a + b }')
		tk_c=$(awk -v a="$tk_c" -v b="$2" -v c="$3" 'BEGIN { print a + b + c }')
		b=$((b + 1))
	done
	ev_kb=$(printf 'node4\t127.0.0.1\tweb\tNodeSerial=S1,rack=rss\n' |
	    rss "$fwd" -u "$url" -s "$tmp/ev-spool")
	tk_kb=$(rss "$fwd" -c "$tmp/tick.conf" -u "$url" tick)
	echo "tick vs event: $runs runs each, in $blocks alternating blocks (tick: empty spool," \
	    "heartbeat $tick_hb, no sync due)"
	awk -v w="$ev_w" -v c="$ev_c" -v n="$runs" -v k="$ev_kb" 'BEGIN {
		printf "event run: %d us wall, %d us CPU per run, peak RSS %s KiB\n", w * 1e6 / n, c * 1e6 / n, k }'
	awk -v w="$tk_w" -v c="$tk_c" -v n="$runs" -v k="$tk_kb" 'BEGIN {
		printf "tick:      %d us wall, %d us CPU per run, peak RSS %s KiB\n", w * 1e6 / n, c * 1e6 / n, k }'
	awk -v a="$tk_w" -v b="$ev_w" -v c="$tk_c" -v d="$ev_c" 'BEGIN {
		printf "tick/event: %.2fx wall, %.2fx CPU; every 10 s: %.3f%% of one core\n", a / b, c / d,
		    c / '"$runs"' / 10 * 100 }'
else
	echo "tick vs event: skipped (/usr/bin/time missing)"
fi

loaded() {	# the libssl/libcurl sonames a run with these arguments loads
	LD_DEBUG=files "$fwd" "$@" 2>&1 | grep -o 'lib\(ssl\|curl\)\.so\.[0-9]*' | sort -u |
	    tr '\n' ' '
}
http_libs=$(printf 'node1\t127.0.0.1\tweb\tNodeSerial=S1,rack=libs2\n' |
    loaded -u "$url" -s "$tmp/spool")
tls_libs=$(printf 'node3\t127.0.0.1\tweb\tNodeSerial=S1,rack=libs2\n' |
    loaded -u "$turl" --cacert "$tmp/cert.pem" -s "$tmp/tls-spool")
if [ -n "$http_libs" ]; then
	echo "libraries: an http run LOADED $http_libs"
else
	echo "libraries: $(ldd "$fwd" | grep -c '=>') linked (ldd), no libssl nor libcurl loaded by an http run"
fi
echo "libraries loaded by an https run: ${tls_libs:-none}"
