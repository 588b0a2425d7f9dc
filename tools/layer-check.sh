#!/bin/sh
# The call graph of brokerd's files, from the built objects' symbols (nm):
# file A calls file B when A uses a symbol B defines.  Prints the largest
# circle of files that call each other (a strongly connected component)
# and every call that goes up the layers
#   main -> control -> cycle -> core -> conf, reglog
# (a layer's objects are those of its static library, libbrokerd-LAYER.a;
# main is the brokerd executable's own).
# Usage: tools/layer-check.sh [BUILD_DIR] [--max-circle N]
# Exit status 1 if a call goes upward or a circle has more than N files
# (default 3).  meson's test `layers` runs it on the test build.
set -eu
build=${1:-build-test}
max=3
[ "${2:-}" = "--max-circle" ] && max=$3
command -v nm >/dev/null || { echo "layer-check: nm not found" >&2; exit 2; }
find "$build/daemon" -name '*.o' -path '*daemon*' | sort | while read -r obj; do
	echo "O $obj"
	nm -g --defined-only "$obj" | awk '$2 ~ /^[TDBRC]$/ { print "D " $3 }'
	nm -u "$obj" | awk '{ print "U " $2 }'
done | python3 -c '
import re, sys
maxc = int(sys.argv[1])
rank = {"conf": 0, "reglog": 0, "core": 1, "cycle": 2, "control": 3, "main": 4}
defs, uses, layer = {}, {}, {}
cur = None
for line in sys.stdin:
    kind, val = line.split(" ", 1)
    val = val.strip()
    if kind == "O":
        m = re.search(r"libbrokerd-([a-z]+)\.a\.p/(.*)\.c\.o$", val)
        if m:
            lay, name = m.group(1), m.group(2)
        else:
            m = re.search(r"/([^/]+)\.p/(.*)\.c\.o$", val)
            if not m or m.group(1) != "brokerd":
                cur = None
                continue
            lay, name = "main", m.group(2)
        name = name.replace("_", "/")
        cur = name
        layer[cur] = lay
        uses.setdefault(cur, set())
    elif cur is None:
        continue
    elif kind == "D":
        defs[val] = cur
    else:
        uses[cur].add(val)
edges = {f: sorted({defs[s] for s in u if s in defs and defs[s] != f}) for f, u in uses.items()}
# Tarjan
index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        comps.append(sorted(c))
for v in sorted(edges):
    if v not in index:
        visit(v)
big = max(comps, key=len)
bad = 0
print("files: %d, largest circle: %d%s" % (len(edges), len(big), (": " + " ".join(big)) if len(big) > 1 else ""))
for c in comps:
    if 1 < len(c) and c is not big:
        print("other circle: %s" % " ".join(c))
for f in sorted(edges):
    for t in edges[f]:
        if rank[layer[t]] > rank[layer[f]] or (rank[layer[t]] == rank[layer[f]] and layer[t] != layer[f]):
            syms = sorted(s for s in uses[f] if defs.get(s) == t)
            print("upward call: %s (%s) -> %s (%s): %s" % (f, layer[f], t, layer[t], " ".join(syms)))
            bad = 1
if len(big) > maxc:
    print("a circle of more than %d files" % maxc)
    bad = 1
sys.exit(bad)
' "$max"
