#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Activation.receive_many() and accept_many() against a real brokerd: a
Python app that brokerd starts (exec activation) takes 300 TCP connections'
wake-ups, a message's sockets at a time, each message acknowledged in one
ACK_MANY (brokerd logs 253, then 47), and answers on every one; then the
per-handback errors (accepted already, named twice, from a closed
Activation) among good ones, and the calls refused before anything is
sent.  No fd of this process or of brokerd is left behind.  Prints TAP.
Environment (set by meson): BROKERD, SOCKETBROKER_PATH, SOURCE_ROOT."""
import errno
import os
import re
import resource
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap, my_fds, recv_exactly, report_lines, wait_for  # noqa: E402

MODPATH = os.environ["SOCKETBROKER_PATH"]
sys.path.insert(0, MODPATH)
import socketbroker  # noqa: E402
from socketbroker import AcceptResult, BrokerError, Reason, State  # noqa: E402

tap = Tap()
ok = tap.ok
WOKEN, ATT_A, ATT_B = "org.test.py-many", "org.test.py-many-a", "org.test.py-many-b"
N = 300   # more than the 253 sockets of one message


def check_woken(bd, rep, go):
    """300 wake-ups for an app brokerd starts once; every answer on its own peer."""
    start_fds = my_fds()
    server = socket.create_server(("127.0.0.1", 0))
    held, peers = [], []
    for i in range(N):
        peers.append(socket.create_connection(server.getsockname()))
        held.append(server.accept()[0])
    with socketbroker.Broker(bd.control, app_id=WOKEN) as b:
        results = b.transfer_many((f"conn-{i}", held[i], f"ctx-{i}".encode()) for i in range(N))
        ok(len(results) == N and all(r.ok for r in results), f"{N} TCP connections held for the app",
           [r for r in results if not r.ok][:3])
        for i in range(N):
            peers[i].sendall(f"data {i} ".encode() + b"x" * (i % 50) + b"\n")
        ok(wait_for(lambda: [i.state for i in b.list()] == [State.TRIGGERED] * N),
           "every socket triggered while the app waits to open its activation", b.status())
        activations = b.status().activations_total
    open(go, "w").close()
    done = wait_for(lambda: report_lines(rep, "exit"), 60)
    ok(done and len(report_lines(rep, "start")) == 1 and report_lines(rep, "start")[0]["reason"] == "socket-activity",
       "brokerd started the app once, for socket-activity", open(rep).read() if os.path.exists(rep) else bd.log_text())
    batches = [(j["n"], j["accepted"]) for j in report_lines(rep, "batch")]
    ok(batches == [(253, 253), (N - 253, N - 253)] and report_lines(rep, "error") == [],
       "receive_many(): one message's 253 sockets, then the other 47; accept_many() took each whole", batches)
    got = {j["id"]: j for j in report_lines(rep, "handback")}
    want_ids = {f"conn-{i}" for i in range(N)}
    ok(set(got) == want_ids and len(report_lines(rep, "handback")) == N, "every id handed back once",
       want_ids ^ set(got))
    bad = [j for j in got.values() if j["result_id"] != j["id"] or j["reason"] != "socket-activity"
           or bytes.fromhex(j["context"]) != f"ctx-{j['id'][5:]}".encode()
           or j["fd_after"] != -1 or j["again"] != errno.EINVAL or not j["is_socket"]
           or j["family"] != socket.AF_INET or j["type"] != socket.SOCK_STREAM]
    ok(not bad, "each result its handback's, a TCP socket object; the Handback holds no fd after (accept(): EINVAL)",
       bad[:3])
    bad = []
    for i in range(N):
        line = f"data {i} ".encode() + b"x" * (i % 50) + b"\n"
        if bytes.fromhex(got.get(f"conn-{i}", {}).get("data", "")) != line:
            bad.append(f"{i}: the app read something else")
        if recv_exactly(peers[i], len(line) + 4) != b"got " + line or recv_exactly(peers[i], 1) != b"":
            bad.append(f"{i}: answer")
    ok(not bad, "the app read each socket's bytes and answered on it, and closed it", bad[:10])
    def acked():   # brokerd may read the last ACK_MANY after the app's answers
        return re.findall(r"(\S+): (\d+) socket\(s\) handed back and acknowledged", bd.log_text())
    ok(wait_for(lambda: len(acked()) >= 2) and acked() == [(WOKEN, "253"), (WOKEN, str(N - 253))],
       "brokerd logged one line for each ACK_MANY: 253 and 47", acked())
    with socketbroker.Broker(bd.control, app_id=WOKEN) as b:
        ok(wait_for(lambda: b.list() == []) and b.status().activations_total == activations,
           "brokerd holds nothing of the app now, and started it no more", (b.list()[:3], b.status()))
    for s in peers + [server]:
        s.close()
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


def attach(bd, app_id, ids):
    """Attach as app_id, hold a socketpair per id and wake each: (activation, handbacks, peers)."""
    with socketbroker.Broker(bd.control, app_id=app_id) as b:
        act = b.attach()
        assert act.receive(10) is None   # the first batch: nothing
        peers = {}
        for name in ids:
            s, peers[name] = socket.socketpair()
            b.transfer(name, s, f"context of {name}".encode())
            peers[name].sendall(f"to {name}".encode())
    hs = act.receive_many(10, 1)
    ok(len(hs) == 1, f"{app_id}: receive_many(max=1) gives one", hs)
    for _ in range(2 * len(ids)):   # each wake-up its own batch, with its batch end ([])
        if len(hs) < len(ids):
            hs += act.receive_many(10)
    ok(sorted(h.id for h in hs) == sorted(ids) and all(h.reason == Reason.SOCKET_ACTIVITY for h in hs)
       and act.receive_many(10) == [], f"{app_id}: every socket handed back, then a batch end", hs)
    return act, sorted(hs, key=lambda h: h.id), peers


def held(bd, app_id):
    with socketbroker.Broker(bd.control, app_id=app_id) as b:
        return sorted(i.id for i in b.list())


def check_errors(bd):
    """Per-handback errors among good ones, and what is refused before anything is sent."""
    start_fds = my_fds()
    act_a, (ha,), peers_a = attach(bd, ATT_A, ["a0"])
    act_b, hb, peers = attach(bd, ATT_B, ["b0", "b1", "b2", "b3"])
    for what, wrong, exc in (("a str", [hb[0], "not a handback"], TypeError),
                             ("another open Activation's handback", [hb[0], ha], ValueError),
                             ("a native Handback", [hb[0], hb[1]._h], TypeError)):
        try:
            act_b.accept_many(wrong)   # type: ignore[list-item]
            ok(False, f"accept_many() with {what} is refused")
        except exc:
            ok(all(h._h.fd >= 0 for h in hb + [ha]) and held(bd, ATT_B) == ["b0", "b1", "b2", "b3"],
               f"accept_many() with {what}: {exc.__name__}, nothing acknowledged")
    ok(act_b.accept_many([]) == [], "accept_many([]): []")

    # a receive in another thread holds the activation, without the GIL
    late = []
    t = threading.Thread(target=lambda: late.extend(act_b.receive_many(30)))
    t.start()

    def busy():
        try:
            act_b.receive_many(0)   # nothing is pending: [] if not refused
            return False
        except RuntimeError:
            return True
    ok(wait_for(busy), "receive_many() waits without the GIL; meanwhile the Activation is busy (RuntimeError)")
    with socketbroker.Broker(bd.control, app_id=ATT_B) as b:   # a batch ends the wait
        s, p = socket.socketpair()
        b.transfer("late", s)
        p.sendall(b"!")
    t.join(30)
    ok(not t.is_alive() and [h.id for h in late] == ["late"], "and the waiting thread got its handback", late)
    hb += late

    first = hb[1].accept()
    act_a.close()
    res = act_b.accept_many(h for h in (hb[0], ha, hb[1], hb[2], hb[0], hb[3], hb[4]))   # any iterable
    ok(all(isinstance(r, AcceptResult) for r in res)
       and [r.id for r in res] == ["b0", "a0", "b1", "b2", "b0", "b3", "late"],
       "accept_many(): one result per handback, in order", res)
    ok([r.error.errno if r.error else None for r in res]
       == [None, errno.EPIPE, errno.EINVAL, None, errno.EINVAL, None, None],
       "each its own error: the closed Activation's EPIPE, the accepted one's and the repeated one's EINVAL",
       [(r.id, r.error) for r in res])
    ok(all(isinstance(r.error, BrokerError) and r.message == r.error.strerror == socketbroker.strerror(-r.error.errno)
           and r.sock is None and not r.ok for r in res if r.error), "each error a BrokerError with libbroker's sentence")
    ok(ha._h.fd >= 0 and all(h._h.fd == -1 for h in hb), "the one refused still holds its fd; the others none")
    socks = {"b0": res[0].sock, "b1": first, "b2": res[3].sock, "b3": res[5].sock}
    peers["late"] = p
    ok(res[6].sock.recv(1) == b"!", "the handback received in the other thread too")
    res[6].sock.close()
    good = True
    for name, s in socks.items():
        good = good and recv_exactly(s, len(f"to {name}")) == f"to {name}".encode()
        s.sendall(b"back")
        good = good and recv_exactly(peers[name], 4) == b"back"
    ok(good, "the accepted ones are the sockets of their ids, with their data")
    ok(wait_for(lambda: held(bd, ATT_B) == []), "brokerd let go of those, and only those", held(bd, ATT_B))
    ok(held(bd, ATT_A) == ["a0"], "and holds the closed Activation's socket still")
    ha.close()
    act_b.close()

    def claimed():
        with socketbroker.Broker(bd.control, app_id=ATT_A) as b:
            try:
                b.claim("a0")[0].close()
                return True
            except BrokerError as e:
                if e.errno != errno.EBUSY:   # being handed to a start of the app's /bin/true
                    raise
                return False
    ok(wait_for(claimed), f"{ATT_A}: its socket claimed back")
    for s in list(socks.values()) + list(peers.values()) + list(peers_a.values()):
        s.close()
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


bd = None
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * N)), hard))
    bd = Brokerd("test-pymany-", {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BROKER_"))})
    rep, go = f"{bd.dir}/{WOKEN}.report", f"{bd.dir}/go"
    helper = os.path.join(os.environ["SOURCE_ROOT"], "tests", "python", "activated.py")
    bd.app(WOKEN, f"{sys.executable} {helper} {rep} many {go}",
           f"environment = PYTHONPATH={MODPATH} PYTHONDONTWRITEBYTECODE=1\n[limits]\nmax-sockets = {2 * N}\n")
    for app_id in (ATT_A, ATT_B):
        bd.app(app_id, "/bin/true", capabilities="localSocket")
    bd.start()
    ok(bd.ready(), "brokerd answers")
    bd.base = bd.idle_fds()
    check_woken(bd, rep, go)
    check_errors(bd)
except Exception:
    tap.crashed()
finally:
    if bd:
        bd.stop(tap)
sys.exit(tap.done())
