#!/bin/sh
# Checks the Debian packages that scripts/package built, without installing
# them: both are unpacked with dpkg -x into a throwaway root and the packaged
# programs, configuration files, man pages, conffiles, maintainer scripts and
# systemd unit are checked there.
#   tests/package/test_package.sh [DEB_DIR]     (default build-deb/)
# One line per check ("ok: ", "FAIL: " or "skip: "), then
# "N passed, N failed, N skipped"; exits 1 when a check failed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
debdir=${1:-$top/build-deb}

passed=0
failed=0
skipped=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skip: $*"; skipped=$((skipped + 1)); }
# check NAME COMMAND...: ok when the command succeeds, else FAIL with its output.
check() {
	name=$1
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		fail "$name"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -n 20
	fi
}
finish() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
	exit
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clusterm-pkgtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root
mkdir "$root"

cm_deb=$(ls "$debdir"/clusterm_*.deb 2>/dev/null | head -n 1)
sf_deb=$(ls "$debdir"/serf-forwarder_*.deb 2>/dev/null | head -n 1)
if [ -z "$cm_deb" ] || [ -z "$sf_deb" ]; then
	fail "packages in $debdir (run scripts/package first)"
	finish
fi
ok "packages built: $(basename "$cm_deb") $(basename "$sf_deb")"
if dpkg -x "$cm_deb" "$root" && dpkg -x "$sf_deb" "$root"; then
	ok "dpkg -x into a throwaway root"
else
	fail "dpkg -x into a throwaway root"
	finish
fi

# -- the files each package holds
files_in() { # DEB PATH...: each PATH is in DEB
	deb=$1
	shift
	dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's#^\./#/#; s#/$##' >"$tmp/list"
	for p; do
		grep -qx "$p" "$tmp/list" || { echo "missing: $p"; return 1; }
	done
}
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
shim=/usr/lib/$multiarch/clusterm/libclusterm-tls.so
check "clusterm holds its programs, TLS shim, unit, configuration" files_in "$cm_deb" \
	/usr/sbin/clusterm /usr/bin/clusterctl "$shim" \
	/lib/systemd/system/clusterm.service /etc/clusterm/clusterm.conf \
	/etc/clusterm/ansible /etc/clusterm/ansible/README
check "serf-forwarder holds its program, configuration, examples" files_in "$sf_deb" \
	/usr/bin/serf-forwarder /etc/serf-forwarder.conf \
	/usr/share/doc/serf-forwarder/examples/serf-forwarder.json \
	/usr/share/doc/serf-forwarder/examples/serf.json \
	/usr/share/doc/serf-forwarder/examples/serf-agent.service \
	/lib/systemd/system/serf-forwarder-tick.service \
	/lib/systemd/system/serf-forwarder-tick.timer
not_in() { # DEB PATH: PATH is not in DEB
	dpkg-deb -c "$1" | awk '{print $NF}' | sed 's#^\./#/#; s#/$##' | grep -x "$2" && return 1
	return 0
}
check "serf-forwarder(1) only in serf-forwarder" not_in "$cm_deb" /usr/share/man/man1/serf-forwarder.1.gz

# The shim must be where the binary looks for it (-DTLS_SHIM_PATH).
baked_shim() {
	path=$(strings "$root/usr/sbin/clusterm" | grep -x '/.*/libclusterm-tls\.so' | head -n 1)
	echo "clusterm loads ${path:-<none found>}"
	[ -n "$path" ] && [ -f "$root$path" ]
}
check "TLS shim installed where clusterm loads it" baked_shim

# -- the packaged programs run, on the packaged configuration
state=$tmp/state
mkdir -m 0700 "$state"
conf_ok() {
	out=$("$root/usr/sbin/clusterm" -n -c "$root/etc/clusterm/clusterm.conf" -d "$state" 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] && echo "$out" | grep -q 'configuration ok'
}
check "clusterm -n accepts /etc/clusterm/clusterm.conf" conf_ok
conf_keys() {
	python3 - "$root/etc/clusterm/clusterm.conf" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
want = {("manager", "addr"): "127.0.0.1:9007",
        ("manager", "state_dir"): "/var/lib/clusterm",
        ("ansible", "playbook_location"): "/etc/clusterm/ansible"}
bad = [f"{s}.{k} = {c.get(s, {}).get(k)!r}, want {v!r}"
       for (s, k), v in want.items() if c.get(s, {}).get(k) != v]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}
check "clusterm.conf: loopback listen, /var/lib/clusterm, /etc/clusterm/ansible" conf_keys
refuses_open_dir() {
	mkdir -m 0755 "$tmp/open"
	! "$root/usr/sbin/clusterm" -n -c "$root/etc/clusterm/clusterm.conf" -d "$tmp/open"
}
check "clusterm -n refuses a state dir open to others" refuses_open_dir
check "clusterctl --version" sh -c '"$1" --version | grep -q "^clusterctl "' sh "$root/usr/bin/clusterctl"
check "serf-forwarder version" sh -c '"$1" version | grep -q "^serf-forwarder [0-9]"' sh "$root/usr/bin/serf-forwarder"
fwd_status() {
	out=$("$root/usr/bin/serf-forwarder" -c "$root/etc/serf-forwarder.conf" -s "$tmp/spool" status 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] && echo "$out" | grep -qx 'depth: 0'
}
check "serf-forwarder -c /etc/serf-forwarder.conf status" fwd_status
examples_ok() {
	python3 - "$root/usr/share/doc/serf-forwarder/examples" <<'PY'
import json, sys
for name in ("serf-forwarder.json", "serf.json"):
    c = json.load(open(f"{sys.argv[1]}/{name}"))
    line = c["event_handlers"][0]
    ev, cmd = line.split("=", 1)
    assert set(ev.split(",")) == {"member-join", "member-leave", "member-failed",
                                  "member-update", "member-reap"}, line
    assert cmd == "/usr/bin/serf-forwarder -c /etc/serf-forwarder.conf", line
PY
}
check "serf config examples: handler line for /usr/bin/serf-forwarder" examples_ok

# -- man pages, gzipped, with the programs
man_ok() {
	for page; do
		f=$root/usr/share/man/$page.gz
		[ -f "$f" ] || { echo "missing: $f"; return 1; }
		gzip -t "$f" || return 1
		zcat "$f" | grep -q '^\.\(Dd\|TH\)' || { echo "not a man page: $f"; return 1; }
	done
}
check "man pages clusterm(8) clusterm.conf(5) clusterctl(1) serf-forwarder(1), gzipped" \
	man_ok man8/clusterm.8 man5/clusterm.conf.5 man1/clusterctl.1 man1/serf-forwarder.1

# -- clusterctl's bash completion
completion_ok() {
	f=$root/usr/share/bash-completion/completions/clusterctl
	[ -f "$f" ] || { echo "missing: $f"; return 1; }
	bash -n "$f" && grep -q 'complete .*clusterctl' "$f"
}
check "clusterctl's bash completion in the clusterm package" completion_ok

# -- conffiles and control fields
ctrl() { # DEB DIR: the control archive of DEB unpacked into DIR
	mkdir -p "$2" && dpkg-deb --ctrl-tarfile "$1" | tar -xf - -C "$2"
}
ctrl "$cm_deb" "$tmp/ctl-cm"
ctrl "$sf_deb" "$tmp/ctl-sf"
conffiles_ok() {
	file=$1
	shift
	for p; do
		grep -qx "$p" "$file" || { echo "not a conffile: $p"; cat "$file"; return 1; }
	done
}
check "clusterm conffiles" conffiles_ok "$tmp/ctl-cm/conffiles" \
	/etc/clusterm/clusterm.conf /etc/clusterm/ansible/README
check "serf-forwarder conffiles" conffiles_ok "$tmp/ctl-sf/conffiles" /etc/serf-forwarder.conf
field_has() { # DEB FIELD WORD
	v=$(dpkg-deb -f "$1" "$2")
	echo "$2: $v"
	echo "$v" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$3"
}
check "clusterm Recommends: ansible" field_has "$cm_deb" Recommends ansible
check "clusterm Depends: adduser" field_has "$cm_deb" Depends adduser
check "clusterm Depends: libcivetweb1 (shlibs)" field_has "$cm_deb" Depends libcivetweb1
check "serf-forwarder Suggests: serf" field_has "$sf_deb" Suggests serf

# -- maintainer scripts (read, not run: they change the system)
scripts_ok() {
	for s in "$tmp"/ctl-cm/postinst "$tmp"/ctl-cm/postrm "$tmp"/ctl-sf/postinst "$tmp"/ctl-sf/postrm; do
		sh -n "$s" || { echo "syntax: $s"; return 1; }
	done
	grep -q 'adduser .*--system' "$tmp/ctl-cm/postinst" &&
	grep -q 'install -d -m 0700 -o clusterm -g clusterm /var/lib/clusterm' "$tmp/ctl-cm/postinst" &&
	grep -q 'install -d -m 0700 /var/spool/serf-forwarder' "$tmp/ctl-sf/postinst" || {
		echo "postinst does not create the user, state dir or spool"; return 1; }
	# what is removed, only on purge
	for pair in "ctl-cm:rm -rf /var/lib/clusterm" "ctl-cm:deluser" "ctl-sf:rm -rf /var/spool/serf-forwarder"; do
		f=$tmp/${pair%%:*}/postrm
		what=${pair#*:}
		awk -v w="$what" '
			/^if \[ "\$1" = "purge" \]/ { inpurge = 1 }
			/^fi$/ { inpurge = 0 }
			index($0, w) { if (inpurge) found = 1; else outside = 1 }
			END { exit !(found && !outside) }' "$f" || {
			echo "$f: '$what' not (only) under purge"; return 1; }
	done
}
check "maintainer scripts: user, state dir, spool created; removed on purge only" scripts_ok

# -- the systemd unit
unit=$root/lib/systemd/system/clusterm.service
unit_ok() {
	for line in User=clusterm StateDirectory=clusterm StateDirectoryMode=0700 \
	    NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	    'ExecReload=/bin/kill -HUP $MAINPID' \
	    'ExecStart=/usr/sbin/clusterm -c /etc/clusterm/clusterm.conf'; do
		grep -qxF "$line" "$unit" || { echo "missing: $line"; return 1; }
	done
}
check "clusterm.service hardening and paths" unit_ok
sysd=$root/lib/systemd/system
tick_ok() {
	for line in Type=oneshot 'ExecStart=/usr/bin/serf-forwarder tick'; do
		grep -qxF "$line" "$sysd/serf-forwarder-tick.service" ||
			{ echo "service missing: $line"; return 1; }
	done
	for line in OnUnitActiveSec=10s OnBootSec=10s RandomizedDelaySec=10s AccuracySec=1s \
	    WantedBy=timers.target; do
		grep -qxF "$line" "$sysd/serf-forwarder-tick.timer" ||
			{ echo "timer missing: $line"; return 1; }
	done
	# dh_installsystemd enables and starts the timer in the postinst
	dpkg-deb -e "$sf_deb" "$tmp/ctl-tick" &&
		grep -q 'serf-forwarder-tick.timer' "$tmp/ctl-tick/postinst" ||
		{ echo "postinst does not enable serf-forwarder-tick.timer"; return 1; }
}
check "serf-forwarder-tick.timer every 10 s runs serf-forwarder tick, enabled" tick_ok
agent_unit_ok() {
	f=$root/usr/share/doc/serf-forwarder/examples/serf-agent.service
	grep -q '/usr/local/bin/serf-forwarder -c' "$f" && { echo "$f calls /usr/local/bin"; return 1; }
	grep -q '^ExecStartPost=-/usr/bin/serf-forwarder ' "$f"
}
check "example serf-agent.service calls /usr/bin/serf-forwarder" agent_unit_ok

# verify_unit NAME FILE...: systemd-analyze verify on copies pointing into the
# throwaway root, with the packaged man pages.
verify_unit() {
	name=$1
	shift
	if ! command -v systemd-analyze >/dev/null; then
		skip "systemd-analyze verify $name (systemd-analyze not installed)"
		return
	fi
	rm -rf "$tmp/unit"
	mkdir "$tmp/unit"
	for f; do
		sed "s#/usr/sbin/clusterm#$root/usr/sbin/clusterm#g; s#/usr/bin/serf-forwarder#$root/usr/bin/serf-forwarder#g" \
			"$f" >"$tmp/unit/$(basename "$f")"
	done
	if (cd "$tmp/unit" && MANPATH=$root/usr/share/man systemd-analyze verify *) \
	    >"$tmp/verify.log" 2>&1; then
		if [ -s "$tmp/verify.log" ]; then
			fail "systemd-analyze verify $name (warnings)"
			sed 's/^/    /' "$tmp/verify.log"
		else
			ok "systemd-analyze verify $name"
		fi
	elif grep -qi 'not booted\|Failed to connect\|Failed to initialize manager\|Operation not permitted' \
	    "$tmp/verify.log"; then
		skip "systemd-analyze verify $name (cannot run here: $(head -n 1 "$tmp/verify.log"))"
	else
		fail "systemd-analyze verify $name"
		sed 's/^/    /' "$tmp/verify.log"
	fi
}
verify_unit clusterm.service "$unit"
verify_unit serf-forwarder-tick.timer "$sysd/serf-forwarder-tick.timer" \
	"$sysd/serf-forwarder-tick.service"

finish
