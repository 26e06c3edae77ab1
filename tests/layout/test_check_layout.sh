#!/bin/sh
# scripts/check-layout on small made-up trees: each breach it must find, and
# a clean tree it must pass. Prints ok:/FAIL: lines.
cd "$(dirname "$0")/../.." || exit 1
check=$(pwd)/scripts/check-layout
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tree NAME: a clean tree in $tmp/NAME (common/ < core/ < http/)
tree() {
	d=$tmp/$1
	mkdir -p "$d/common" "$d/clusterm/core" "$d/clusterm/http" "$d/serf-forwarder"
	printf '#include "buf.h"\n' >"$d/common/buf.c"
	: >"$d/common/buf.h"
	printf '#include "buf.h"\n#include "state.h"\n' >"$d/clusterm/core/state.c"
	printf '#include "buf.h"\n' >"$d/clusterm/core/state.h"
	printf '#include "state.h"\n' >"$d/clusterm/http/api.c"
	printf '#include "buf.h"\n' >"$d/serf-forwarder/main.c"
	echo "$d"
}

# expect NAME WANT-EXIT GREP-PATTERN DIR
expect() {
	out=$("$check" "$4" 2>&1)
	rc=$?
	if [ "$rc" -eq "$2" ] && printf '%s\n' "$out" | grep -q -- "$3"; then
		echo "ok: check-layout: $1"
	else
		echo "FAIL: check-layout: $1 (exit $rc)"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
}

d=$(tree clean)
expect "a clean tree passes" 0 "no cycle, no upward include" "$d"

d=$(tree up)
printf '#include "buf.h"\n#include "api.h"\n' >"$d/clusterm/core/state.c"
: >"$d/clusterm/http/api.h"
expect "core including http is an upward include" 1 "state.c: includes clusterm/http/api.h" "$d"

d=$(tree side)
mkdir -p "$d/clusterm/jobs"
printf '#include "main.h"\n' >"$d/clusterm/jobs/jobs.c"
: >"$d/serf-forwarder/main.h"
expect "jobs including serf-forwarder (same layer) is refused" 1 \
    "jobs.c: includes serf-forwarder/main.h" "$d"

d=$(tree cycle)
printf '#include "b.h"\n' >"$d/clusterm/core/a.c"
: >"$d/clusterm/core/a.h"
printf '#include "a.h"\n' >"$d/clusterm/core/b.c"
: >"$d/clusterm/core/b.h"
expect "a cycle between two modules" 1 "cycle between clusterm/core/a, clusterm/core/b" "$d"

d=$(tree impl)
printf '#include "state.h"\n' >"$d/clusterm/core/state_impl.h"
printf '#include "state_impl.h"\n' >"$d/clusterm/http/api.c"
expect "a private header included from another folder" 1 "internals of clusterm/core" "$d"

d=$(tree unknown)
printf '#include "nowhere.h"\n' >"$d/clusterm/http/api.c"
expect "an include naming no file" 1 'names no file of the tree' "$d"
