#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The app that test-socketbroker.py and test-handback-many.py have brokerd
start (exec activation): takes every handback with the socketbroker API
and appends one JSON line per event to REPORT.  MODE receive:
Activation.receive() in a loop; MODE dispatch: select() on
Activation.fileno(), then dispatch(); MODE many: waits for the file GO
before it opens the activation (so brokerd has every socket pending), then
receive_many() and accept_many() for each message, and each socket's
line (up to a newline) answered."""
import json
import os
import select
import socket
import sys
import time

import socketbroker

report_path, mode = sys.argv[1], sys.argv[2]
go = sys.argv[3] if mode == "many" else None


def report(**fields):
    with open(report_path, "a") as f:
        f.write(json.dumps(fields) + "\n")


def take(h):
    with h:
        facts = dict(app_id=h.app_id, id=h.id, kind=str(h.kind), reason=str(h.reason),
                     is_enum=isinstance(h.reason, socketbroker.Reason), context=h.context.hex(),
                     keepalive=h.keepalive_sec, serial=h.serial)
        sock = h.accept()
        with sock:
            sock.settimeout(5)
            data = sock.recv(4096)
            sock.sendall(b"got " + data)
            report(event="handback", family=int(sock.family), type=int(sock.type), data=data.hex(), **facts)


def take_many(act, hs):
    """One message's handbacks: accepted together, then each one answered."""
    results = act.accept_many(hs)
    report(event="batch", n=len(hs), accepted=sum(r.ok for r in results))
    for h, r in zip(hs, results):
        if not r.ok:
            report(event="error", id=h.id, errno=r.error.errno)
            continue
        try:
            h.accept()
            again = 0
        except socketbroker.BrokerError as e:
            again = e.errno   # EINVAL: accepted already
        with h, r.sock as sock:
            sock.settimeout(5)
            data = b""
            while not data.endswith(b"\n") and (chunk := sock.recv(4096)):
                data += chunk
            sock.sendall(b"got " + data)
            report(event="handback", id=h.id, result_id=r.id, reason=str(h.reason), context=h.context.hex(),
                   fd_after=h._h.fd, again=again, is_socket=type(sock) is socket.socket, family=int(sock.family),
                   type=int(sock.type), data=data.hex())


report(event="start", reason=str(socketbroker.env_reason()), app=os.environ.get("BROKER_APP_ID"),
       module=socketbroker.__file__)
for _ in range(6000):
    if go is None or os.path.exists(go):
        break
    time.sleep(0.01)
act = socketbroker.Activation.open()
if act is None:
    report(event="error", what="not started by brokerd")
    sys.exit(1)
with act:
    if mode == "many":
        while hs := act.receive_many(10):
            take_many(act, hs)
    elif mode == "dispatch":
        n = 0
        while n == 0:
            r, _, _ = select.select([act], [], [], 10)
            if not r:
                break
            for h in act.dispatch():
                n += 1
                take(h)
    else:
        for h in act:
            take(h)
report(event="exit")
