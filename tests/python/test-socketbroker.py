#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The socketbroker module against a real brokerd: every verb an app uses,
the enums against include/socket-broker/broker.h, the errors and who owns a socket after
each call, activation by exec with both ways of receiving, asyncio, and the
installed layout (meson install --destdir, then `import socketbroker` from
it alone).  Prints TAP.  Environment (set by meson): BROKERD,
SOCKETBROKER_PATH (the build tree's package), SOURCE_ROOT, BUILD_ROOT."""
import ast
import asyncio
import errno
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from brokertest import Brokerd, Tap, my_fds, recv_exactly, report_lines, wait_for  # noqa: E402

MODPATH, SRC, BUILD = os.environ["SOCKETBROKER_PATH"], os.environ["SOURCE_ROOT"], os.environ["BUILD_ROOT"]
sys.path.insert(0, MODPATH)
import socketbroker  # noqa: E402
import socketbroker.aio  # noqa: E402
from socketbroker import AppState, BrokerError, Kind, Reason, State  # noqa: E402

tap = Tap()
ok = tap.ok
APP, WOKEN, WOKEN2 = "org.test.py", "org.test.py-woken", "org.test.py-dispatch"


def raises(fn, err):
    """The BrokerError fn raises, if its errno is err; else None."""
    try:
        fn()
    except BrokerError as e:
        return e if e.errno == err else None
    return None


def check_enums():
    header = open(f"{SRC}/include/socket-broker/broker.h").read()
    for c_enum, py_enum in (("broker_kind", socketbroker.Kind), ("broker_reason", socketbroker.Reason),
                            ("broker_state", socketbroker.State), ("broker_app_state", socketbroker.AppState),
                            ("broker_event_type", socketbroker.EventType)):
        body = re.search(r"enum %s \{(.*?)\};" % c_enum, header, re.S).group(1)
        values = {m[0]: int(m[1]) for m in re.findall(r"BROKER_(?:KIND|REASON|STATE|APP|EVENT)_(\w+) = (\d+)", body)}
        ok(values and {m.name: m.value for m in py_enum} == values,
           f"{py_enum.__name__} has every value of enum {c_enum}, no more", (values, list(py_enum)))
    ok(all(py_enum.from_name(str(m)) is m for py_enum in (Kind, Reason, State) for m in py_enum)
       and str(Reason.SOCKET_ACTIVITY) == "socket-activity" and f"{Kind.LISTENER}" == "listener"
       and str(Reason.KEEPALIVE_EXPIRED) == "keepalive-timer-expired",
       "str() is libbroker's name, and from_name() reads it back")
    stub = ast.parse(open(f"{SRC}/libbroker/python/socketbroker/_native.pyi").read())
    declared = {n.target.id for n in stub.body if isinstance(n, ast.AnnAssign)} | \
        {n.name for n in stub.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    runtime = {n for n in dir(socketbroker._native) if not n.startswith("__")}
    ok(declared == runtime, "_native.pyi declares exactly what the native module has", declared ^ runtime)


def check_install():
    dest = tempfile.mkdtemp(prefix="socketbroker-install-")
    try:
        r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet"],
                           capture_output=True, text=True)
        ok(r.returncode == 0, "meson install --destdir", r)
        pkgs = [root for root, _, files in os.walk(dest) if root.endswith("/socketbroker") and "__init__.py" in files]
        ok(len(pkgs) == 1 and "/dist-packages/socketbroker" in pkgs[0], "one socketbroker package under dist-packages", pkgs)
        libs = [root for root, _, files in os.walk(dest) if "libbroker.so.1" in files]
        if not pkgs or not libs:
            return
        have = set(os.listdir(pkgs[0]))
        ok({"__init__.py", "aio.py", "py.typed", "_native.pyi"} <= have and any(f.startswith("_native.") and
           f.endswith(".so") for f in have), "with its native module, py.typed and the stubs", have)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=os.path.dirname(pkgs[0]), LD_LIBRARY_PATH=libs[0])
        code = ("import socketbroker, socketbroker.aio; "
                "print(socketbroker.__file__); print(socketbroker._native.__file__); "
                "print([l.split()[-1] for l in open('/proc/self/maps') if 'libbroker.so' in l][0]); "
                "print(socketbroker.Reason.SOCKET_CLOSED)")
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/")
        lines = r.stdout.splitlines()
        ok(r.returncode == 0 and len(lines) == 4 and all(line.startswith(dest) for line in lines[:3])
           and lines[3] == "socket-closed",
           "python3 -c 'import socketbroker' works from the installed files alone", r)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def check_verbs(bd):
    start_fds = my_fds()
    ok(raises(lambda: socketbroker.Broker(f"{bd.dir}/nothing-here"), errno.ENOENT) is not None,
       "Broker() on a missing socket: BrokerError ENOENT")
    e = raises(lambda: socketbroker.Broker(f"{bd.dir}/nothing-here"), errno.ENOENT)
    ok(isinstance(e, OSError) and e.strerror == socketbroker.strerror(-errno.ENOENT) == str(e) and e.detail == "",
       "an OSError with libbroker's sentence", repr(e))
    b = socketbroker.Broker(bd.control)
    ok(b.peer_uid == os.getuid() and b.is_admin == (os.getuid() == 0) and not b.closed, "peer uid and admin", b)
    a, peer = socket.socketpair()
    ok(raises(lambda: b.transfer("x", a), errno.EDESTADDRREQ) is not None, "transfer before register: EDESTADDRREQ")
    ok(raises(lambda: b.register("org.test.nobody"), errno.ENOENT) is not None, "register an unknown app: ENOENT")
    b.register(APP)
    e = raises(lambda: socketbroker.Broker(bd.control, app_id="org.test.nobody"), errno.ENOENT)
    ok(e is not None and e.detail.startswith("no manifest declares an app org.test.nobody"),
       "Broker(app_id=) of an unknown app: ENOENT, with brokerd's sentence", e)
    with socketbroker.Broker(bd.control, app_id=APP) as h:
        ok(h.list() == [], "Broker(app_id=) registers in the hello: list() of its own app works", h)

    tcp_server = socket.create_server(("127.0.0.1", 0))
    tcp = socket.create_connection(tcp_server.getsockname())
    e = raises(lambda: b.transfer("tcp", tcp), errno.EACCES)
    ok(e is not None and "privateNetworkClientServer" in e.detail and e.detail in str(e)
       and e.detail == b.last_message, "a loopback TCP socket without the capability: EACCES, brokerd says which", e)
    ok(tcp.fileno() >= 0 and tcp.send(b"still mine") == 10, "and the socket is still the caller's")
    tls = ssl.create_default_context().wrap_socket(socket.socketpair()[0], server_hostname="peer",
                                                   do_handshake_on_connect=False)
    ok(raises(lambda: b.transfer("tls", tls), errno.EBADFD) is not None and tls.fileno() >= 0,
       "an ssl.SSLSocket is refused (EBADFD) and left alone")
    big = b"x" * (socketbroker.CONTEXT_MAX + 1)
    ok(raises(lambda: b.transfer("big", a, big), errno.E2BIG) is not None and a.fileno() >= 0,
       "a context over the limit: E2BIG, socket untouched")

    ctx = b"ctx\x00\xff bytes"
    b.transfer("a", a, ctx, 30)
    ok(a.fileno() == -1, "a transferred socket object is closed")
    c, cpeer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    cfd = c.detach()
    b.transfer("b", cfd, context=memoryview(b"mv"))
    try:
        os.fstat(cfd)
        closed = False
    except OSError as e:
        closed = e.errno == errno.EBADF
    ok(closed, "a transferred int fd is closed by libbroker, as in C")
    infos = b.all_sockets()
    ia = infos.get("a")
    ok(sorted(infos) == ["a", "b"] and ia.kind == Kind.STREAM and ia.state == State.WATCHING
       and ia.context == ctx and ia.keepalive_sec == 30 and ia.family == socket.AF_UNIX
       and ia.sotype == socket.SOCK_STREAM and ia.last_reason == Reason.NONE and ia.app_id == APP
       and ia.owner_uid == os.getuid() and ia.last_trigger_usec == 0,
       "all_sockets(): the original's AllSockets, every fact as given", infos)
    ib = b.show("b")
    ok(ib.kind == Kind.DATAGRAM and ib.context == b"mv" and ib.sotype == socket.SOCK_DGRAM, "show() a datagram", ib)
    st = b.status()
    ok(st.held == 2 and st.pid == bd.proc.pid and st.socket_path == bd.control and st.version
       and st.stored == socketbroker.NO_STORE and st.store_lost == 0, "status(), without an fd store", st)
    os.kill(bd.proc.pid, signal.SIGSTOP)   # a brokerd that does not answer
    try:
        b.set_timeout(0.3)
        e = raises(b.status, errno.ETIMEDOUT)
        ok(e is not None and e.detail != "", "a stopped brokerd: ETIMEDOUT after the timeout, with a sentence", e)
    finally:
        os.kill(bd.proc.pid, signal.SIGCONT)
    b.set_timeout(socketbroker.DEFAULT_TIMEOUT)
    ok(b.status().held == 2, "and once it goes on, the next call has its own answer")
    apps = {x.id: x for x in b.apps()}
    ok(apps[APP].held == 2 and apps[APP].state == socketbroker.AppState.IDLE and "localSocket" in apps[APP].capabilities
       and apps[APP].processes == (), "apps(): no instance, no processes", apps.get(APP))

    peer.sendall(b"unread data")
    sock, info = b.claim("a")
    ok(isinstance(sock, socket.socket) and sock.family == socket.AF_UNIX and info.id == "a" and info.context == ctx,
       "claim(): the socket back, with its info", info)
    ok(recv_exactly(sock, 11) == b"unread data", "the data waiting in it is all there")
    ok(raises(lambda: b.claim("a"), errno.ENOENT) is not None, "claimed: it is no longer held (ENOENT)")
    sock.close()
    peer.close()
    b.claim("b")[0].close()
    ok(b.list() == [], "nothing held")
    b.close()
    try:
        b.list()
        ok(False, "a closed Broker refuses calls")
    except ValueError:
        ok(b.closed, "a closed Broker refuses calls (ValueError)")
    for s in (tcp, tcp_server, tls, cpeer):
        s.close()
    ok(my_fds() == start_fds, "no fd of the test process leaked", (start_fds, my_fds()))


def check_activation_fd():
    """Activation(fd): who owns the fd on success and on failure, and its end."""
    start_fds = my_fds()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        socketbroker.Activation(ours)   # type: ignore[arg-type]
        ok(False, "Activation(a socket object) is refused")
    except TypeError:
        ok(ours.fileno() >= 0, "Activation(a socket object) is refused (TypeError): it would close the fd twice")
    r, w = os.pipe()
    e = raises(lambda: socketbroker.Activation(r), errno.ENOTSOCK)
    ok(e is not None and os.fstat(r) is not None, "Activation(a pipe): ENOTSOCK, and the fd is still the caller's")
    os.close(r)
    os.close(w)
    act = socketbroker.Activation(ours.detach())
    ok(act.fileno() >= 0 and act.receive(0) is None and act.dispatch() == [],
       "Activation(fd): nothing pending, receive() None, dispatch() []")
    theirs.close()
    ok(raises(lambda: act.receive(5), errno.EPIPE) is not None, "the other end gone: EPIPE")
    act.close()
    ok(my_fds() == start_fds, "and closing it closed the fd it took", (start_fds, my_fds()))


def check_attach(bd):
    """Broker.attach(): this process becomes the app's instance; a trigger comes over its Activation."""
    start_fds = my_fds()
    with socketbroker.Broker(bd.control) as b:
        ok(raises(b.attach, errno.EDESTADDRREQ) is not None, "attach before register: EDESTADDRREQ")
        b.register(APP)
        act = b.attach()
    ok(isinstance(act, socketbroker.Activation) and act.receive(5) is None,
       "Broker.attach() gives an Activation, whose first batch ends at once; it outlives its Broker")
    with socketbroker.Broker(bd.control) as b:
        b.register(APP)
        e = raises(b.attach, errno.EBUSY)
        ok(e is not None and f"pid {os.getpid()} is attached as {APP} already" == e.detail,
           "a second attach: EBUSY, brokerd says who is attached", e)
        ok([a.state for a in b.apps() if a.id == APP] == [AppState.ATTACHED], "the app is ATTACHED")
        a, peer = socket.socketpair()
        b.transfer("attached", a, b"c")
    peer.send(b"hi")
    h = act.receive(10)
    ok(h is not None and h.id == "attached" and h.reason == Reason.SOCKET_ACTIVITY and h.context == b"c",
       "a trigger reaches the attached process", h)
    if h:
        with h:
            s = h.accept()
        ok(s.recv(2) == b"hi", "with its data")
        s.close()
    peer.close()
    act.close()
    with socketbroker.Broker(bd.control) as b:
        ok(wait_for(lambda: [a.state for a in b.apps() if a.id == APP] == [AppState.IDLE]),
           "closing the Activation ends the attachment")
    ok(my_fds() == start_fds, "no fd left behind", (start_fds, my_fds()))


def check_activation(bd, app_id, mode):
    """Hand a socket over, wake the app: it takes it with the socketbroker API."""
    rep = f"{bd.dir}/{app_id}.report"
    a, peer = socket.socketpair()
    with socketbroker.Broker(bd.control) as b:
        b.register(app_id)
        b.transfer("w", a, b"wake ctx", 7)
        if mode == "receive":
            b.trigger(app_id, "w")   # a quiet socket: admin-trigger
            want, reason = b"after the trigger", "admin-trigger"
        else:
            want, reason = b"data", "socket-activity"
    peer.sendall(want)
    got = wait_for(lambda: report_lines(rep, "exit") and report_lines(rep, "handback"))
    starts = report_lines(rep, "start")
    ok(len(starts) == 1 and starts[0]["reason"] == reason and starts[0]["app"] == app_id
       and starts[0]["module"].startswith(MODPATH), f"{mode}: brokerd started the app, env_reason() {reason}",
       open(rep).read() if os.path.exists(rep) else bd.log_text())
    h = got[0] if got else {}
    ok(len(got or []) == 1 and h["id"] == "w" and h["app_id"] == app_id and h["kind"] == "stream"
       and h["reason"] == reason and h["is_enum"] and bytes.fromhex(h["context"]) == b"wake ctx"
       and h["keepalive"] == 7 and h["family"] == socket.AF_UNIX and h["type"] == socket.SOCK_STREAM,
       f"{mode}: the handback's id, kind, reason, context and keep-alive", h)
    ok(bytes.fromhex(h.get("data", "")) == want and recv_exactly(peer, len(want) + 4) == b"got " + want,
       f"{mode}: accept() gave it the socket with the data in it, and it answered", h)
    peer.close()
    with socketbroker.Broker(bd.control) as b:
        ok(wait_for(lambda: b.list(app_id) == []), f"{mode}: accepted, so brokerd let go")


async def monitor_sees_a_transfer(bd):
    with socketbroker.Broker(bd.control) as mon:
        events = socketbroker.aio.events(mon)
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)   # monitor() is sent before the transfer
        a, peer = socket.socketpair()
        with socketbroker.Broker(bd.control) as b:
            await asyncio.to_thread(b.register, APP)
            await asyncio.to_thread(b.transfer, "m", a)
            seen = []
            while not any(e.type == socketbroker.EventType.TRANSFER for e in seen):
                seen.append(await asyncio.wait_for(first, 20))
                first = asyncio.ensure_future(events.__anext__())
            first.cancel()
            b.claim("m")[0].close()
        peer.close()
        return seen


def check_threads(bd):
    """A Broker in use by one thread refuses a second instead of breaking."""
    with socketbroker.Broker(bd.control) as mon:
        mon.monitor()
        t = threading.Thread(target=lambda: mon.next_event(30))
        t.start()

        def refused():
            try:
                mon.next_event(0)
                return False
            except RuntimeError:
                return True
        ok(wait_for(refused), "a second thread on a busy Broker gets RuntimeError")
        with socketbroker.Broker(bd.control) as b:   # an event lets the first thread go
            b.register(APP)
            a, peer = socket.socketpair()
            b.transfer("t", a)
            b.claim("t")[0].close()
            peer.close()
        t.join(30)
        ok(not t.is_alive(), "and the first thread's call completes")


bd = None
try:
    ok(os.path.dirname(socketbroker.__file__) == os.path.join(MODPATH, "socketbroker")
       and socketbroker._native.__file__.startswith(MODPATH), "socketbroker imports from the build tree",
       socketbroker._native.__file__)
    ok(socketbroker.Activation.open() is None and socketbroker.env_reason() == Reason.NONE,
       "not started by brokerd: Activation.open() is None, env_reason() NONE")
    check_enums()
    check_activation_fd()
    bd = Brokerd("test-socketbroker-", {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BROKER_"))})
    bd.app(APP, "/bin/true", "[limits]\nmax-sockets = 4\n", capabilities="localSocket")
    helper = os.path.join(SRC, "tests", "python", "activated.py")
    for app_id, mode in ((WOKEN, "receive"), (WOKEN2, "dispatch")):
        bd.app(app_id, f"{sys.executable} {helper} {bd.dir}/{app_id}.report {mode}",
               f"environment = PYTHONPATH={MODPATH} PYTHONDONTWRITEBYTECODE=1\n")
    bd.start()
    ok(bd.ready(), "brokerd answers")
    baseline = bd.idle_fds()
    check_verbs(bd)
    check_activation(bd, WOKEN, "receive")
    check_activation(bd, WOKEN2, "dispatch")
    seen = asyncio.run(monitor_sees_a_transfer(bd))
    tr = [e for e in seen if e.type == socketbroker.EventType.TRANSFER]
    ok(tr and tr[0].app_id == APP and tr[0].id == "m" and tr[0].kind == Kind.STREAM,
       "socketbroker.aio.events() delivers the monitor's events to a loop", seen)
    check_threads(bd)
    check_attach(bd)
    ok(wait_for(lambda: bd.fds() == baseline), "brokerd's fd count is back where it started", f"{bd.fds()} vs {baseline}")
    check_install()
except Exception:
    tap.crashed()
finally:
    if bd:
        bd.stop(tap)
sys.exit(tap.done())
