#!/bin/sh
# Quick start: install what is missing, build, and run brokerd in the
# foreground with a self-contained setup under build/demo/ and the
# push-client example registered as app org.example.push.
set -eu
cd "$(dirname "$0")/.."
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH   # Debian's python3, as the tests use it
export PATH
top=$(pwd)
sh tools/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

demo=$top/build/demo
mkdir -p "$demo/apps.d"
cat >"$demo/brokerd.conf" <<CONF
# brokerd.conf for the demo: every limit at its default.
[broker]
socket = $demo/control
apps-dir = $demo/apps.d
CONF
cat >"$demo/apps.d/push.conf" <<CONF
# The push-client example: brokerd starts it again when its server writes.
[app]
id = org.example.push
user = $(id -un)
capabilities = internetClient privateNetworkClientServer localSocket

[activation]
method = exec
command = $top/build/examples/push-client
CONF

cat <<TXT
socket-broker demo: brokerd runs below in the foreground (Ctrl-C stops it).
Try it from a second terminal:
  1. a server:       socat TCP-LISTEN:9000,reuseaddr STDIO
  2. the app:        BROKER_SOCKET=$demo/control $top/build/examples/push-client 127.0.0.1:9000
                     (it connects, hands its socket to brokerd and exits)
  3. type a line into the socat terminal: brokerd wakes push-client, which
     prints the line, answers "ack N", and hands the socket back.
  4. look around:    BROKER_SOCKET=$demo/control $top/build/tools/brokerctl list
                     BROKER_SOCKET=$demo/control $top/build/tools/brokerctl monitor
TXT
exec "$top/build/daemon/brokerd" --config "$demo/brokerd.conf" --verbose
