#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""push-client.py: examples/push-client.c in Python, on the socketbroker module.

Started by hand, it connects to its server, hands the connection to brokerd
and exits.  Started by brokerd, it takes the connection back, prints what
arrived, answers, and hands it over again.  If the server hung up, it
reconnects once from the context it saved and hands the new connection over
under the same id (as the original platform's SocketActivityStreamSocket
sample does).  With --asyncio it serves the wake-up from an asyncio loop
(socketbroker.aio), staying up for --idle seconds for later wake-ups.

  push-client.py [--app ID] [--id ID] [--keepalive SEC] [--control PATH]
                 [--asyncio [--idle SEC]] HOST:PORT

A manifest that starts it (socket-broker-manifest(5)):

  [activation]
  method = exec
  command = /usr/libexec/socket-broker/push-client.py
  environment = PYTHONPATH=/where/socketbroker/is

There is no --tls: a TLS session lives in the process, so it cannot be
handed to brokerd (push-client.c's --tls serves the connection itself).
"""
import argparse
import asyncio
import os
import socket
import sys
from typing import Optional

import socketbroker
import socketbroker.aio
from socketbroker import Reason


def say(text: str) -> None:
    print(f"push-client: {text}", flush=True)


def dial(server: str) -> Optional[socket.socket]:
    host, sep, port = server.rpartition(":")
    if not sep:
        print(f"push-client: {server}: expected HOST:PORT", file=sys.stderr)
        return None
    try:
        return socket.create_connection((host, int(port)))
    except (OSError, ValueError) as e:
        print(f"push-client: cannot connect to {server}: {e}", file=sys.stderr)
        return None


def hand_over(opts: argparse.Namespace, id: str, sock: socket.socket, context: str) -> bool:
    """Hand sock to brokerd; on failure say why and close it."""
    try:
        with socketbroker.Broker(opts.control) as b:
            b.register(opts.app)
            b.transfer(id, sock, context.encode(), opts.keepalive)
    except socketbroker.BrokerError as e:
        print(f"push-client: cannot hand {id} to brokerd: {e}", file=sys.stderr)
        sock.close()
        return False
    say(f"{context} handed to brokerd as {opts.app}/{id}" + ("" if opts.asyncio else "; exiting"))
    return True


def reconnect(opts: argparse.Namespace, id: str, sock: socket.socket, context: str) -> None:
    """The server hung up: reconnect once from the saved context, hand the
    new connection over under the same id."""
    say("the server closed the connection")
    sock.close()
    if not context.startswith("server="):
        return
    server = context[len("server="):]
    new = dial(server)
    if new is None:
        say(f"cannot reconnect to {server}; giving up until started again")
        return
    say(f"reconnected to {server}")
    new.sendall(b"hello again from push-client\n")
    hand_over(opts, id, new, context)


def serve(opts: argparse.Namespace, h: socketbroker.Handback, sock: socket.socket) -> None:
    """One socket brokerd handed back: serve it, then hand it over again."""
    context = h.context.decode(errors="replace")
    say(f'woken for {h.id} ({h.reason}), context "{context}"')
    if h.reason == Reason.SOCKET_ACTIVITY:
        try:
            data = sock.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            data = None
        if data == b"":
            return reconnect(opts, h.id, sock, context)
        if data:
            text = data.decode(errors="replace")
            say(f"received {len(data)} byte(s): {text[:-1] if text.endswith(chr(10)) else text}")
            sock.send(f"ack {len(data)}\n".encode(), socket.MSG_NOSIGNAL)
    elif h.reason == Reason.KEEPALIVE_EXPIRED:
        sock.send(b"keep-alive\n", socket.MSG_NOSIGNAL)
    elif h.reason == Reason.SOCKET_CLOSED:
        return reconnect(opts, h.id, sock, context)
    hand_over(opts, h.id, sock, context)


def take(opts: argparse.Namespace, h: socketbroker.Handback) -> None:
    with h:
        try:
            sock = h.accept()
        except socketbroker.BrokerError as e:
            print(f"push-client: cannot take {h.id}: {e}", file=sys.stderr)
            return
        serve(opts, h, sock)


async def woken_async(opts: argparse.Namespace, activation: socketbroker.Activation) -> None:
    async for h in socketbroker.aio.handbacks(activation, idle=opts.idle):
        take(opts, h)


def main() -> int:
    p = argparse.ArgumentParser(prog="push-client.py", description=__doc__.splitlines()[0])
    p.add_argument("--app", default=os.environ.get("BROKER_APP_ID") or "org.example.push",
                   help="the app id (default: $BROKER_APP_ID, else org.example.push)")
    p.add_argument("--id", default="push", help="the socket's id (default: push)")
    p.add_argument("--keepalive", type=int, default=0, metavar="SEC",
                   help="wake after SEC quiet seconds to send a keep-alive (default: none)")
    p.add_argument("--control", metavar="PATH", help="brokerd's control socket (default: $BROKER_SOCKET)")
    p.add_argument("--asyncio", action="store_true", help="serve wake-ups from an asyncio loop")
    p.add_argument("--idle", type=float, default=2.0, metavar="SEC",
                   help="with --asyncio: how long to wait for later wake-ups")
    p.add_argument("server", nargs="?", metavar="HOST:PORT", help="the server, when started by hand")
    opts = p.parse_args()

    try:
        activation = socketbroker.Activation.open()
    except socketbroker.BrokerError as e:
        print(f"push-client: activation: {e}", file=sys.stderr)
        return 1
    if activation is not None:
        with activation:
            if opts.asyncio:
                asyncio.run(woken_async(opts, activation))
            else:
                for h in activation:
                    take(opts, h)
        return 0

    # Not started by brokerd: connect, greet, hand over, exit.
    if not opts.server:
        print("push-client: give the server as HOST:PORT", file=sys.stderr)
        return 2
    sock = dial(opts.server)
    if sock is None:
        return 1
    sock.sendall(b"hello from push-client\n")
    return 0 if hand_over(opts, opts.id, sock, f"server={opts.server}") else 1


if __name__ == "__main__":
    sys.exit(main())
