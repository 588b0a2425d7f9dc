#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One transfer-and-wake cycle with the installed packages only: the
installed push-client hands its connection to the installed brokerd (the
installed user units, under the real user manager); a message from the
server wakes it through the installed example's wake socket and service;
it answers and hands the connection over again; brokerctl shows each step.
Run by installed.sh inside ns-run.sh; prints "ok - ..." lines."""
import json
import os
import socket
import subprocess
import sys
import time

CTL = "/usr/bin/brokerctl"
PUSH = "/usr/libexec/socket-broker/push-client"
APP = "org.example.push"
env = dict(os.environ, BROKER_SOCKET=f"{os.environ['XDG_RUNTIME_DIR']}/socket-broker/control")
failed = 0


def ok(cond, desc, diag=""):
    global failed
    print(f"{'ok' if cond else 'not ok'} - {desc}")
    if not cond:
        failed += 1
        for line in str(diag).splitlines():
            print(f"# {line}")
    sys.stdout.flush()
    return cond


def run(*argv):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


def wait_for(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (v := cond()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return v


def held():
    r = run(CTL, "--json", "list", APP)
    return json.loads(r.stdout) if r.returncode == 0 else None


def recv_exactly(conn, n, timeout=30.0):
    conn.settimeout(timeout)
    got = b""
    try:
        while len(got) < n and (chunk := conn.recv(n - len(got))):
            got += chunk
    except socket.timeout:
        pass
    return got


def unit_prop(unit, prop):
    return run("systemctl", "--user", "show", "-p", prop, "--value", unit).stdout.strip()


server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
server.settimeout(30)

r = run(PUSH, "--app", APP, f"127.0.0.1:{port}")
ok(r.returncode == 0 and "handed to brokerd" in r.stdout, "the installed push-client hands its connection over", r)
conn, _ = server.accept()
greeting = b"hello from push-client\n"
ok(recv_exactly(conn, len(greeting)) == greeting, "the server got its greeting")

pid = unit_prop("brokerd.service", "MainPID")
exe = os.readlink(f"/proc/{pid}/exe") if pid not in ("", "0") else ""
ok(exe == "/usr/sbin/brokerd", "the socket activated the installed brokerd under the user manager", f"MainPID {pid}: {exe}")
socks = held()
ok(socks and len(socks) == 1 and socks[0]["id"] == "push" and socks[0]["state"] == "watching"
   and socks[0]["context"] == f"server=127.0.0.1:{port}", "brokerctl list: held, watching, with its context", socks)
serial = socks[0]["serial"] if socks else None

conn.sendall(b"ping\n")
ok(recv_exactly(conn, 6) == b"ack 5\n", "a message woke push-client through the example's wake socket, and it answered")
ok(unit_prop("push-client.service", "ExecMainStartTimestampMonotonic") not in ("", "0"),
   "the example's push-client.service is what ran")
socks = wait_for(lambda: (s := held()) and s[0]["state"] == "watching" and s[0]["serial"] != serial and s)
ok(bool(socks), "it handed the connection over again: held, watching, a new transfer", held())

r = run(CTL, "--json", "status")
st = json.loads(r.stdout) if r.returncode == 0 else {}
ok(st.get("version") == subprocess.run(["dpkg-query", "-W", "-f=${Version}", "socket-broker"],
                                       capture_output=True, text=True).stdout.rsplit("-", 1)[0],
   "brokerctl status reports the package's version", r)
conn.close()
server.close()
sys.exit(1 if failed else 0)
