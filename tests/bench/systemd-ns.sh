#!/bin/sh
# The systemd part of the benchmark, in a private PID and mount namespace:
#   unshare --pid --fork --mount --mount-proc sh tests/bench/systemd-ns.sh BUILD OUT [--quick]
# A real systemd user manager and dbus-daemon run here with only this
# script's units (never a system manager); when the script ends the PID
# namespace ends and takes every process in it along.
set -eu
build=$1
out=$2
quick=${3:-}
bench=$build/tests/bench/broker-bench
app=$build/tests/bench/bench-app

mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system   # the user manager refuses to start without it
rt=$(mktemp -d /tmp/broker-bench-rt-XXXXXX)
units=$(mktemp -d /tmp/broker-bench-units-XXXXXX)
chmod 700 "$rt"
trap 'rm -rf "$rt" "$units"' EXIT
export XDG_RUNTIME_DIR="$rt" SYSTEMD_UNIT_PATH="$units"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$rt/bus"
port=$("$bench" free-port)

cat >"$units/dbus.socket" <<EOF
[Unit]
DefaultDependencies=no
[Socket]
ListenStream=%t/bus
EOF
cat >"$units/dbus.service" <<EOF
[Unit]
DefaultDependencies=no
[Service]
ExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only
EOF
# The two ways to start the same app: a native .socket, and a wake socket
# that brokerd connects to.
cat >"$units/bench-native.socket" <<EOF
[Unit]
DefaultDependencies=no
[Socket]
ListenStream=127.0.0.1:$port
Accept=no
TriggerLimitIntervalSec=0
EOF
cat >"$units/bench-native.service" <<EOF
[Unit]
DefaultDependencies=no
StartLimitIntervalSec=0
[Service]
ExecStart=$app listen3
EOF
cat >"$units/bench-wake.socket" <<EOF
[Unit]
DefaultDependencies=no
[Socket]
ListenSequentialPacket=%t/bench-wake.sock
Accept=no
FileDescriptorName=socket-broker
SocketMode=0600
TriggerLimitIntervalSec=0
EOF
cat >"$units/bench-wake.service" <<EOF
[Unit]
DefaultDependencies=no
StartLimitIntervalSec=0
[Service]
ExecStart=$app
EOF
cat >"$units/bench.target" <<EOF
[Unit]
DefaultDependencies=no
Wants=dbus.socket bench-native.socket bench-wake.socket
EOF

SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${BENCH_SD_LOG_LEVEL:-info} /lib/systemd/systemd --user --unit=bench.target >"$out/systemd-user.log" 2>&1 &
i=0
until systemctl --user is-active --quiet bench-native.socket bench-wake.socket dbus.socket 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 400 ]; then
		echo "broker-bench: the user manager did not come up (see $out/systemd-user.log)" >&2
		exit 1
	fi
	sleep 0.05
done
"$bench" --out "$out" $quick sd-activation "$port" "$rt/bench-wake.sock"
