#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The app that test-socketbroker.py has brokerd start (exec activation):
takes every handback with the socketbroker API and appends one JSON line
per event to REPORT.  MODE receive: Activation.receive() in a loop; MODE
dispatch: select() on Activation.fileno(), then dispatch()."""
import json
import os
import select
import socket
import sys

import socketbroker

report_path, mode = sys.argv[1], sys.argv[2]


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


report(event="start", reason=str(socketbroker.env_reason()), app=os.environ.get("BROKER_APP_ID"),
       module=socketbroker.__file__)
act = socketbroker.Activation.open()
if act is None:
    report(event="error", what="not started by brokerd")
    sys.exit(1)
with act:
    if mode == "dispatch":
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
