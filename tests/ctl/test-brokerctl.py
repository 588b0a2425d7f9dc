#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""brokerctl against a real brokerd in a temporary directory: every verb,
human and JSON output, exit codes, and the events monitor shows.  Prints TAP.

Environment (set by meson): BROKERD, BROKERCTL, CTL_APP."""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli  # noqa: E402

BROKERD = os.environ["BROKERD"]
BROKERCTL = os.environ["BROKERCTL"]
CTL_APP = os.environ["CTL_APP"]
LIBBROKER = os.environ["LIBBROKER"]
UID = os.getuid()
USER = pwd.getpwuid(UID).pw_name
# a wide app id, for the tables that must fit the terminal
SLEEPY, ECHO = "org.test.sleepy.with-a-rather-long-application-identifier", "org.test.echo"
LIST_COLUMNS = ["APP", "ID", "KIND", "STATE", "HELD SINCE", "LAST REASON", "OWNER UID", "LOCAL", "PEER"]
TIME_AGE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+[smhd] ago\)$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}")
        if not cond:
            self.failed += 1
            for line in str(diag or "").splitlines():
                print(f"# {line}")
        sys.stdout.flush()
        return cond

    def skip(self, desc, why):
        self.n += 1
        print(f"ok {self.n} - {desc} # SKIP {why}")

    def done(self):
        print(f"1..{self.n}")
        return 1 if self.failed else 0


tap = Tap()


def wait_for(cond, timeout=10.0):
    """Poll cond() until it returns something true; return that, or None."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.01)


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="test-brokerctl-")
        os.chmod(self.dir, 0o755)   # reachable by the unprivileged user of the permission tests
        self.control = f"{self.dir}/control"
        self.app_log = f"{self.dir}/echo.log"
        os.mkdir(f"{self.dir}/apps.d")
        admin = "" if UID == 0 else f"admin-group = {grp.getgrgid(os.getgid()).gr_name}\n"
        self.write("brokerd.conf", f"[broker]\nsocket = {self.control}\napps-dir = {self.dir}/apps.d\n{admin}"
                   "[limits]\nactivation-timeout-ms = 120000\n")
        caps = "privateNetworkClientServer localSocket"
        self.write("apps.d/sleepy.conf", f"[app]\nid = {SLEEPY}\nuser = {USER}\ncapabilities = {caps}\n"
                   f"[activation]\nmethod = exec\ncommand = {CTL_APP} --mute\n")
        self.write("apps.d/echo.conf", f"[app]\nid = {ECHO}\nuser = {USER}\ncapabilities = {caps}\n"
                   f"[activation]\nmethod = exec\ncommand = {CTL_APP} {self.app_log}\n")
        self.log = open(f"{self.dir}/brokerd.log", "w")
        self.brokerd = subprocess.Popen([BROKERD, "--config", f"{self.dir}/brokerd.conf", "--verbose"],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.monitors = []

    def write(self, name, text):
        with open(f"{self.dir}/{name}", "w") as f:
            f.write(text)

    def unprivileged_brokerctl(self):
        """A copy of brokerctl and libbroker that an unprivileged user can
        reach even when the build tree cannot be entered (a checkout under
        /root): the same layout, so brokerctl's $ORIGIN runpath finds it."""
        if not hasattr(self, "_ubin"):
            for sub in ("tools", "libbroker"):
                os.makedirs(f"{self.dir}/{sub}", mode=0o755, exist_ok=True)
            self._ubin = f"{self.dir}/tools/brokerctl"
            shutil.copy2(BROKERCTL, self._ubin)
            shutil.copy2(LIBBROKER, f"{self.dir}/libbroker/libbroker.so.1")
        return self._ubin

    brokerctl_path = BROKERCTL

    def ctl(self, *args, pass_fds=(), user=None, socket_path=None, stdin=subprocess.DEVNULL, env_extra=None):
        argv = [BROKERCTL, "--socket", socket_path or self.control, *args]
        if user:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                    self.unprivileged_brokerctl(), *argv[1:]]
        # a terminal's width must not leak into the tables that tests parse
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PAGER", "SYSTEMD_PAGER")}
        env.update(env_extra or {})
        return subprocess.run(argv, pass_fds=pass_fds, stdin=stdin, capture_output=True, text=True, timeout=20,
                              env=env)

    def json(self, *args):
        r = self.ctl("--json", *args)
        if r.returncode != 0:
            raise RuntimeError(f"brokerctl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    def held(self, app, id):
        for s in self.json("list"):
            if s["app"] == app and s["id"] == id:
                return s
        return None

    def monitor(self, *args):
        out = open(f"{self.dir}/monitor{len(self.monitors)}.out", "w+")
        p = subprocess.Popen([BROKERCTL, "--socket", self.control, "monitor", *args],
                             stdout=out, stderr=subprocess.PIPE, text=True)
        self.monitors.append(p)
        return p, out.name

    def fds(self):
        return len(os.listdir(f"/proc/{self.brokerd.pid}/fd"))

    def settled_fds(self):
        """fds() once the closes of earlier clients are through: the same
        count in five readings 50 ms apart (up to 10 s)."""
        deadline = time.monotonic() + 10.0
        last, same = self.fds(), 0
        while same < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds()
            same = same + 1 if n == last else 0
            last = n
        return last

    def stop(self):
        for p in self.monitors:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.brokerd.poll() is None:
            self.brokerd.terminate()
            try:
                self.brokerd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.brokerd.kill()
                self.brokerd.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.dir])


def read(path):
    with open(path) as f:
        return f.read()


def parse_table(text):
    """Rows of a brokerctl table as dicts; columns start where their headers do."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    names = re.findall(r"\S+(?: \S+)*", header)
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines[1:]:
        cells = [line[s:(starts[i + 1] if i + 1 < len(starts) else None)].strip() for i, s in enumerate(starts)]
        rows.append(dict(zip(names, cells)))
    return names, rows


def one_error_line(r, verb):
    lines = r.stderr.splitlines()
    return len(lines) == 1 and lines[0].startswith(f"brokerctl: {verb}: ")


def events(path):
    """Every complete line of a monitor --json output, each one JSON object."""
    return [json.loads(line) for line in read(path).split("\n")[:-1]]


def test_basics(env):
    r = env.ctl("--version")
    tap.ok(r.returncode == 0 and re.match(r"^brokerctl \d+\.\d+\.\d+$", r.stdout.strip()), "--version", r)
    r = env.ctl("--help")
    verbs = ["status", "apps", "list", "show", "monitor", "trigger", "drop", "reload", "transfer", "listen"]
    tap.ok(r.returncode == 0 and all(f"  {v}" in r.stdout for v in verbs) and "Exit status" in r.stdout,
           "--help lists every verb and the exit codes", r)
    r = env.ctl("list", "--help")
    tap.ok(r.returncode == 0 and "brokerctl [OPTIONS] list [APP]" in r.stdout, "list --help", r)


def test_usage_errors(env):
    cases = [
        ([], "no verb"),
        (["frobnicate"], "unknown verb"),
        (["list", "--frob"], "unknown option"),
        (["list", "a", "b"], "list with two apps"),
        (["status", "extra"], "status with an argument"),
        (["show"], "show without APP/ID"),
        (["show", "noslash"], "show without a slash"),
        (["trigger", "a/b/c"], "trigger with two slashes"),
        (["drop", "/x"], "drop with an empty app"),
        (["transfer", SLEEPY, "x"], "transfer without FD"),
        (["transfer", SLEEPY, "x", "abc"], "transfer with a non-number FD"),
        (["transfer", SLEEPY, "x", "0", "--keepalive", "soon"], "transfer with a bad keep-alive"),
        (["transfer", SLEEPY, "x", "0", "--context", "a", "--context-file", "/dev/null"], "both contexts"),
        (["listen", "tcp:127.0.0.1", SLEEPY, "x"], "listen without a port"),
        (["listen", "tcp:::1:0", SLEEPY, "x"], "listen with IPv6 outside brackets"),
        (["listen", "sctp:127.0.0.1:0", SLEEPY, "x"], "listen with an unknown scheme"),
        (["listen", "unix:relative", SLEEPY, "x"], "listen on a relative path"),
        (["listen", "tcp:127.0.0.1:0", SLEEPY], "listen without ID"),
        (["listen", "tcp:127.0.0.1:+80", SLEEPY, "x"], "listen with a signed port"),
        (["listen", "tcp:127.0.0.1:8o", SLEEPY, "x"], "listen with a port neither number nor name"),
        (["listen", "udp:127.0.0.1:ht_tp", SLEEPY, "x"], "listen with a service name of bad characters"),
        (["transfer", SLEEPY, "x", "0", "--keepalive"], "transfer with --keepalive last"),
    ]
    for args, what in cases:
        r = env.ctl(*args)
        lines = r.stderr.splitlines()
        tap.ok(r.returncode == 2 and len(lines) == 1 and lines[0].startswith("brokerctl: ") and not r.stdout,
               f"usage error exits 2 with one line: {what}", r)
    # getopt's own line is not printed: one line, ours, that says where to look
    exact = [
        (["--frob"], "brokerctl: unknown option '--frob' (see brokerctl --help)"),
        (["-x", "list"], "brokerctl: unknown option '-x' (see brokerctl --help)"),
        (["--json=yes", "list"], "brokerctl: option '--json' takes no argument (see brokerctl --help)"),
        (["list", "--frob"], "brokerctl: list: unknown option '--frob' (see brokerctl list --help)"),
        (["list", "-jx"], "brokerctl: list: unknown option '-x' (see brokerctl list --help)"),
        (["list", "--no-pager=1"], "brokerctl: list: option '--no-pager' takes no argument (see brokerctl list --help)"),
        (["listen", "--backlog"], "brokerctl: listen: option '--backlog' needs an argument (see brokerctl listen --help)"),
    ]
    for args, line in exact:
        r = subprocess.run([BROKERCTL, *args], capture_output=True, text=True, timeout=20)
        tap.ok(r.returncode == 2 and r.stderr == line + "\n" and not r.stdout, f"one error line: {line}", r)
    r = subprocess.run([BROKERCTL, "--socket"], capture_output=True, text=True, timeout=20)
    tap.ok(r.returncode == 2 and r.stderr == "brokerctl: option '--socket' needs an argument (see brokerctl --help)\n",
           "one error line: --socket without PATH", r)


def test_port_range(env):
    """A numeric port is 0-65535: getaddrinfo alone would bind 99999 as 34463."""
    for port in ["65536", "99999", "1234567"]:
        r = env.ctl("listen", f"tcp:127.0.0.1:{port}", SLEEPY, "range")
        lines = r.stderr.splitlines()
        tap.ok(r.returncode == 2 and len(lines) == 1 and "a port is a number from 0 to 65535" in lines[0] and
               not r.stdout and env.held(SLEEPY, "range") is None,
               f"listen tcp:127.0.0.1:{port}: refused, one line, nothing held", r)


def test_stopped_brokerd(env):
    """A brokerd stopped with SIGSTOP: --timeout bounds every call, with one clear line."""
    r = env.ctl("status", "--timeout", "soon")
    tap.ok(r.returncode == 2 and one_error_line(r, "status") and "--timeout takes seconds" in r.stderr,
           "--timeout with a bad value is a usage error", r)
    env.brokerd.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = env.ctl("status", "--timeout", "0.3")
        took = time.monotonic() - t0
        tap.ok(r.returncode == 1 and one_error_line(r, "status") and "did not answer within 0.3 s" in r.stderr
               and took < 5, f"status against a stopped brokerd: exit 1 after {took:.2f} s, one line", r)
        t0 = time.monotonic()
        r = env.ctl("--timeout", "0.3", "list")
        took = time.monotonic() - t0
        tap.ok(r.returncode == 1 and one_error_line(r, "list") and took < 5,
               f"list against a stopped brokerd: exit 1 after {took:.2f} s", r)
    finally:
        env.brokerd.send_signal(signal.SIGCONT)
    r = env.ctl("status", "--timeout", "5")
    tap.ok(r.returncode == 0, "brokerd answers again once it runs", r)


def test_no_brokerd(env):
    r = env.ctl("status", socket_path=f"{env.dir}/nobody-here")
    tap.ok(r.returncode == 1 and one_error_line(r, "status") and "nobody-here" in r.stderr,
           "no brokerd at the socket: exit 1, one line naming the socket", r)
    # a socket file nobody listens on
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(f"{env.dir}/dead")
    s.close()
    r = env.ctl("list", socket_path=f"{env.dir}/dead")
    tap.ok(r.returncode == 1 and one_error_line(r, "list") and "nobody is listening" in r.stderr,
           "a dead control socket: exit 1", r)


def test_status_apps(env):
    r = env.ctl("status")
    m = re.match(r"^brokerd (\S+) \(pid (\d+)\), up ", r.stdout)
    tap.ok(r.returncode == 0 and m and int(m.group(2)) == env.brokerd.pid and
           f"control socket: {env.control}\n" in r.stdout and "2 known" in r.stdout,
           "status: version, brokerd's pid, socket, app count", r)
    s = env.json("status")
    tap.ok(s["pid"] == env.brokerd.pid and s["socket"] == env.control and s["apps"] == 2 and
           s["admin"] is True and s["uid"] == UID and s["version"] == m.group(1) and
           isinstance(s["held"], int) and isinstance(s["uptime_usec"], int), "status --json", s)

    r = env.ctl("apps")
    names, rows = parse_table(r.stdout)
    by_id = {row["APP"]: row for row in rows}
    tap.ok(r.returncode == 0 and names[:4] == ["APP", "USER", "STATE", "PID"] and set(by_id) == {SLEEPY, ECHO} and
           by_id[ECHO]["USER"] == USER and by_id[ECHO]["ACTIVATION"] == "exec" and
           by_id[ECHO]["HANDOFF"] == "libbroker" and by_id[ECHO]["TARGET"] == f"{CTL_APP} {env.app_log}",
           "apps: a table with both apps", r.stdout)
    apps = {a["id"]: a for a in env.json("apps")}
    e = apps.get(ECHO, {})
    tap.ok(set(apps) == {SLEEPY, ECHO} and e["user"] == USER and e["uid"] == UID and e["state"] == "idle" and
           e["capabilities"] == ["privateNetworkClientServer", "localSocket"] and e["pid"] is None and
           e["unit"] is None and e["target"] == f"{CTL_APP} {env.app_log}",
           "apps --json", apps)


def start_monitors(env):
    text, text_out = env.monitor()
    js, js_out = env.monitor("--json")
    # Subscribed once a reload shows up in both streams.
    seen = wait_for(lambda: env.ctl("reload").returncode == 0 and "reload: 2 app(s)" in read(text_out) and
                    any(e["event"] == "reload" for e in events(js_out)))
    tap.ok(seen, "reload succeeds as admin and both monitors see it", read(text_out))
    return (text, text_out), (js, js_out)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_listen(env):
    """listen on every kind of address; returns the TCP listener's port."""
    r = env.ctl("listen", "tcp:127.0.0.1:0", SLEEPY, "l4")
    m = re.match(r"^tcp:127\.0\.0\.1:(\d+)\n$", r.stdout)
    tap.ok(r.returncode == 0 and m and int(m.group(1)) > 0, "listen tcp: prints the bound address", r)
    port = int(m.group(1)) if m else 0
    h = env.held(SLEEPY, "l4")
    tap.ok(h and h["kind"] == "listener" and h["state"] == "watching" and h["local"] == f"127.0.0.1:{port}" and
           h["family"] == "inet" and h["type"] == "stream" and h["peer"] is None and h["owner_uid"] == UID,
           "the TCP listener is held, watching, at that address", h)

    if ipv6_loopback():
        r = env.ctl("listen", "tcp:[::1]:0", SLEEPY, "l6")
        m6 = re.match(r"^tcp:\[::1\]:(\d+)\n$", r.stdout)
        h = env.held(SLEEPY, "l6")
        tap.ok(r.returncode == 0 and m6 and h and h["family"] == "inet6" and h["local"] == f"[::1]:{m6.group(1)}",
               "listen tcp:[::1]:0", r)
    else:
        tap.skip("listen tcp:[::1]:0", "no IPv6 loopback")

    r = env.ctl("listen", "--json", "udp:127.0.0.1:0", SLEEPY, "u4")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    env.listen_json = j
    h = env.held(SLEEPY, "u4")
    tap.ok(j.get("app") == SLEEPY and j.get("id") == "u4" and j.get("port", 0) > 0 and
           j.get("address") == f"udp:127.0.0.1:{j.get('port')}" and h and h["kind"] == "datagram" and
           h["local"] == f"127.0.0.1:{j['port']}", "listen --json udp", (r, h))

    for scheme, kind, typ in [("unix", "listener", "stream"), ("seqpacket", "listener", "seqpacket"),
                              ("unixgram", "datagram", "dgram")]:
        path = f"{env.dir}/{scheme}.sock"
        r = env.ctl("listen", f"{scheme}:{path}", SLEEPY, scheme)
        h = env.held(SLEEPY, scheme)
        tap.ok(r.stdout == f"{scheme}:{path}\n" and os.path.exists(path) and h and h["kind"] == kind and
               h["family"] == "unix" and h["type"] == typ and h["local"] == path, f"listen {scheme}:PATH", (r, h))

    name = f"brokerctl-test-{os.getpid()}"
    r = env.ctl("listen", f"unix:@{name}", SLEEPY, "abstract")
    h = env.held(SLEEPY, "abstract")
    tap.ok(r.stdout == f"unix:@{name}\n" and h and h["local"] == f"@{name}", "listen on an abstract name", (r, h))

    # Refused by brokerd: nothing is left behind at the address.
    path = f"{env.dir}/refused.sock"
    r = env.ctl("listen", f"unix:{path}", "org.test.nothing", "x")
    tap.ok(r.returncode == 1 and one_error_line(r, "listen") and "org.test.nothing" in r.stderr and
           not os.path.exists(path), "listen for an unknown app: exit 1, socket file removed", r)
    r = env.ctl("listen", f"unix:{env.dir}/unix.sock", SLEEPY, "again")
    tap.ok(r.returncode == 1 and one_error_line(r, "listen") and "in use" in r.stderr,
           "listen on an address in use: exit 1", r)
    return port


def test_triggered_listener(env, port):
    """A real connection to a held listener: triggered, the app started (it never says hello)."""
    c = socket.create_connection(("127.0.0.1", port))
    h = wait_for(lambda: (lambda h: h if h and h["state"] == "triggered" else None)(env.held(SLEEPY, "l4")))
    tap.ok(h and h["last_reason"] == "connection-accepted" and RFC3339.match(h["last_trigger"] or "") and
           h["last_trigger_usec"] >= h["held_since_usec"], "a connection triggers the held listener", h)

    r = env.ctl("list", SLEEPY)
    names, rows = parse_table(r.stdout)
    row = next((x for x in rows if x["ID"] == "l4"), {})
    tap.ok(r.returncode == 0 and names == LIST_COLUMNS and row.get("APP") == SLEEPY and
           row.get("KIND") == "listener" and row.get("STATE") == "triggered" and
           re.match(r"^connection-accepted \(\d+s ago\)$", row.get("LAST REASON", "")) and
           row.get("OWNER UID") == str(UID) and row.get("LOCAL") == f"127.0.0.1:{port}" and
           row.get("PEER") == "-" and TIME_AGE.match(row.get("HELD SINCE", "")),
           "list APP: the table shows it triggered", r.stdout)

    r = env.ctl("show", f"{SLEEPY}/l4")
    tap.ok(r.returncode == 0 and "state:        triggered\n" in r.stdout and
           "kind:         listener (inet stream)\n" in r.stdout and
           f"local:        127.0.0.1:{port}\n" in r.stdout and "last trigger: connection-accepted, " in r.stdout,
           "show APP/ID", r.stdout)
    a = next(a for a in env.json("apps") if a["id"] == SLEEPY)
    tap.ok(a["state"] == "starting" and a["pid"] and os.path.exists(f"/proc/{a['pid']}"),
           "apps --json: the app was started and waits for its hello", a)
    c.close()


def tcp_pair():
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        app_end = socket.create_connection(lst.getsockname())
        peer, _ = lst.accept()
    return app_end, peer


def test_wide(env):
    """A long id at a UTF-8 path, then the tables at several widths."""
    path = f"{env.dir}/ünïcödé-straße-名前"
    os.mkdir(path)
    r = env.ctl("listen", f"unix:{path}/s", SLEEPY, "a-rather-long-socket-id-for-the-table")
    tap.ok(r.returncode == 0, "listen at a UTF-8 path for the table tests", r)
    cli.test_table_flags(tap, env, SLEEPY)
    cli.test_width(tap, env, SLEEPY, f"{path}/s")


def test_transfer(env):
    """transfer an inherited fd; the peer writes; the app is woken with the data and answers."""
    mine, peer = tcp_pair()
    fd = mine.fileno()
    r = env.ctl("transfer", ECHO, "conn", str(fd), "--context", "ctx one", "--keepalive", "30", pass_fds=[fd])
    tap.ok(r.returncode == 0 and not r.stdout and not r.stderr, "transfer APP ID FD", r)
    h = env.held(ECHO, "conn")
    tap.ok(h and h["kind"] == "stream" and h["state"] == "watching" and h["keepalive_sec"] == 30 and
           h["context"] == "ctx one" and h["context_hex"] == b"ctx one".hex() and h["context_len"] == 7 and
           h["local"] == "%s:%d" % mine.getsockname() and h["peer"] == "%s:%d" % peer.getsockname() and
           RFC3339.match(h["held_since"]) and abs(h["held_since_usec"] / 1e6 - time.time()) < 600,
           "the held socket is ours: addresses, context, keep-alive", h)
    r = env.ctl("show", "--json", f"{ECHO}/conn")
    tap.ok(r.returncode == 0 and json.loads(r.stdout) == h, "show --json matches list --json", r)
    mine.close()   # brokerd's copy is the only one now

    peer.sendall(b"ping")
    peer.settimeout(20)
    reply = b""
    while len(reply) < len(b"echo:ping"):
        chunk = peer.recv(64)
        if not chunk:
            break
        reply += chunk
    tap.ok(reply == b"echo:ping", "the woken app read exactly the bytes sent and answered", reply)
    line = wait_for(lambda: os.path.exists(env.app_log) and read(env.app_log))
    tap.ok(line == "conn socket-activity stream ctx one ping\n", "the app got id, reason, kind and context", line)
    gone = wait_for(lambda: env.held(ECHO, "conn") is None)
    tap.ok(gone, "after the app's acknowledgement brokerd no longer holds it")
    peer.close()

    # A context that is not text, from a file; a Unix socket pair.
    blob = bytes(range(256))
    with open(f"{env.dir}/ctx.bin", "wb") as f:
        f.write(blob)
    a, b = socket.socketpair()
    r = env.ctl("transfer", SLEEPY, "pair", str(a.fileno()), "--context-file", f"{env.dir}/ctx.bin",
                pass_fds=[a.fileno()])
    h = env.held(SLEEPY, "pair")
    tap.ok(r.returncode == 0 and h and h["context"] is None and h["context_hex"] == blob.hex() and
           h["context_len"] == 256 and h["family"] == "unix", "transfer --context-file with binary bytes", (r, h))
    r = env.ctl("show", f"{SLEEPY}/pair")
    tap.ok("context:      256 byte(s): \\x00\\x01" in r.stdout and " !\"#$%&'()*+" in r.stdout,
           "show escapes a binary context", r.stdout)
    a.close()

    # The fd stays the caller's when brokerd refuses it.
    r = env.ctl("transfer", ECHO, "bad id", str(b.fileno()), pass_fds=[b.fileno()])
    tap.ok(r.returncode == 1 and one_error_line(r, "transfer") and "A-Za-z0-9" in r.stderr,
           "transfer with a bad id: exit 1 with brokerd's words", r)
    r = env.ctl("transfer", ECHO, "x", "99")
    tap.ok(r.returncode == 1 and one_error_line(r, "transfer") and "not open" in r.stderr,
           "transfer of an fd that is not open: exit 1", r)
    with open(f"{env.dir}/ctx.bin") as f:
        r = env.ctl("transfer", ECHO, "x", str(f.fileno()), pass_fds=[f.fileno()])
    tap.ok(r.returncode == 1 and "not a socket" in r.stderr, "transfer of a file: exit 1", r)
    b.close()


def test_admin(env):
    r = env.ctl("listen", "udp:127.0.0.1:0", ECHO, "quiet")
    tap.ok(r.returncode == 0, "listen udp for the admin verbs", r)
    # The echo app is idle: trigger starts it, it takes the socket and acknowledges.
    r = env.ctl("trigger", f"{ECHO}/quiet")
    tap.ok(r.returncode == 0 and not r.stdout and not r.stderr, "trigger APP/ID as admin", r)
    gone = wait_for(lambda: "quiet admin-trigger datagram" in read(env.app_log) and env.held(ECHO, "quiet") is None)
    tap.ok(gone, "trigger woke the app with reason admin-trigger", read(env.app_log))

    r = env.ctl("drop", f"{SLEEPY}/u4")
    tap.ok(r.returncode == 0 and env.held(SLEEPY, "u4") is None, "drop APP/ID as admin", r)
    r = env.ctl("show", f"{SLEEPY}/u4")
    tap.ok(r.returncode == 1 and one_error_line(r, "show") and f"{SLEEPY}/u4" in r.stderr,
           "show a dropped socket: exit 1", r)
    for args in (["trigger", f"{SLEEPY}/nope"], ["drop", "org.test.nope/x"], ["list", "org.test.nope"],
                 ["show", "org.test.nope/x"], ["transfer", "org.test.nope", "x", "0"]):
        r = env.ctl(*args)
        tap.ok(r.returncode == 1 and one_error_line(r, args[0]) and "not found: " in r.stderr and
               "nope" in r.stderr, f"{args[0]} of an unknown app or id: exit 1 with brokerd's words", r)


def test_permissions(env):
    if UID != 0:
        for what in ("trigger", "drop", "reload", "list as another user"):
            tap.skip(f"{what}: permission denied", "needs root to act as another user")
        return
    nobody = "65534"
    for args in (["trigger", f"{SLEEPY}/l4"], ["drop", f"{SLEEPY}/l4"], ["reload"]):
        r = env.ctl(*args, user=nobody)
        tap.ok(r.returncode == 4 and one_error_line(r, args[0]) and
               f"not allowed: {args[0]} needs root (no admin group is configured)" in r.stderr,
               f"{args[0]} as an unprivileged user: exit 4, one sentence saying who may", r)
    r = env.ctl("list", user=nobody)
    tap.ok(r.returncode == 0 and r.stdout == "No held sockets.\n", "list as a user with no apps", r)
    r = env.ctl("list", SLEEPY, user=nobody)
    # brokerd hides that the app exists: as for no app at all
    tap.ok(r.returncode == 1 and one_error_line(r, "list") and
           f"not found: no app {SLEEPY} that uid 65534 may see" in r.stderr,
           "list of an app the user may not see: as if there were none", r)


def test_no_leaks(env):
    """brokerd's fds come back to where they were after brokerctl comes and goes."""
    before = env.settled_fds()
    for i in range(5):
        env.ctl("listen", f"unix:{env.dir}/leak{i}.sock", ECHO, f"leak{i}")
        env.ctl("status")
        env.ctl("list")
        env.ctl("show", f"{ECHO}/leak{i}")
        env.ctl("trigger", "org.test.nope/x")
        env.ctl("drop", f"{ECHO}/leak{i}")
    after = wait_for(lambda: env.fds() == before and before)
    tap.ok(after == before, f"brokerd's open fds: {before} before, {env.fds()} after", os.listdir(f"/proc/{env.brokerd.pid}/fd"))


def test_monitor_output(env, text, js):
    (tp, tout), (jp, jout) = text, js
    # Both have caught up once the last reload shows in both.
    env.ctl("reload")
    wait_for(lambda: read(tout).endswith("reload: 2 app(s)\n") and events(jout)[-1]["event"] == "reload")
    ev = events(jout)

    def has(**want):
        return any(all(e.get(k) == v for k, v in want.items()) for e in ev)

    tap.ok(all(RFC3339.match(e["time"]) and isinstance(e["time_usec"], int) for e in ev) and len(ev) > 5,
           "monitor --json: one JSON object per line", read(jout))
    tap.ok(has(event="transfer", app=ECHO, id="conn", kind="stream"), "monitor shows the transfer")
    tap.ok(has(event="trigger", app=SLEEPY, id="l4", reason="connection-accepted", kind="listener"),
           "monitor shows the listener's trigger with its reason")
    tap.ok(has(event="trigger", app=ECHO, id="conn", reason="socket-activity"), "monitor shows the data trigger")
    tap.ok(has(event="activate", app=ECHO, reason="socket-activity", detail="exec"), "monitor shows the activation")
    tap.ok(has(event="handback", app=ECHO, id="conn") and has(event="ack", app=ECHO, id="conn"),
           "monitor shows the hand-back and its acknowledgement")
    tap.ok(has(event="trigger", app=ECHO, id="quiet", reason="admin-trigger"), "monitor shows the admin trigger")
    tap.ok(has(event="drop", app=SLEEPY, id="u4"), "monitor shows the drop")

    t = read(tout)
    pat = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} trigger %s/l4 reason=connection-accepted kind=listener$"
    # The same events in the same order, after the reloads that synchronised the start.
    words = [line.split(" ")[2].rstrip(":") for line in t.splitlines()]
    names = [e["event"] for e in ev]
    while words and words[0] == "reload":
        words.pop(0)
    while names and names[0] == "reload":
        names.pop(0)
    tap.ok(re.search(pat % re.escape(SLEEPY), t, re.M) and
           re.search(r" transfer %s/conn kind=stream pid=\d+$" % re.escape(ECHO), t, re.M) and
           words == names, "monitor: the same events as text lines", (t, names))

    tp.send_signal(signal.SIGINT)
    jp.send_signal(signal.SIGTERM)
    codes = (tp.wait(timeout=10), jp.wait(timeout=10))
    tap.ok(codes == (0, 0) and not tp.stderr.read() and not jp.stderr.read(),
           "monitor exits 0 on SIGINT and SIGTERM", codes)


def main():
    env = Env()
    try:
        up = wait_for(lambda: env.brokerd.poll() is None and env.ctl("status").returncode == 0)
        if not tap.ok(up, "brokerd starts and answers status", read(f"{env.dir}/brokerd.log")):
            return tap.done()
        sections = [
            lambda: test_basics(env),
            lambda: test_usage_errors(env),
            lambda: test_port_range(env),
            lambda: test_no_brokerd(env),
            lambda: test_status_apps(env),
            lambda: cli.test_flags(tap, env),
        ]
        for s in sections:
            run(s)
        monitors = run(lambda: start_monitors(env))
        port = run(lambda: test_listen(env))
        if port:
            run(lambda: test_triggered_listener(env, port))
        run(lambda: test_wide(env))
        run(lambda: cli.test_pager(tap, env))
        run(lambda: test_transfer(env))
        run(lambda: cli.test_completion(tap, env, [SLEEPY, ECHO]))
        run(lambda: test_admin(env))
        run(lambda: test_permissions(env))
        run(lambda: test_no_leaks(env))
        run(lambda: test_stopped_brokerd(env))   # after the fd count: clients that gave up linger a moment
        if monitors:
            run(lambda: test_monitor_output(env, *monitors))
            run(lambda: cli.test_schema(tap, env, getattr(env, "listen_json", None), events(monitors[1][1])))

        last, out = env.monitor()
        wait_for(lambda: env.ctl("reload").returncode == 0 and "reload" in read(out))
        env.brokerd.terminate()
        env.brokerd.wait(timeout=20)
        code = last.wait(timeout=10)
        tap.ok(code == 0 and not last.stderr.read(), "monitor exits 0 when brokerd goes away", code)
    finally:
        env.stop()
    return tap.done()


def run(section):
    try:
        return section()
    except Exception:
        tap.ok(False, "section raised", traceback.format_exc())
        return None


if __name__ == "__main__":
    sys.exit(main())
