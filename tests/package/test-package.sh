#!/bin/sh
# The Debian packages, end to end: build them from a copy of this tree with
# dpkg-buildpackage, check them with lintian (no errors), then install them
# for real inside the systemd suite's namespaces, over a tmpfs overlay of
# /usr, /etc and /var/lib, so that the machine is untouched, and run one
# transfer-and-wake cycle with the installed brokerd, user units, example
# and brokerctl (installed.sh, cycle.py).  Prints TAP.
#   test-package.sh SOURCE_ROOT WORK_DIR
# Every step has a time limit; the whole takes about a minute when the
# machine is quiet.
set -u
src=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
# What a buildd and an installed system use: Debian's own python3 and tools,
# not whatever a developer's PATH puts first.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
log() { tail -40 "$1" 2>/dev/null; }

if [ "$(id -u)" != 0 ] || ! command -v dpkg-buildpackage >/dev/null || ! command -v lintian >/dev/null; then
	echo "1..0 # SKIP needs root, dpkg-buildpackage and lintian (tools/deps.sh installs them; CI runs as root)"
	exit 0
fi

# A pristine copy of the tree: what git tracks plus what is new, no build
# directories.  dpkg-buildpackage writes the packages next to it.
rm -rf "$work"
mkdir -p "$work/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$work/src"
else
	(cd "$src" && tar -cf - --exclude='./build*' --exclude=./.git .) | tar -xf - -C "$work/src"
fi
ok $? "a copy of the tree to build from"

# The build: no test suites (this suite runs them), the same flags as a buildd.
(cd "$work/src" && env -u MAKEFLAGS -u MFLAGS -u DESTDIR LC_ALL=C.UTF-8 DEB_BUILD_OPTIONS=nocheck \
	timeout 600 dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1
rc=$?
[ $rc = 124 ] && echo "# dpkg-buildpackage timed out after 600 s"
ok $rc "dpkg-buildpackage -b -us -uc" "$(log "$work/build.log")"
for p in socket-broker libbroker1 libbroker-dev libbroker-tls1 libbroker-tls-dev libbroker-ws1 libbroker-ws-dev python3-socketbroker; do
	set -- "$work"/${p}_*.deb
	ok "$([ -f "$1" ]; echo $?)" "it built $p" "$(log "$work/build.log")"
done
[ $tap_failed = 0 ] || tap_done

timeout 300 lintian --fail-on error --tag-display-limit 0 --info "$work"/*.changes >"$work/lintian.log" 2>&1
rc=$?
grep -E '^[EW]:' "$work/lintian.log" | sed 's/^/# /'
ok $rc "lintian: no errors" "$(log "$work/lintian.log")"

# Install and run under a real user manager (the systemd suite's harness;
# it keeps the directory it is started in visible, even under /tmp).
chmod 755 "$work"
(cd "$work" && timeout 300 "$src/tests/systemd/ns-run.sh" "$here/installed.sh" "$work") \
	>"$work/installed.tap" 2>"$work/installed.log"
rc=$?
while IFS= read -r line; do
	case $line in
	"ok "[0-9]*) ok 0 "${line#ok * - }" ;;
	"not ok "[0-9]*) ok 1 "${line#not ok * - }" ;;
	"# "*) echo "$line" ;;
	esac
done <"$work/installed.tap"
[ $rc = 124 ] && echo "# installed.sh timed out after 300 s"
ok $rc "the installed packages ran the cycle (installed.sh exit status $rc)" "$(log "$work/installed.log")"
tap_done
