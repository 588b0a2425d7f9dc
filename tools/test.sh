#!/bin/sh
# The whole test suite, as CI runs it:
#   1. a normal build and every suite (unit, end-to-end, systemd, TLS, and
#      package: the install layout, and the Debian packages built, checked
#      with lintian, installed and run);
#   2. the same suites built with ASan and UBSan;
#   3. each fuzzer for a bounded time (BROKER_FUZZ_SECONDS, default 60),
#      under ASan and UBSan, in a clang build;
#   4. the end-to-end and security scenarios again with brokerd under
#      valgrind memcheck (any error or definite leak fails them);
# then one line: "N passed, N failed".  Installs missing packages first.
# Environment: BROKER_TEST_QUICK=1 skips 2, 3 and 4 (for a fast local loop).
set -u
cd "$(dirname "$0")/.."
# The distribution's tools first: the tests use Debian's python3 and the
# Python packages apt installs for it, not a user's pyenv or virtualenv.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
sh tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=""
# run_build DIR [MESON_SETUP_ARGS...]; SETUP_CC picks the compiler and
# TEST_ARGS the tests (default: $BROKER_TEST_SUITES, else all).
run_build() {
	dir=$1
	shift
	# A build that fails must not leave the last run's results to be counted.
	rm -f "$dir/meson-logs/testlog.json" "$dir/meson-logs/testlog.txt"
	if [ ! -f "$dir/build.ninja" ]; then
		env ${SETUP_CC:+CC=$SETUP_CC} meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${TEST_ARGS:-${BROKER_TEST_SUITES:-}}
	logs="$logs $dir/meson-logs/testlog.json"
}

status=0
run_build build-test || status=1
if [ "${BROKER_TEST_QUICK:-0}" != 1 ]; then
	# The package suite builds its own packages: once, in the normal pass, is enough.
	TEST_ARGS="${BROKER_TEST_SUITES:-} --no-suite package"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false || status=1
	unset TEST_ARGS
	# Make sure each expected log exists even if a build failed.
	case "$logs" in *build-asan*) ;; *) logs="$logs build-asan/meson-logs/testlog.json" ;; esac

	SETUP_CC=clang-14
	TEST_ARGS="--suite fuzz"
	run_build build-fuzz -Dfuzzers=true -Dtests=false -Dbenchmarks=false \
		-Db_sanitize=address,undefined -Db_lundef=false || status=1
	unset SETUP_CC TEST_ARGS
	case "$logs" in *build-fuzz*) ;; *) logs="$logs build-fuzz/meson-logs/testlog.json" ;; esac
	grep -h '^\(not \)\?ok 1 - fuzz-' build-fuzz/meson-logs/testlog.txt 2>/dev/null

	rm -f build-test/meson-logs/testlog-valgrind.json
	if [ -f build-test/build.ninja ]; then
		BROKER_TEST_VALGRIND=1 meson test -C build-test --print-errorlogs --num-processes 2 \
			--timeout-multiplier 4 --logbase testlog-valgrind --suite e2e --suite security || status=1
	fi
	logs="$logs build-test/meson-logs/testlog-valgrind.json"
fi
case "$logs" in *build-test/meson-logs/testlog.json*) ;; *) logs="build-test/meson-logs/testlog.json $logs" ;; esac
python3 tools/count-tests.py $logs || status=1
exit $status
