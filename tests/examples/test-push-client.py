#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The user story of issue 2 with the real examples/push-client: it connects
to its server, hands the socket to brokerd and exits; each message from the
server wakes it, it reads exactly those bytes and answers on the same
connection; when the server hangs up it reconnects from its saved context.
Prints TAP.  Environment (set by meson): BROKERD, BROKERCTL, PUSH_CLIENT."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap, recv_exactly, wait_for  # noqa: E402

BROKERCTL, PUSH = (os.environ[k] for k in ("BROKERCTL", "PUSH_CLIENT"))   # and BROKERD, for Brokerd
tap = Tap()
ok = tap.ok

bd = Brokerd("test-push-client-")
bd.app("org.example.push", PUSH, capabilities="privateNetworkClientServer")
env = dict(os.environ, BROKER_SOCKET=bd.control)


def ctl(*args):
    return subprocess.run([BROKERCTL, *args], env=env, capture_output=True, text=True)


def held():
    r = ctl("--json", "list", "org.example.push")
    return json.loads(r.stdout) if r.returncode == 0 else None


try:
    bd.start()
    ok(wait_for(lambda: ctl("status").returncode == 0), "brokerd answers")
    baseline = bd.idle_fds()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    r = subprocess.run([PUSH, f"127.0.0.1:{port}"], env=env, capture_output=True, text=True, timeout=30)
    ok(r.returncode == 0 and "handed to brokerd" in r.stdout, "push-client hands its socket over and exits", r)
    conn, _ = server.accept()
    ok(recv_exactly(conn, 23) == b"hello from push-client\n", "the server got the greeting")
    socks = held()
    ok(socks and len(socks) == 1 and socks[0]["id"] == "push" and socks[0]["kind"] == "stream"
       and socks[0]["state"] == "watching" and socks[0]["context"] == f"server=127.0.0.1:{port}",
       "brokerctl list shows it held, watching, with its context", socks)
    serial = socks[0]["serial"] if socks else None

    for msg in (b"message-one\n", b"second message, longer\n"):
        conn.sendall(msg)
        want = f"ack {len(msg)}\n".encode()
        ok(recv_exactly(conn, len(want)) == want, f"woken by {msg!r}: the app read exactly those bytes and answered")
        socks = wait_for(lambda: (s := held()) and s[0]["state"] == "watching" and s[0]["serial"] != serial and s)
        ok(bool(socks), "handed over again after answering (a new transfer, watching)", socks)
        serial = socks[0]["serial"] if socks else serial

    conn.close()
    server.settimeout(10)
    conn2, _ = server.accept()
    ok(recv_exactly(conn2, 29) == b"hello again from push-client\n",
       "after the server hung up, the app reconnected from its saved context")
    socks = wait_for(lambda: (s := held()) and s[0]["serial"] != serial and s)
    ok(socks and socks[0]["context"] == f"server=127.0.0.1:{port}", "the new connection is held under the same id", socks)
    conn2.close()
    server.close()
    # the woken app finds the server gone for good and stops
    ok(wait_for(lambda: held() == []), "socket-closed with the server gone: nothing left held")
    ok(wait_for(lambda: bd.fds() == baseline), "brokerd's fd count is back where it started",
       f"{bd.fds()} vs {baseline}")
except Exception:
    tap.crashed()
finally:
    bd.stop(tap)
sys.exit(tap.done())
