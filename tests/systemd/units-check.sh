#!/bin/sh
# The shipped units parse cleanly (systemd-analyze verify) and brokerd's
# sandbox stays below systemd-timesyncd's exposure of 2.3
# (systemd-analyze security --offline=yes).  Prints TAP.
#   units-check.sh SRCDIR BUILDDIR
set -u
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/rt"
chmod 700 "$tmp/rt"
cp "$build/units/brokerd-system-test.service" "$tmp/system/brokerd.service"
cp "$src/units/brokerd.socket" "$tmp/system/"
cp "$build/units/user/brokerd-test.service" "$tmp/user/brokerd.service"
cp "$src/units/user/brokerd.socket" "$tmp/user/"
cp "$build/units/user/broker-tls-keeper-test.service" "$tmp/user/broker-tls-keeper.service"
cp "$src/units/user/broker-tls-keeper.socket" "$tmp/user/"
export XDG_RUNTIME_DIR="$tmp/rt"

n=0
check() {   # check DESCRIPTION COMMAND...: ok when COMMAND succeeds
	desc=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
}
quiet() {   # succeed only if the command succeeds and prints nothing
	out=$("$@" 2>&1) && [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}
examples() {
	# the example units only lack the installed program
	for f in "$src"/units/examples/*.s* "$src"/units/examples/user/*.s*; do
		systemd-analyze verify --man=no "$f" 2>&1 | grep -v 'is not executable'
	done | grep . && return 1
	return 0
}
exposure() {   # exposure [--user] UNIT: below 2.3
	level=$(systemd-analyze security --offline=yes "$@" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	echo "exposure $level"
	[ -n "$level" ] && awk "BEGIN { exit !($level < 2.3) }"
}

echo "1..7"
check "system units verify" quiet systemd-analyze verify --man=no "$tmp/system/brokerd.service" "$tmp/system/brokerd.socket"
check "user units verify" quiet systemd-analyze --user verify --man=no "$tmp/user/brokerd.service" "$tmp/user/brokerd.socket"
check "example units verify" examples
check "system brokerd.service exposure below 2.3 ($(exposure "$tmp/system/brokerd.service"))" exposure "$tmp/system/brokerd.service"
check "user brokerd.service exposure below 2.3 ($(exposure --user "$tmp/user/brokerd.service"))" exposure --user "$tmp/user/brokerd.service"
check "user TLS keeper units verify" quiet systemd-analyze --user verify --man=no "$tmp/user/broker-tls-keeper.service" "$tmp/user/broker-tls-keeper.socket"
check "user broker-tls-keeper.service exposure below 2.3 ($(exposure --user "$tmp/user/broker-tls-keeper.service"))" exposure --user "$tmp/user/broker-tls-keeper.service"
