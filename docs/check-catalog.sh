#!/bin/sh
# The journal catalog: journalctl compiles it (into a scratch root, never the
# machine's database), and it explains every MESSAGE_ID that log.h defines,
# each once.  Prints TAP.  Usage: check-catalog.sh CATALOG LOG_H
set -u
catalog=$1
header=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/"
ids=$(sed -n 's/^#define MSGID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$header")
echo "1..$(($(echo "$ids" | wc -l) + 1))"
status=0
if out=$(journalctl --root="$root" --update-catalog 2>&1) && [ -z "$out" ]; then
	echo "ok 1 - journalctl --update-catalog takes the catalog without a complaint"
else
	echo "not ok 1 - journalctl --update-catalog"
	echo "$out" | sed 's/^/# /'
	status=1
fi
listed=$(journalctl --root="$root" --list-catalog 2>&1)
n=1
for id in $ids; do
	n=$((n + 1))
	if [ "$(echo "$listed" | grep -c "^$id socket-broker: ")" = 1 ] &&
		[ "$(grep -c "^-- $id\$" "$catalog")" = 1 ]; then
		echo "ok $n - $id is explained once"
	else
		echo "not ok $n - $id is not in the catalog exactly once"
		status=1
	fi
done
exit $status
