#!/bin/sh
# The whole test suite, as CI runs it:
#   1. a normal build and every suite (unit, end-to-end, systemd, TLS);
#   2. the same suites built with ASan and UBSan;
#   3. each fuzzer for a bounded time, under ASan (when the fuzz suite exists);
# then one line: "N passed, N failed".  Installs missing packages first.
# Environment: BROKER_TEST_QUICK=1 skips 2 and 3 (for a fast local loop).
set -u
cd "$(dirname "$0")/.."
sh tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=""
run_build() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${BROKER_TEST_SUITES:-}
	logs="$logs $dir/meson-logs/testlog.json"
}

status=0
run_build build-test || status=1
if [ "${BROKER_TEST_QUICK:-0}" != 1 ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false || status=1
	# Make sure each expected log exists even if a build failed.
	case "$logs" in *build-asan*) ;; *) logs="$logs build-asan/meson-logs/testlog.json" ;; esac
fi
case "$logs" in *build-test/*) ;; *) logs="build-test/meson-logs/testlog.json $logs" ;; esac
python3 tools/count-tests.py $logs || status=1
exit $status
