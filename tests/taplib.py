# SPDX-License-Identifier: MIT
"""TAP for the Python test scripts: numbered results with diagnostics, the
plan at the end, and the waits they all need."""
import socket
import sys
import time

count = failed = 0


def ok(cond, desc, diag=""):
    """One result; diag (anything printable) is shown when cond is false."""
    global count, failed
    count += 1
    print(f"{'ok' if cond else 'not ok'} {count} - {desc}")
    if not cond:
        failed += 1
        for line in str(diag).splitlines():
            print(f"# {line}")
    sys.stdout.flush()
    return cond


def done():
    """Print the plan and exit 1 if anything failed."""
    print(f"1..{count}")
    sys.exit(1 if failed else 0)


def wait_for(cond, timeout=10.0):
    """Poll cond() every 10 ms until it returns something true, or time out
    (then the last, false value)."""
    deadline = time.monotonic() + timeout
    while not (v := cond()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return v


def recv_exactly(conn, want, timeout=10.0):
    """Read len(want) bytes (or until EOF or the timeout) from conn."""
    conn.settimeout(timeout)
    got = b""
    try:
        while len(got) < len(want):
            chunk = conn.recv(len(want) - len(got))
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return got
