#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/push-client --ws on a wss:// push cycle, the way a user runs it:
brokerd, the TLS keeper started on demand by libbroker-tls, and
python3-websockets as the push server with a certificate made at run time.
push-client connects, hands the keeper's stream over and exits; each push
wakes it, it reads the message and answers "ack N" over the same TLS
session; the server's close ends it.  Prints TAP.  Environment (set by
meson): BROKERD, PUSH_CLIENT, BROKER_TLS_KEEPER, TLS_MAKE_PKI."""
import asyncio
import os
import signal
import ssl
import subprocess
import sys
import threading

import websockets
import websockets.server

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap  # noqa: E402

PUSH, KEEPER, MAKE_PKI = (os.environ[k] for k in ("PUSH_CLIENT", "BROKER_TLS_KEEPER", "TLS_MAKE_PKI"))
tap = Tap()
ok = tap.ok

bd = Brokerd("test-push-client-ws-", broker=f"tls-keeper = {KEEPER}")
d = bd.dir
os.mkdir(f"{d}/pki")
subprocess.run(["sh", MAKE_PKI, f"{d}/pki"], check=True)
# brokerd and push-client find the keeper (started on demand) at the same path
env = bd.env
env.update(BROKER_SOCKET=bd.control, BROKER_TLS_KEEPER_SOCKET=f"{d}/keeper")
bd.app("org.example.push", PUSH, capabilities="privateNetworkClientServer")
bd.start()

# The push server, on a thread of its own: what it received, in order.
loop = asyncio.new_event_loop()
received, conns, ready = [], [], threading.Event()
got = threading.Condition()


async def handler(ws, path=None):
    conns.append(ws)
    async for msg in ws:
        with got:
            received.append(msg)
            got.notify_all()


async def serve():
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(f"{d}/pki/server.pem", f"{d}/pki/server.key")
    global server
    server = await websockets.server.serve(handler, "127.0.0.1", 0, ssl=tls, subprotocols=["push.v1"])
    ready.set()

threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True).start()
ready.wait(10)
port = server.sockets[0].getsockname()[1]


def wait_received(n):
    with got:
        return got.wait_for(lambda: len(received) >= n, timeout=20) and received[:n]


def push(text):
    asyncio.run_coroutine_threadsafe(conns[-1].send(text), loop).result(10)


try:
    url = f"wss://localhost:{port}/"
    r = subprocess.run([PUSH, "--ws", url, "--protocol", "push.v1", "--ca", f"{d}/pki/ca.pem"],
                       env=env, capture_output=True, text=True, timeout=60)
    ok(r.returncode == 0 and "with protocol push.v1; the TLS keeper holds the session" in r.stdout
       and "handed to brokerd" in r.stdout, "push-client connects over wss://, hands over and exits", r)
    ok(wait_received(1) == ["hello from push-client"], "the server got the greeting", received)
    ok(conns and conns[-1].subprotocol == "push.v1", "the server agreed on push.v1")
    for i, text in enumerate(("first push", "the second push, longer")):
        push(text)
        ok(wait_received(2 + i) == ["hello from push-client"] + [f"ack {len(t)}" for t in
                                                                   ("first push", "the second push, longer")[:i + 1]],
           f"woken by {text!r}: the app read the message and answered over the same session", received)
    asyncio.run_coroutine_threadsafe(conns[-1].close(), loop).result(10)
    ok(conns[-1].close_code == 1000, "the server closed cleanly, and the woken app answered the close")
except Exception:
    tap.crashed()
finally:
    bd.stop(tap)
    # The keeper push-client's library started for this run (it would exit
    # on its own 60 s after its last session): found by its socket's path.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f"{d}/keeper".encode() in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
sys.exit(tap.done())
