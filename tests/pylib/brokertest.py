# SPDX-License-Identifier: MIT
"""What the Python tests share: TAP output, waiting, exact reads, this
process's fds, an app's report, and a real brokerd in a temporary directory
with manifests written by the test."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

USER = pwd.getpwuid(os.getuid()).pw_name


class Tap:
    """TAP on stdout: ok() per check, done() prints the plan and gives the exit status."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=""):
        self.n += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {desc}")
        if not cond:
            self.failed += 1
            for line in str(diag).splitlines():
                print(f"# {line}")
        sys.stdout.flush()
        return cond

    def crashed(self):
        self.ok(False, "the test ran to its end", traceback.format_exc())

    def done(self):
        print(f"1..{self.n}")
        return 1 if self.failed else 0


def wait_for(cond, timeout=20.0):
    """cond()'s first true value within timeout seconds, else its last one."""
    deadline = time.monotonic() + timeout
    while not (v := cond()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return v


def my_fds():
    """This process's open fds (compare before and after: nothing leaked)."""
    return sorted(os.listdir("/proc/self/fd"))


def report_lines(path, event):
    """The lines of an app's JSON report (tests/python/activated.py) of that event."""
    try:
        with open(path) as f:
            return [j for j in map(json.loads, f) if j["event"] == event]
    except FileNotFoundError:
        return []


def recv_exactly(conn, n, timeout=20.0):
    """Up to n bytes: fewer only if the peer closed or timeout passed."""
    conn.settimeout(timeout)
    got = b""
    try:
        while len(got) < n:
            chunk = conn.recv(n - len(got))
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return got


def recv_line(conn, timeout=20.0):
    """One line (with its newline), read a byte at a time so nothing after it is taken."""
    conn.settimeout(timeout)
    got = b""
    try:
        while not got.endswith(b"\n"):
            c = conn.recv(1)
            if not c:
                break
            got += c
    except socket.timeout:
        pass
    return got


class Brokerd:
    """brokerd --config in a fresh directory; app() writes a manifest.
    env: brokerd's whole environment (the caller's, by default; start()
    reads self.env, so a path in self.dir may be added before it).
    broker: more lines for brokerd.conf's [broker] section ("tls-keeper = ...")."""

    def __init__(self, prefix, env=None, broker=""):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.control = f"{self.dir}/control"
        os.mkdir(f"{self.dir}/apps.d")
        if broker and not broker.endswith("\n"):
            broker += "\n"
        with open(f"{self.dir}/brokerd.conf", "w") as f:
            f.write(f"[broker]\nsocket = {self.control}\napps-dir = {self.dir}/apps.d\n{broker}"
                    "[limits]\nbackoff-initial-ms = 100\nbackoff-max-ms = 400\n")
        self.env = env if env is not None else dict(os.environ)
        self.proc = None
        self.log = open(f"{self.dir}/brokerd.log", "w+")

    def app(self, app_id, command, extra="", capabilities="privateNetworkClientServer localSocket"):
        with open(f"{self.dir}/apps.d/{app_id}.conf", "w") as f:
            f.write(f"[app]\nid = {app_id}\nuser = {USER}\ncapabilities = {capabilities}\n"
                    f"[activation]\nmethod = exec\ncommand = {command}\n{extra}")

    def start(self):
        self.proc = subprocess.Popen([os.environ["BROKERD"], "--config", f"{self.dir}/brokerd.conf"],
                                     stdout=self.log, stderr=self.log, env=self.env, cwd=self.dir)

    def ready(self, timeout=20.0):
        """Whether brokerd accepts connections on its control socket within timeout."""
        def connects():
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                try:
                    s.connect(self.control)
                    return True
                except OSError:
                    return False
        return wait_for(connects, timeout)

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def idle_fds(self):
        """brokerd's fd count once it is steady (a client's close takes a moment to be seen)."""
        prev = -1
        while (n := self.fds()) != prev:
            prev = n
            time.sleep(0.1)
        return n

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, tap):
        """SIGTERM, a clean exit checked; the log as diagnostics if anything failed."""
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = "timeout"
            tap.ok(rc == 0, "brokerd stops cleanly on SIGTERM", rc)
        if tap.failed:
            for line in self.log_text().splitlines():
                print(f"# brokerd: {line}")
        shutil.rmtree(self.dir, ignore_errors=True)
