#!/bin/sh
# Installs, removes and purges the built packages with dpkg, for real but in a
# throwaway copy of this machine: an overlay of / in a private mount namespace,
# entered with chroot, so that this machine's own file system and dpkg
# database are never touched (everything written lands in a temporary upper
# directory, removed at the end). No service is started (policy-rc.d).
#   tests/package/test_install.sh [DEB_DIR]     (default build-deb/)
# One line per check ("ok: ", "FAIL: " or "skip: "), then
# "N passed, N failed, N skipped". Skips, counted as skipped, where mount
# namespaces or overlayfs are not allowed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
debdir=$(cd "${1:-$top/build-deb}" 2>/dev/null && pwd) || debdir=${1:-$top/build-deb}

if [ "${IN_OVERLAY:-}" != 1 ]; then
	cm_deb=$(ls "$debdir"/clusterm_*.deb 2>/dev/null | head -n 1)
	sf_deb=$(ls "$debdir"/serf-forwarder_*.deb 2>/dev/null | head -n 1)
	if [ -z "$cm_deb" ] || [ -z "$sf_deb" ]; then
		echo "FAIL: packages in $debdir (run scripts/package first)"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/clusterm-pkginst.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	mkdir "$tmp/upper" "$tmp/work" "$tmp/root" "$tmp/debs"
	cp "$cm_deb" "$sf_deb" "$tmp/debs/"
	cp "$0" "$tmp/debs/test_install.sh"
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null ||
	    ! unshare -m --propagation private sh -c \
	    "mount -t overlay overlay -o lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work $tmp/root" \
	    2>"$tmp/err"; then
		echo "skip: install, remove and purge in an overlay root (not allowed here: $(head -n 1 "$tmp/err" 2>/dev/null))"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	rm -rf "$tmp/upper" "$tmp/work"
	mkdir "$tmp/upper" "$tmp/work"
	# What dpkg and adduser rewrite is copied into the upper layer first: a
	# lower file that changes under the overlay (this machine's own apt
	# running meanwhile) gives "Stale file handle" there.
	mkdir -p "$tmp/upper/etc" "$tmp/upper/var/lib" "$tmp/upper/var/cache"
	for f in passwd group shadow gshadow subuid subgid ld.so.cache; do
		[ -e "/etc/$f" ] && cp -a "/etc/$f" "$tmp/upper/etc/"
	done
	cp -a /var/lib/dpkg "$tmp/upper/var/lib/"
	[ -d /var/cache/man ] && cp -a /var/cache/man "$tmp/upper/var/cache/"
	# The debs and this script are under $tmp, on the root file system, so
	# they are visible in the overlay at the same path.
	unshare -m --propagation private sh -c '
		set -e
		t=$1
		mount -t overlay overlay -o lowerdir=/,upperdir=$t/upper,workdir=$t/work $t/root
		mount --rbind /dev $t/root/dev
		mount -t proc proc $t/root/proc
		mount -t tmpfs tmpfs $t/root/run
		mount -t tmpfs tmpfs $t/root/tmp
		exec chroot $t/root env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			IN_OVERLAY=1 sh $t/debs/test_install.sh $t/debs
	' sh "$tmp"
	exit $?
fi

# -- inside the throwaway root
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
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
	echo "$passed passed, $failed failed, 0 skipped"
	[ "$failed" -eq 0 ]
	exit
}
# No service may start in here.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive

if getent passwd clusterm >/dev/null || [ -e /var/lib/clusterm ] ||
    [ -e /var/spool/serf-forwarder ] || dpkg-query -W clusterm >/dev/null 2>&1; then
	fail "a clean root (clusterm, its user or its directories are already there)"
	finish
fi

mode_owner() { # PATH MODE OWNER
	got=$(stat -c '%a %U:%G' "$1") || return 1
	echo "$1: $got"
	[ "$got" = "$2 $3" ]
}
# dpkg ACTION...: dpkg succeeds and says nothing about a warning or an error.
dpkg_clean() {
	out=$(dpkg "$@" 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] && ! echo "$out" | grep -qi 'warning\|error'
}
check "dpkg -i clusterm serf-forwarder (no warnings)" \
	dpkg_clean -i "$1"/clusterm_*.deb "$1"/serf-forwarder_*.deb
check "system user clusterm created" sh -c \
	'getent passwd clusterm | awk -F: '\''$3 < 1000 && $6 == "/var/lib/clusterm" && $7 == "/usr/sbin/nologin"'\'' | grep -q .'
check "/var/lib/clusterm 0700 clusterm" mode_owner /var/lib/clusterm 700 clusterm:clusterm
check "/var/spool/serf-forwarder 0700 root" mode_owner /var/spool/serf-forwarder 700 root:root
check "clusterm -n as user clusterm on the installed configuration" \
	runuser -u clusterm -- /usr/sbin/clusterm -n -c /etc/clusterm/clusterm.conf
check "serf-forwarder status on the installed configuration" \
	sh -c '/usr/bin/serf-forwarder status | grep -qx "depth: 0"'
# TLS through the installed shim (/usr/lib/<multiarch>/clusterm), on a free port.
tls_serves() {
	d=$(mktemp -d)
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" \
		-subj /CN=localhost -days 1 2>/dev/null || return 1
	chown clusterm "$d/key.pem" "$d/cert.pem"
	printf '{"manager":{"addr":"127.0.0.1:0","state_dir":"%s/state"},"tls":{"cert_file":"%s/cert.pem","key_file":"%s/key.pem"}}\n' \
		"$d" "$d" "$d" >"$d/c.json"
	install -d -m 0700 -o clusterm "$d/state"
	chmod 0755 "$d"
	runuser -u clusterm -- /usr/sbin/clusterm -c "$d/c.json" 2>"$d/log" &
	pid=$!
	port=
	for _ in $(seq 50); do
		port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$d/log")
		[ -n "$port" ] && break
		sleep 0.1
	done
	r=1
	[ -n "$port" ] && curl -sk --max-time 5 "https://127.0.0.1:$port/healthz" | grep -q '"status"' && r=0
	kill "$pid" 2>/dev/null
	wait "$pid"
	cat "$d/log"
	rm -rf "$d"
	return $r
}
check "clusterm serves HTTPS with the installed TLS shim" tls_serves
check "clusterm.service enabled" test -L /etc/systemd/system/multi-user.target.wants/clusterm.service
check "serf-forwarder-tick.timer enabled" \
	test -L /etc/systemd/system/timers.target.wants/serf-forwarder-tick.timer
check "man clusterm finds the page" sh -c 'man -w clusterm | grep -q clusterm.8.gz'

# An operator's files, to see what removal keeps.
echo '# site' >/etc/clusterm/ansible/site.yml
touch /var/lib/clusterm/keep /var/spool/serf-forwarder/keep
check "dpkg -r clusterm serf-forwarder" dpkg_clean -r clusterm serf-forwarder
check "remove keeps the user, the state, the spool, the conffiles" sh -c \
	'getent passwd clusterm >/dev/null && [ -e /var/lib/clusterm/keep ] &&
	 [ -e /var/spool/serf-forwarder/keep ] && [ -f /etc/clusterm/clusterm.conf ] &&
	 [ -f /etc/serf-forwarder.conf ] && [ ! -e /usr/sbin/clusterm ]'
check "dpkg -i again after remove" dpkg -i "$1"/clusterm_*.deb "$1"/serf-forwarder_*.deb
check "the state survived the reinstall" test -e /var/lib/clusterm/keep
check "dpkg -P clusterm serf-forwarder" dpkg -P clusterm serf-forwarder
check "purge removes the user, group, state, spool and conffiles" sh -c \
	'! getent passwd clusterm && ! getent group clusterm && [ ! -e /var/lib/clusterm ] &&
	 [ ! -e /var/spool/serf-forwarder ] && [ ! -e /etc/clusterm/clusterm.conf ] &&
	 [ ! -e /etc/serf-forwarder.conf ] && [ ! -e /etc/systemd/system/multi-user.target.wants/clusterm.service ] &&
	 [ ! -e /etc/systemd/system/timers.target.wants/serf-forwarder-tick.timer ]'
check "purge keeps the operator's playbooks" test -f /etc/clusterm/ansible/site.yml
check "dpkg -i after purge" dpkg -i "$1"/clusterm_*.deb "$1"/serf-forwarder_*.deb
check "a fresh user and state dir after purge" mode_owner /var/lib/clusterm 700 clusterm:clusterm
finish
