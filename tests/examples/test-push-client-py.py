#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/push-client.py, the UWP SocketActivityStreamSocket sample in
Python, run as its users run it: started by hand, it connects to a real TCP
server on loopback, hands the connection to a real brokerd and exits;
brokerd starts it again by exec activation for each message, a keep-alive
and a hang-up, and it answers on the same connection.  brokerd's own
environment has no PYTHONPATH: the manifest's environment= gives it.  Two
apps: the blocking loop, and --asyncio (socketbroker.aio), which stays up
and gets a later wake-up over the same activation.  Prints TAP.
Environment (set by meson): BROKERD, PUSH_CLIENT_PY, SOCKETBROKER_PATH."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap, recv_exactly, recv_line, wait_for  # noqa: E402

PUSH, MODPATH = os.environ["PUSH_CLIENT_PY"], os.environ["SOCKETBROKER_PATH"]
sys.path.insert(0, MODPATH)
import socketbroker  # noqa: E402

tap = Tap()
ok = tap.ok
BLOCKING, AIO = "org.example.push", "org.example.push-aio"

# brokerd must not lend the app a PYTHONPATH of its own
env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BROKER_"))}
bd = Brokerd("test-push-client-py-", env)
bd.app(BLOCKING, f"{sys.executable} {PUSH}", f"environment = PYTHONPATH={MODPATH}\n")
bd.app(AIO, f"{sys.executable} {PUSH} --asyncio --idle 5 --keepalive 1",
       f"environment = PYTHONPATH={MODPATH} PYTHONDONTWRITEBYTECODE=1\n")
by_hand = dict(env, BROKER_SOCKET=bd.control, PYTHONPATH=MODPATH, PYTHONDONTWRITEBYTECODE="1")


def held(app):
    with socketbroker.Broker(bd.control) as b:
        return b.list(app)


def woken_lines(app_id, reason, context):
    return bd.log_text().count(f'push-client: woken for {app_id} ({reason}), context "{context}"')


def hand_over_by_hand(*args):
    r = subprocess.run([sys.executable, PUSH, *args], env=by_hand, capture_output=True, text=True, timeout=60)
    return r


def exchange(conn, msg):
    """Send msg; the woken app must read exactly it and answer "ack LEN"."""
    conn.sendall(msg)
    want = f"ack {len(msg)}\n".encode()
    return recv_exactly(conn, len(want)) == want


try:
    bd.start()
    ok(bd.ready() and held(BLOCKING) == [], "brokerd answers")
    mon = socketbroker.Broker(bd.control)
    mon.monitor()
    baseline = bd.idle_fds()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)
    port = server.getsockname()[1]
    ctx = f"server=127.0.0.1:{port}"

    # --- the blocking app, as push-client.c behaves
    r = hand_over_by_hand(f"127.0.0.1:{port}")
    ok(r.returncode == 0 and r.stdout == f"push-client: {ctx} handed to brokerd as {BLOCKING}/push; exiting\n",
       "push-client.py hands its socket over and exits", r)
    conn, _ = server.accept()
    ok(recv_exactly(conn, 23) == b"hello from push-client\n", "the server got the greeting")
    socks = held(BLOCKING)
    ok(len(socks) == 1 and socks[0].id == "push" and socks[0].kind == socketbroker.Kind.STREAM
       and socks[0].state == socketbroker.State.WATCHING and socks[0].context == ctx.encode()
       and socks[0].keepalive_sec == 0, "held, watching, with its context", socks)
    serial = socks[0].serial if socks else 0

    for i, msg in enumerate((b"message-one\n", b"second message, longer\n")):
        ok(exchange(conn, msg), f"woken by {msg!r}: the app read exactly those bytes and answered")
        socks = wait_for(lambda: (s := held(BLOCKING)) and s[0].state == socketbroker.State.WATCHING
                         and s[0].serial != serial and s)
        ok(bool(socks) and socks[0].context == ctx.encode(), "handed over again, same context, new transfer", socks)
        serial = socks[0].serial if socks else serial
        ok(woken_lines("push", "socket-activity", ctx) == i + 1, "it said why it was woken, and the context", bd.log_text())
        ok(f"push-client: received {len(msg)} byte(s): {msg.decode()}" in bd.log_text(), "and what it read")

    conn.close()
    conn2, _ = server.accept()
    ok(recv_exactly(conn2, 29) == b"hello again from push-client\n",
       "after the server hung up, the app reconnected from its saved context")
    socks = wait_for(lambda: (s := held(BLOCKING)) and s[0].serial != serial and s)
    ok(bool(socks) and socks[0].id == "push" and socks[0].context == ctx.encode(),
       "the new connection is held under the same id", socks)
    ok(woken_lines("push", "socket-activity", ctx) + woken_lines("push", "socket-closed", ctx) == 3,
       "woken once for the hang-up", bd.log_text())

    # --- the asyncio app: keep-alive, then a message while it still runs
    r = hand_over_by_hand("--app", AIO, "--id", "aio", "--keepalive", "1", f"127.0.0.1:{port}")
    ok(r.returncode == 0, "push-client.py --keepalive 1 hands a second connection over", r)
    conn3, _ = server.accept()
    ok(recv_exactly(conn3, 23) == b"hello from push-client\n", "the server got its greeting")
    socks = held(AIO)
    ok(len(socks) == 1 and socks[0].keepalive_sec == 1, "held with a keep-alive of 1 s", socks)
    ok(recv_line(conn3) == b"keep-alive\n", "a quiet second later the app was woken and sent its keep-alive")
    ok(wait_for(lambda: woken_lines("aio", "keepalive-timer-expired", ctx) >= 1),
       "woken for keepalive-timer-expired with its context", bd.log_text())
    msg = b"while you are up\n"
    conn3.sendall(msg)
    line = recv_line(conn3)
    while line == b"keep-alive\n":   # one may fall due meanwhile on a slow machine
        line = recv_line(conn3)
    ok(line == f"ack {len(msg)}\n".encode(), "the asyncio app read exactly the message and answered", line)
    with socketbroker.Broker(bd.control) as b:
        apps = {a.id: a for a in b.apps()}
    ok(apps[AIO].handoff == "libbroker" and apps[AIO].target.endswith("--keepalive 1"), "apps() shows the manifest", apps)

    # --- the end: the server goes away for good, nothing stays held
    conn2.close()
    conn3.close()
    server.close()
    ok(wait_for(lambda: held(BLOCKING) == [] and held(AIO) == []),
       "socket-closed with the server gone: nothing left held", (held(BLOCKING), held(AIO)))
    # the app says so after taking the socket, so after brokerd let go of it
    ok(wait_for(lambda: bd.log_text().count("cannot reconnect to 127.0.0.1") == 2), "both apps said they gave up",
       bd.log_text())
    events = list(iter(lambda: mon.next_event(0), None))
    mon.close()
    kinds = [(e.type, e.reason) for e in events if e.app_id == AIO and e.type in
             (socketbroker.EventType.ACTIVATE, socketbroker.EventType.HANDBACK)]
    E, R = socketbroker.EventType, socketbroker.Reason
    ok(kinds == [(E.ACTIVATE, R.KEEPALIVE_EXPIRED), (E.HANDBACK, R.KEEPALIVE_EXPIRED),
                 (E.HANDBACK, R.SOCKET_ACTIVITY), (E.HANDBACK, R.SOCKET_CLOSED)],
       "the asyncio app was started once and got the later wake-ups over its activation",
       "\n".join(map(str, events)))
    ok(wait_for(lambda: bd.fds() == baseline), "brokerd's fd count is back where it started", f"{bd.fds()} vs {baseline}")
except Exception:
    tap.crashed()
finally:
    bd.stop(tap)
sys.exit(tap.done())
