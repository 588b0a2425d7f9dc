#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One transfer-and-wake cycle with the installed packages only: the
installed push-client hands its connection to the installed brokerd (the
installed user units, under the real user manager); a message from the
server wakes it through the installed example's wake socket and service;
it answers and hands the connection over again; brokerctl shows each step.
Run by installed.sh inside ns-run.sh; prints TAP."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from brokertest import Tap, recv_exactly, wait_for  # noqa: E402

tap = Tap()
ok = tap.ok

CTL = "/usr/bin/brokerctl"
PUSH = "/usr/libexec/socket-broker/push-client"
APP = "org.example.push"
env = dict(os.environ, BROKER_SOCKET=f"{os.environ['XDG_RUNTIME_DIR']}/socket-broker/control")


def run(*argv):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


def held():
    r = run(CTL, "--json", "list", APP)
    return json.loads(r.stdout) if r.returncode == 0 else None


def unit_prop(unit, prop):
    return run("systemctl", "--user", "show", "-p", prop, "--value", unit).stdout.strip()


server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
server.settimeout(30)

r = run(PUSH, "--app", APP, f"127.0.0.1:{port}")
ok(r.returncode == 0 and "handed to brokerd" in r.stdout, "the installed push-client hands its connection over", r)
conn, _ = server.accept()
greeting = b"hello from push-client\n"
ok(recv_exactly(conn, len(greeting), 30) == greeting, "the server got its greeting")

pid = unit_prop("brokerd.service", "MainPID")
exe = os.readlink(f"/proc/{pid}/exe") if pid not in ("", "0") else ""
ok(exe == "/usr/sbin/brokerd", "the socket activated the installed brokerd under the user manager", f"MainPID {pid}: {exe}")
socks = held()
ok(socks and len(socks) == 1 and socks[0]["id"] == "push" and socks[0]["state"] == "watching"
   and socks[0]["context"] == f"server=127.0.0.1:{port}", "brokerctl list: held, watching, with its context", socks)
serial = socks[0]["serial"] if socks else None

conn.sendall(b"ping\n")
ok(recv_exactly(conn, len(b"ack 5\n"), 30) == b"ack 5\n", "a message woke push-client through the example's wake socket, and it answered")
ok(unit_prop("push-client.service", "ExecMainStartTimestampMonotonic") not in ("", "0"),
   "the example's push-client.service is what ran")
socks = wait_for(lambda: (s := held()) and s[0]["state"] == "watching" and s[0]["serial"] != serial and s, 30)
ok(bool(socks), "it handed the connection over again: held, watching, a new transfer", held())

r = run(CTL, "--json", "status")
st = json.loads(r.stdout) if r.returncode == 0 else {}
ok(st.get("version") == subprocess.run(["dpkg-query", "-W", "-f=${Version}", "socket-broker"],
                                       capture_output=True, text=True).stdout.rsplit("-", 1)[0],
   "brokerctl status reports the package's version", r)
conn.close()
server.close()
sys.exit(tap.done())
