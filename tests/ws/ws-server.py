#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A WebSocket server for the ws suites, on python3-websockets (Debian's
10.4): the peer libbroker-ws is tested against.

  ws-server.py PORT [--cert FILE --key FILE] [--protocols A,B]
               [--refuse-others] [--user U --password P] [--no-echo]

It echoes every message with its type (not with --no-echo).  A line "push TEXT" on stdin sends
TEXT to the newest connection, "close" closes it (code 1000); every message
received is printed to stdout as "recv text|binary REPR", every connection
as "open PROTOCOL" ("-" for none), every pong the server's own pings got as
"pong".  With --refuse-others, a client offering none of --protocols gets
400 with the first one named in Sec-WebSocket-Protocol."""
import argparse
import asyncio
import http
import os
import ssl
import stat
import sys

import websockets
import websockets.auth
import websockets.server

conns = []
echo = True


def out(line):
    print(line, flush=True)


async def handler(ws, path=None):
    conns.append(ws)
    out("open %s" % (ws.subprotocol or "-"))
    try:
        async for msg in ws:
            kind = "text" if isinstance(msg, str) else "binary"
            out("recv %s %r" % (kind, msg if kind == "text" else bytes(msg)))
            if echo:
                await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        out("closed %s" % ws.close_code)
        conns.remove(ws)


async def commands():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode():
        cmd, _, arg = line.rstrip("\n").partition(" ")
        if not conns:
            out("no connection for %s" % cmd)
        elif cmd == "push":
            await conns[-1].send(arg)
            out("pushed %s" % arg)
        elif cmd == "ping":
            await (await conns[-1].ping(arg.encode()))
            out("pong")
        elif cmd == "close":
            await conns[-1].close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--protocols", default="")
    ap.add_argument("--refuse-others", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--no-echo", action="store_true")
    a = ap.parse_args()
    global echo
    echo = not a.no_echo
    protocols = [p for p in a.protocols.split(",") if p]
    tls = None
    if a.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.cert, a.key)

    async def refuse(path, headers):
        offered = [p.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")]
        if a.refuse_others and protocols and not set(offered) & set(protocols):
            out("refused %s" % (",".join(offered) or "-"))
            return (http.HTTPStatus.BAD_REQUEST, [("Sec-WebSocket-Protocol", protocols[0])], b"unsupported subprotocol\n")
        return None

    factory = None
    if a.user:
        factory = websockets.auth.basic_auth_protocol_factory(
            realm="ws-test", credentials=(a.user, a.password))
    async with websockets.server.serve(handler, "127.0.0.1", a.port, ssl=tls,
                                       subprotocols=protocols or None,
                                       process_request=refuse, create_protocol=factory,
                                       compression=None):
        out("listening")
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            await commands()
        await asyncio.Future()


asyncio.run(main())
