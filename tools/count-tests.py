#!/usr/bin/env python3
"""Count test cases across meson test logs (TAP subtests where a test
speaks TAP, the test itself otherwise) and print 'N passed, N failed'."""
import json
import sys

passed = failed = 0
failures = []
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        print(f"count-tests: {path}: missing (that build did not run)", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        ok = sum(1 for l in t.get("stdout", "").splitlines() if l.startswith("ok "))
        bad = sum(1 for l in t.get("stdout", "").splitlines() if l.startswith("not ok "))
        res = t.get("result")
        if res not in ("OK", "EXPECTEDFAIL", "SKIP"):
            failures.append((path, t))
        if ok + bad == 0:
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res != "SKIP":
                failed += 1
            continue
        passed += ok
        failed += bad
        # a test that died or timed out after its last TAP line
        if res not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
            failed += 1
# CI shows only the end of the output: repeat what failed, briefly, here.
for path, t in failures:
    out = t.get("stdout", "").splitlines()
    print(f"--- {t.get('name')} ({t.get('result')}, {path}):")
    for l in [l for l in out if l.startswith("not ok ")][:10]:
        print("   ", l[:300])
    for l in out[-15:]:
        print("   |", l[:300])
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
