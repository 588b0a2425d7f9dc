#!/bin/sh
# The systemd scenario of the benchmark, run inside the systemd suite's
# namespace harness (a real user manager with its own dbus and journald):
#   tests/systemd/ns-run.sh sh tests/bench/systemd-bench.sh BUILD OUT [--quick]
# It adds two ways to start the same app to the manager's unit directory
# (a native .socket, and a wake socket that brokerd connects to), starts
# both sockets and runs broker-bench's sd-activation against them; then
# sd-handoff (hand-off with sockets held, brokerd as a unit of its own).
set -eu
build=$1
out=$2
quick=${3:-}
bench=$build/tests/bench/broker-bench
app=$build/tests/bench/bench-app
port=$("$bench" free-port)

cat >"$SDTEST_UNITS/bench-native.socket" <<UNIT
[Unit]
DefaultDependencies=no
[Socket]
ListenStream=127.0.0.1:$port
Accept=no
TriggerLimitIntervalSec=0
UNIT
cat >"$SDTEST_UNITS/bench-native.service" <<UNIT
[Unit]
DefaultDependencies=no
StartLimitIntervalSec=0
[Service]
ExecStart=$app listen3
UNIT
cat >"$SDTEST_UNITS/bench-wake.socket" <<UNIT
[Unit]
DefaultDependencies=no
[Socket]
ListenSequentialPacket=%t/bench-wake.sock
Accept=no
FileDescriptorName=socket-broker
SocketMode=0600
TriggerLimitIntervalSec=0
UNIT
cat >"$SDTEST_UNITS/bench-wake.service" <<UNIT
[Unit]
DefaultDependencies=no
StartLimitIntervalSec=0
[Service]
ExecStart=$app
UNIT
systemctl --user daemon-reload
"$bench" --out "$out" $quick sd-handoff
systemctl --user start bench-native.socket bench-wake.socket
"$bench" --out "$out" $quick sd-activation "$port" "$XDG_RUNTIME_DIR/bench-wake.sock"
