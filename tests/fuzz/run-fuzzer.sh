#!/bin/sh
# Run one libFuzzer target for a bounded time on a copy of its seed corpus
# and print one TAP result: the executions and time, or the crash.
#   run-fuzzer.sh TARGET SEED_DIR ARTIFACT_DIR [DICT]
# BROKER_FUZZ_SECONDS (default 60) bounds the run.
set -u
target=$1 seeds=$2 artifacts=$3 dict=${4:-}
secs=${BROKER_FUZZ_SECONDS:-60}
name=$(basename "$target")
work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp "$seeds"/* "$work/corpus/" 2>/dev/null
set -- -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$artifacts/$name-"
[ -n "$dict" ] && [ -f "$dict" ] && set -- "$@" -dict="$dict"
"$target" "$@" "$work/corpus" >"$work/log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "1..1"
if [ "$rc" = 0 ]; then
	echo "ok 1 - $name: ${execs:-?} executions in $secs s, corpus $(ls "$work/corpus" | wc -l) inputs"
else
	echo "not ok 1 - $name: exit $rc after ${execs:-?} executions; crash input in $artifacts"
	sed 's/^/# /' "$work/log" | tail -60
fi
exit "$rc"
