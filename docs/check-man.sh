#!/bin/sh
# Format each man page with groff's warnings on; a page passes when groff
# says nothing at all.  Prints TAP.  Usage: check-man.sh GROFF PAGE...
groff=$1
shift
echo "1..$#"
n=0
status=0
for page in "$@"; do
	n=$((n + 1))
	out=$("$groff" -man -ww -z "$page" 2>&1)
	if [ -z "$out" ]; then
		echo "ok $n - $(basename "$page")"
	else
		echo "not ok $n - $(basename "$page")"
		echo "$out" | sed 's/^/# /'
		status=1
	fi
done
exit $status
