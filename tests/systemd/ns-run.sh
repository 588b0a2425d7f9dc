#!/bin/sh
# Run a command against a real systemd user manager, with a dbus-daemon and
# a journald of its own (started first, so that the manager logs to it), inside private PID, mount and cgroup namespaces:
# when the command ends, every process started here dies with the PID
# namespace, and the mounts and cgroups go with it.  Nothing leaks onto the
# machine, and tests running side by side cannot see each other.
#
#   ns-run.sh COMMAND [ARG...]
#
# The command runs as root outside any unit (or as $SDTEST_AS, see below), with:
#   XDG_RUNTIME_DIR           /run/user/UID (a tmpfs of its own)
#   SDTEST_DIR                scratch directory (also $HOME, $XDG_CONFIG_HOME in it)
#   SDTEST_UNITS              the manager's only unit directory (SYSTEMD_UNIT_PATH)
#   DBUS_SESSION_BUS_ADDRESS  the manager's bus
# Needs root (CI runs as root); elsewhere it reports a TAP skip.
#
# SDTEST_AS=USER runs the manager and the command as USER instead, the way a
# user manager runs on a real machine: unprivileged, in a delegated cgroup
# named user@UID.service, so that its services sit under it and
# sd_pid_get_user_unit() names them.  The command may read the journal.
#
# SDTEST_FREEZER=1 gives the manager a cgroup v2 tree only, so that the
# freezer works (`systemctl --user freeze`, FreezeUnit/ThawUnit): on a host
# with the hybrid layout the namespace's cgroup root is then a cgroup of
# the v2 tree alone, mounted inside as the whole of /sys/fs/cgroup.  (In
# the hybrid layout systemd answers "Unit does not support freezing".)
set -eu

# wait_for WHAT LOG SOCKET...: poll for the sockets for up to 10 s.
wait_for() {
	what=$1
	log=$2
	shift 2
	i=0
	for sock in "$@"; do
		until [ -S "$sock" ]; do
			i=$((i + 1))
			if [ $i -gt 400 ]; then
				echo "Bail out! $what did not come up" >&2
				cat "$log" >&2
				exit 1
			fi
			sleep 0.025
		done
	done
}

# The trees the tests run from (this checkout, and the build directory we
# were started in) stay visible even where they live under a directory
# replaced below, as a checkout in /tmp does, and reachable by the
# unprivileged users some tests run as, even in a checkout under /root:
# each tree is bound aside first (under a tmpfs on /mnt, private to this
# namespace), the directories are replaced, and the trees moved back.
hide_below="/run /tmp /var/tmp /var/log"

# The first directory above $1 that other users cannot enter, if any.
first_closed_ancestor() {
	d=""
	for part in $(printf '%s' "${1#/}" | tr '/' ' '); do
		d="$d/$part"
		[ "$d" = "$1" ] && return 1
		case $(stat -c %a "$d") in
		*[1357]) ;;
		*) echo "$d"; return 0 ;;
		esac
	done
	return 1
}

keep_aside() {
	mount -t tmpfs -o mode=700 tmpfs /mnt
	n=0
	for p in "$@"; do
		for top in $hide_below $closed; do
			case "$p" in "$top"/*)
				n=$((n + 1))
				mkdir "/mnt/$n"
				mount --rbind "$p" "/mnt/$n"
				printf '%s %s\n' "$n" "$p" >>/mnt/kept
				break ;;
			esac
		done
	done
}
bring_back() {
	[ -f /mnt/kept ] || return 0
	# shortest path first, so a build directory inside the checkout goes
	# back on top of it
	sort -k2 /mnt/kept | while read -r n p; do
		mkdir -p -m 755 "$p"
		mount --move "/mnt/$n" "$p"
	done
}

setup_inside() {
	src=$(cd "$(dirname "$0")/../.." && pwd -P)
	build=$(pwd -P)
	closed=""
	for p in "$src" "$build"; do
		a=$(first_closed_ancestor "$p") && closed="$closed $a"
	done
	keep_aside "$src" "$build"
	mount -t tmpfs -o mode=755 tmpfs /run
	mount -t tmpfs tmpfs /tmp
	mount -t tmpfs tmpfs /var/tmp
	mount -t tmpfs tmpfs /var/log   # journald writes here if /var/log/journal exists
	for a in $(printf '%s\n' $closed | sort -u); do
		mount -t tmpfs -o mode=755 tmpfs "$a"
	done
	bring_back
	mkdir -p /run/systemd/system    # the user manager refuses to start without it
	# journald: no kernel log, nothing on terminals, memory only.
	printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\n' \
		>/run/journald.conf
	mount --bind /run/journald.conf /etc/systemd/journald.conf
	cgroot=/sys/fs/cgroup
	if [ "$SDTEST_CGMODE" = hybrid ]; then
		cgroot="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified"
		mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
		mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
		mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
		mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
	else
		mount -t cgroup2 cgroup2 /sys/fs/cgroup
		# systemd finds the freezer by init.scope's cgroup.freeze, which
		# a root cgroup does not have.
		[ "${SDTEST_FREEZER:-}" != 1 ] || mkdir -p /sys/fs/cgroup/init.scope
	fi

	# What PID 1 provides on a real machine: unprivileged managers need it
	# for their services' mount namespaces.
	mkdir -p /run/systemd/unit-root
	uid=0
	gid=0
	run_as=""
	if [ -n "${SDTEST_AS:-}" ]; then
		uid=$(id -u "$SDTEST_AS")
		gid=$(id -g "$SDTEST_AS")
		run_as="setpriv --reuid=$uid --regid=$gid --groups=$(getent group systemd-journal | cut -d: -f3)"
	fi
	export XDG_RUNTIME_DIR=/run/user/$uid
	export SDTEST_DIR=/run/sdtest
	export SDTEST_UNITS=$SDTEST_DIR/units
	export SYSTEMD_UNIT_PATH=$SDTEST_UNITS
	export HOME=$SDTEST_DIR/home
	export XDG_CONFIG_HOME=$SDTEST_DIR/config
	export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
	mkdir -p "$SDTEST_UNITS" "$HOME" "$XDG_CONFIG_HOME"
	chown -R "$uid:$gid" "$XDG_RUNTIME_DIR" "$SDTEST_DIR"

	cat >"$SDTEST_UNITS/dbus.socket" <<-EOF
	[Unit]
	DefaultDependencies=no
	[Socket]
	ListenStream=%t/bus
	EOF
	cat >"$SDTEST_UNITS/dbus.service" <<-EOF
	[Unit]
	DefaultDependencies=no
	[Service]
	ExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only
	EOF
	cat >"$SDTEST_UNITS/test.target" <<-EOF
	[Unit]
	DefaultDependencies=no
	Wants=dbus.socket
	After=dbus.socket
	EOF

	# The journal readable by the group systemd-journal, as on a real
	# machine (the command gets that group when it runs as $SDTEST_AS).
	mkdir -p /run/log/journal
	chgrp systemd-journal /run/log/journal
	chmod 2750 /run/log/journal
	# journald first, so that the manager and every service log to it.
	/lib/systemd/systemd-journald >"$SDTEST_DIR/journald.log" 2>&1 &
	wait_for journald "$SDTEST_DIR/journald.log" /run/systemd/journal/socket /run/systemd/journal/stdout
	# The manager in a cgroup subtree of its own, delegated to its user.
	cg=/user@$uid.service
	for r in $cgroot; do
		mkdir "$r$cg"
		chown -R "$uid:$gid" "$r$cg"
	done
	sh -c 'for r in $1; do echo $$ >"$r$2/cgroup.procs"; done; shift 2; exec "$@"' sh "$cgroot" "$cg" \
		$run_as /lib/systemd/systemd --user --unit=test.target --log-target=journal --log-level=info \
		>"$SDTEST_DIR/manager.log" 2>&1 &
	wait_for "the user manager" "$SDTEST_DIR/manager.log" "$XDG_RUNTIME_DIR/systemd/private"
	$run_as systemctl --user start dbus.socket

	rc=0
	$run_as "$@" || rc=$?
	if [ $rc != 0 ]; then
		echo "# ---- the journal ----" >&2
		journalctl --no-pager -o short-monotonic 2>&1 | tail -200 >&2 || true
		# SDTEST_JOURNAL_FILE: all of it, for a failure that began earlier
		[ -z "${SDTEST_JOURNAL_FILE:-}" ] || journalctl --no-pager -o short-monotonic >"$SDTEST_JOURNAL_FILE" 2>&1 || true
	fi
	exit $rc
}

if [ "${1:-}" = --inside ]; then
	shift
	setup_inside "$@"
fi

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	echo "1..0 # SKIP the systemd suite needs root and unshare (CI runs as root)"
	exit 0
fi

# A cgroup subtree of our own, which becomes the namespace's root: the
# manager in it owns the cgroup root without touching the machine's.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	SDTEST_CGMODE=unified
	roots="/sys/fs/cgroup"
elif [ "${SDTEST_FREEZER:-}" = 1 ]; then
	SDTEST_CGMODE=unified
	roots="/sys/fs/cgroup/unified"
else
	SDTEST_CGMODE=hybrid
	roots="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified"
fi
export SDTEST_CGMODE
cg=sdtest-$$-$(date +%s%N)
for r in $roots; do
	mkdir "$r/$cg"
done
cleanup() {
	# The namespace's processes are gone once unshare returns, but the
	# kernel may take a moment to let go of their cgroups.
	for try in 1 2 3 4 5 6 7 8 9 10; do
		left=0
		for r in $roots; do
			[ -d "$r/$cg" ] || continue
			find "$r/$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || left=1
		done
		[ $left = 0 ] && return 0
		sleep 0.1
	done
	echo "# ns-run: could not remove cgroup $cg" >&2
}
trap cleanup EXIT

rc=0
sh -c 'for r in $1; do echo $$ >"$r/$2/cgroup.procs"; done; shift 2; exec unshare --cgroup --pid --fork --mount --mount-proc --propagation private "$@"' \
	sh "$roots" "$cg" "$0" --inside "$@" || rc=$?
exit $rc
