#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""socketbroker's bulk verbs against a real brokerd: an upgrade (300 TCP
connections with data in flight both ways handed over in one
transfer_many(), claimed back by a new connection with claim_all(), every
byte on the very socket of its id), claim_many() of a list with an unknown
and a repeated id, and transfer_many() with bad items among good ones (a
result each, and a refused socket stays the caller's).  No fd of this
process or of brokerd is left behind.  Prints TAP.  Environment (set by
meson): BROKERD, SOCKETBROKER_PATH."""
import asyncio
import errno
import os
import resource
import signal
import socket
import ssl
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap, my_fds, recv_exactly, wait_for  # noqa: E402

sys.path.insert(0, os.environ["SOCKETBROKER_PATH"])
import socketbroker  # noqa: E402
from socketbroker import BrokerError, ClaimResult, Kind, State, TransferResult  # noqa: E402

tap = Tap()
ok = tap.ok
APP = "org.test.py-bulk"
N = 300   # more than the 253 sockets of one message


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError as e:
        assert e.errno == errno.EBADF
        return False


def context_of(i):
    """Socket i's context: its number, a NUL, then bytes of it (to 1.2 KiB)."""
    return f"ctx-{i}".encode() + b"\0" + bytes([i % 256]) * (i * 37 % 1200)


def nothing_more(sock):
    """Whether sock has no byte waiting beyond what was read."""
    sock.setblocking(False)
    try:
        sock.recv(1)
        return False
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def check_upgrade(bd):
    """The old version hands over every connection and exits; the next claims them all."""
    start_fds = my_fds()
    server = socket.create_server(("127.0.0.1", 0))
    held, peers, ports, items = [], [], [], []
    for i in range(N):
        peers.append(socket.create_connection(server.getsockname()))
        held.append(server.accept()[0])
        ports.append(held[i].getsockname()[1])
        peers[i].sendall(f"before {i};".encode())          # unread by the server when it goes
        held[i].sendall(f"server said {i};".encode())      # unread by the peer
        sock = held[i].detach() if i % 10 == 9 else held[i]   # some as plain fds
        items.append((f"conn-{i}", sock, context_of(i), 600 if i % 3 == 0 else 0))
    with socketbroker.Broker(bd.control, app_id=APP) as old:
        results = old.transfer_many(iter(items))   # any iterable
        ok(len(results) == N and all(isinstance(r, TransferResult) and r.ok and r.error is None and r.message == ""
                                     for r in results)
           and [r.id for r in results] == [f"conn-{i}" for i in range(N)],
           f"transfer_many() of {N} TCP connections: a result each, in order, all held", results[:3])
        ok(all(s.fileno() == -1 for s in held) and not any(is_open(it[1]) for it in items if isinstance(it[1], int)),
           "every socket object closed, every plain fd closed by libbroker")
        ok(old.status().held == N and wait_for(lambda: bd.fds() >= bd.base + N), "brokerd holds all of them",
           (old.status(), bd.fds()))
    for i in range(N):
        peers[i].sendall(f"while held {i};".encode() * (1 + i % 5))   # arrives while brokerd holds it
    with socketbroker.Broker(bd.control, app_id=APP) as new:
        got = new.claim_all()
        ok(len(got) == N and [r.id for r in got] == [f"conn-{i}" for i in range(N)]
           and all(isinstance(r, ClaimResult) and r.ok and r.message == "" for r in got),
           "claim_all() from a new connection: every id, in the order they were held", [r for r in got if not r.ok][:3])
        ok(all(r.sock is not None and r.sock.family == socket.AF_INET and r.sock.type == socket.SOCK_STREAM
               and r.sock.getsockname()[1] == ports[i] and r.sock.getpeername() == peers[i].getsockname()
               for i, r in enumerate(got)), "each a TCP socket object, the very connection of its id")
        ok(all(r.info is not None and r.info.id == f"conn-{i}" and r.info.app_id == APP and r.info.kind == Kind.STREAM
               and r.info.context == context_of(i) and r.info.keepalive_sec == (600 if i % 3 == 0 else 0)
               for i, r in enumerate(got)), "each with its info, context and keep-alive intact",
           [r.info for r in got[:2]])
        bad = []
        for i, r in enumerate(got):
            want = f"before {i};".encode() + f"while held {i};".encode() * (1 + i % 5)
            if recv_exactly(r.sock, len(want)) != want or not nothing_more(r.sock):
                bad.append(f"{i}: in")
            if recv_exactly(peers[i], len(f"server said {i};")) != f"server said {i};".encode():
                bad.append(f"{i}: out")
            r.sock.sendall(f"next version {i}".encode())
            if recv_exactly(peers[i], len(f"next version {i}")) != f"next version {i}".encode() \
                    or not nothing_more(peers[i]):
                bad.append(f"{i}: back")
        ok(not bad, "every byte, both ways, on the socket of its id, and not one more", bad[:10])
        ok(new.list() == [] and new.claim_all() == [], "brokerd holds none of them now")
        for r in got:
            r.sock.close()
    for s in peers + [server]:
        s.close()
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


def check_claim_many(bd):
    """A list with an unknown id and a repeated one: a result each, the rest fine."""
    start_fds = my_fds()
    with socketbroker.Broker(bd.control, app_id=APP) as b:
        peers = {}
        items = []
        for name in "abcde":
            s, peers[name] = socket.socketpair()
            items.append((name, s, f"context of {name}".encode()))
        ok(all(r.ok for r in b.transfer_many(items)), "five sockets held")
        got = b.claim_many(["d", "nobody", "b", "d", "a"])
        ok([r.id for r in got] == ["d", "nobody", "b", "d", "a"]
           and [r.ok for r in got] == [True, False, True, False, True],
           "claim_many(): one result per id, in order; the unknown and the repeated one fail", got)
        e, dup = got[1].error, got[3].error
        ok(isinstance(e, BrokerError) and e.errno == errno.ENOENT and e.strerror == socketbroker.strerror(-errno.ENOENT)
           and "holds no socket nobody" in e.detail and got[1].message == e.detail
           and got[1].sock is None and got[1].info is None, "the unknown id: BrokerError ENOENT, brokerd's words", e)
        ok(isinstance(dup, BrokerError) and dup.errno == errno.ENOENT and got[3].sock is None,
           "the repeated id: ENOENT, the first took it", dup)
        for r in (got[0], got[2], got[4]):
            peers[r.id].sendall(f"to {r.id}".encode())
        ok(all(r.info.context == f"context of {r.id}".encode() and r.info.state == State.WATCHING
               and recv_exactly(r.sock, 4) == f"to {r.id}".encode() and nothing_more(r.sock)
               for r in (got[0], got[2], got[4])), "the others: each the socket of its id, with its context")
        ok(b.claim_many([]) == [] and sorted(i.id for i in b.list()) == ["c", "e"],
           "claim_many([]) claims nothing (not all)")
        for wrong in ("ce", [b"c"], None):
            try:
                b.claim_many(wrong)   # type: ignore[arg-type]
                ok(False, f"claim_many({wrong!r}) is refused")
            except TypeError:
                ok(sorted(i.id for i in b.list()) == ["c", "e"], f"claim_many({wrong!r}): TypeError, nothing claimed")
        with socketbroker.Broker(bd.control) as stranger:
            e = None
            try:
                stranger.claim_all()
            except BrokerError as err:
                e = err
            ok(e is not None and e.errno == errno.EDESTADDRREQ, "claim_all() before register: BrokerError EDESTADDRREQ",
               e)
        rest = asyncio.run(asyncio.to_thread(b.claim_all))
        ok([(r.id, r.ok) for r in rest] == [("c", True), ("e", True)], "claim_all() takes the rest (off a loop)", rest)
        for r in got + rest:
            if r.sock:
                r.sock.close()
        for p in peers.values():
            p.close()
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


def check_bad_items(bd):
    """Bad items among good ones: each its own error, and a refused socket stays the caller's."""
    start_fds = my_fds()
    good1, p1 = socket.socketpair()
    good2, p2 = socket.socketpair()
    big, pbig = socket.socketpair()
    badid, pbadid = socket.socketpair()
    closed_sock = socket.socket()
    closed_sock.close()
    closed_fd = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1   # the last an fd can be: no call opens it
    assert not is_open(closed_fd)
    pr, pw = os.pipe()
    regular = tempfile.TemporaryFile()
    plain, ptls = socket.socketpair()
    tls = ssl.create_default_context().wrap_socket(plain, server_hostname="peer", do_handshake_on_connect=False)
    items = [("good1", good1), ("closed-fd", closed_fd), ("closed-sock", closed_sock), ("pipe", pr, b"p"),
             ("file", regular), ("tls", tls), ("big", big, b"x" * (socketbroker.CONTEXT_MAX + 1)),
             ("bad id", badid), ("good2", good2, b"two", 30)]
    want = [None, errno.EBADF, errno.EINVAL, errno.ENOTSOCK, errno.ENOTSOCK, errno.EBADFD, errno.E2BIG,
            errno.EINVAL, None]
    with socketbroker.Broker(bd.control) as stranger:
        r = stranger.transfer_many([("x", good1)])
        ok(len(r) == 1 and r[0].error is not None and r[0].error.errno == errno.EDESTADDRREQ and good1.fileno() >= 0,
           "transfer_many() before register: EDESTADDRREQ for the item, the socket still the caller's", r)
    with socketbroker.Broker(bd.control, app_id=APP) as b:
        before = my_fds()
        for wrong in ([("ok", good1), ("short",)], [("ok", good1), ("str", "not a socket")], [("ok", good1), "x"],
                      [("ok", good1), (b"id", good2)]):
            try:
                b.transfer_many(wrong)   # type: ignore[arg-type, list-item]
                ok(False, f"transfer_many({wrong[1]!r}) is refused")
            except TypeError:
                ok(good1.fileno() >= 0 and my_fds() == before and b.list() == [],
                   f"a malformed item {wrong[1]!r}: TypeError, nothing sent, the sockets untouched")
        res = b.transfer_many(items)
        ok([r.id for r in res] == [it[0] for it in items], "transfer_many(): one result per item, in order", res)
        ok([r.error.errno if r.error else None for r in res] == want, "each item its own error, the good ones held",
           [(r.id, r.error) for r in res])
        ok(all(isinstance(r.error, BrokerError) and r.message and str(r.error).startswith(r.error.strerror)
               for r in res if r.error), "each error a BrokerError with libbroker's sentence")
        ok("id must be" in res[7].message and res[7].error.detail == res[7].message, "brokerd says why the id is bad",
           res[7])
        ok(sorted(i.id for i in b.list()) == ["good1", "good2"] and b.show("good2").context == b"two"
           and b.show("good2").keepalive_sec == 30, "brokerd holds the good two, with their context")
        ok(good1.fileno() == -1 and good2.fileno() == -1, "the good sockets are closed here")
        ok(is_open(pr) and regular.fileno() >= 0 and os.fstat(regular.fileno()) is not None and tls.fileno() >= 0
           and not closed_sock.fileno() >= 0, "the refused ones are the caller's, open as they were")
        ok(big.send(b"big") == 3 and recv_exactly(pbig, 3) == b"big" and badid.send(b"id") == 2
           and recv_exactly(pbadid, 2) == b"id", "and the refused sockets still work")
        for r in b.claim_all():
            r.sock.close()
    for s in (p1, p2, big, pbig, badid, pbadid, regular, tls, ptls):
        s.close()
    os.close(pr)
    os.close(pw)
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


def check_gil(bd):
    """The bulk calls run without the GIL: while one waits for a stopped
    brokerd, this thread runs (and finds the handle busy)."""
    mine, peer = socket.socketpair()
    # (a call that kept the GIL would stop this thread until its ETIMEDOUT)
    with socketbroker.Broker(bd.control, app_id=APP, timeout=30) as b:
        def busy():
            try:
                b.set_timeout(30)   # no I/O, and it keeps the GIL: never in the thread's way
                return False
            except RuntimeError:
                return True
        for name, call in (("claim_many", lambda: b.claim_many(["nobody"])),
                           ("transfer_many", lambda: b.transfer_many([("bad id", mine)]))):
            got = []
            os.kill(bd.proc.pid, signal.SIGSTOP)
            try:
                t = threading.Thread(target=lambda: got.append(call()))
                t.start()
                ok(wait_for(busy), f"{name}() waits for brokerd without the GIL")
            finally:
                os.kill(bd.proc.pid, signal.SIGCONT)
            t.join(60)
            ok(not t.is_alive() and len(got) == 1 and len(got[0]) == 1 and got[0][0].error is not None
               and got[0][0].error.errno in (errno.ENOENT, errno.EINVAL), "and gives its result once brokerd goes on",
               got)
    ok(mine.send(b"x") == 1 and recv_exactly(peer, 1) == b"x", "the refused socket is still the caller's")
    mine.close()
    peer.close()
    ok(wait_for(lambda: bd.fds() == bd.base), "brokerd's fd count is back where it was", (bd.fds(), bd.base))


bd = None
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * N)), hard))
    bd = Brokerd("test-pybulk-", {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BROKER_"))})
    bd.app(APP, "/bin/true", f"[limits]\nmax-sockets = {2 * N}\n")
    bd.start()
    ok(bd.ready(), "brokerd answers")
    bd.base = bd.idle_fds()
    check_upgrade(bd)
    check_claim_many(bd)
    check_bad_items(bd)
    check_gil(bd)
except Exception:
    tap.crashed()
finally:
    if bd:
        bd.stop(tap)
sys.exit(tap.done())
