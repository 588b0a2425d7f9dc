#!/bin/sh
# The benchmarks: brokerd against its floors and peers, all measured in the
# same run, so that every figure is a ratio a noisy machine cannot fake.
#   tools/bench.sh [--quick] [OUTDIR]        (OUTDIR: bench-out/DATE-TIME)
# Builds a release build in build-bench/, runs every scenario of
# tests/bench (broker-bench), the systemd one inside the systemd suite's
# namespace harness with a real user manager (root only; never a system
# manager),
# then prints the table and leaves in OUTDIR: results.csv, summary.md,
# machine.txt, *.dat (samples), *.png (plots), callgrind-*.txt (profiles).
# Not a test: nothing here fails on a missed target.  --quick is a smoke run
# (fewer samples and sockets); its figures are not the ones to publish.
# BENCH_BROKERD=PATH measures another brokerd build (say, main's) with the
# same benchmark, apps and peers: that is how before/after figures are made.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
quick=""
if [ "${1:-}" = "--quick" ]; then
	quick=--quick
	shift
fi
out=${1:-bench-out/$(date +%Y%m%d-%H%M%S)}
case "$out" in /*) ;; *) out=$top/$out ;; esac

sh tools/deps.sh
mkdir -p "$out"
rm -f "$out/results.csv"
if [ ! -f build-bench/build.ninja ]; then
	meson setup build-bench --buildtype=release -Dtests=false -Dbenchmarks=true \
		>"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
fi
ninja -C build-bench >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
{
	echo "kernel: $(uname -srm)"
	echo "cpus: $(nproc) x $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
	echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "brokerd: ${BENCH_BROKERD:-this tree's}"
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$out/machine.txt"

bench=$top/build-bench/tests/bench/broker-bench
"$bench" --out "$out" $quick handoff activation frozen keeper wss memory idle storm upgrade callgrind

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -x /lib/systemd/systemd ]; then
	sh tests/systemd/ns-run.sh sh "$top/tests/bench/systemd-bench.sh" "$top/build-bench" "$out" $quick \
		>"$out/systemd.log" 2>&1 || echo "broker-bench: the systemd scenario failed; see $out/systemd.log" >&2
	grep '^broker-bench:' "$out/systemd.log" >&2 || true
else
	echo "broker-bench: systemd scenario skipped (needs root, unshare and /lib/systemd/systemd)" >&2
fi

(cd "$out" && gnuplot "$top/tests/bench/plots.gp") || echo "broker-bench: no plots (gnuplot failed)" >&2
echo
cat "$out/machine.txt"
echo
"$bench" --out "$out" report
echo
echo "results: $out"
