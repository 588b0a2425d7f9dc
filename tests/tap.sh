# TAP for the shell test scripts (sourced): numbered results with
# diagnostics, and the plan at the end.
#   ok STATUS DESCRIPTION [DIAGNOSTIC]   a result: STATUS 0 passes
#   check DESCRIPTION COMMAND...         passes if COMMAND succeeds
#   tap_done                             the plan; exits 1 if anything failed
tap_n=0
tap_failed=0
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
	return 0
}
check() {
	tap_what=$1
	shift
	tap_out=$("$@" 2>&1)
	ok $? "$tap_what" "$tap_out"
}
tap_done() {
	echo "1..$tap_n"
	[ $tap_failed = 0 ]
	exit
}
