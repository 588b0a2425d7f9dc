#!/bin/sh
# The install layout, checked on a DESTDIR install of this build: headers
# under include/socket-broker/, .pc files that agree with brokerd --version,
# an uninstalled .pc without private directories, units and sysusers.d
# under the prefix, apps.d and a commented brokerd.conf that brokerd
# accepts, the docs the man pages cite, and a man page link for every
# function the libraries export.  Prints TAP.
#   check-install.sh SOURCE_ROOT BUILD_ROOT
set -u
src=$1
build=$2
. "$(dirname "$0")/../tap.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
work=$tmp/work
mkdir "$work"
prefix=$(meson introspect --buildoptions "$build" |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
check "meson install into a DESTDIR" meson install -C "$build" --destdir "$dest" --no-rebuild --quiet
root=$dest$prefix
libdir=$(dirname "$(find "$root" -name libbroker.pc)")
libdir=${libdir%/pkgconfig}

# Headers
check "the headers are in include/socket-broker/" \
	test -f "$root/include/socket-broker/broker.h" -a -f "$root/include/socket-broker/broker-tls.h"
out=$(find "$root/include" -mindepth 1 -maxdepth 1 ! -name socket-broker)
ok "$([ -z "$out" ]; echo $?)" "nothing else in include/" "$out"

# An app built against the installed tree, the way its author builds it.
cat >"$work/app.c" <<-'APP'
	#include <stdio.h>
	#include <socket-broker/broker.h>
	#include <socket-broker/broker-tls.h>
	int main(void)
	{
		printf("%s %s\n", broker_reason_name(BROKER_REASON_SOCKET_ACTIVITY),
		       broker_tls_level_name(BROKER_TLS_LEVEL_TLS13));
		return 0;
	}
	APP
pc() { PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config "$@"; }
# shellcheck disable=SC2046
check "an app includes <socket-broker/broker.h> and links with pkg-config libbroker-tls" \
	cc -o "$work/app" "$work/app.c" $(pc --cflags --libs libbroker-tls)
out=$(LD_LIBRARY_PATH="$libdir" "$work/app" 2>&1)
ok "$([ "$out" = "socket-activity tls13" ]; echo $?)" "and it runs against the installed libraries" "$out"
out=$(sed -n 's/^Cflags: //p' "$libdir"/pkgconfig/libbroker.pc "$libdir"/pkgconfig/libbroker-tls.pc | sort -u)
ok "$([ "$out" = '-I${includedir}' ]; echo $?)" "the .pc files add only includedir" "$out"

# One version
bv=$("$root/sbin/brokerd" --version 2>&1)
pv=$(pc --modversion libbroker libbroker-tls | sort -u | tr '\n' ' ')
ok "$([ "$bv" = "brokerd $version" ] && [ "$pv" = "$version " ]; echo $?)" \
	"brokerd --version and both .pc files say $version" "brokerd: $bv; pc: $pv"
dv=$(sed -n '1s/^socket-broker (\([^-)]*\).*/\1/p' "$src/debian/changelog" 2>/dev/null)
ok "$([ "$dv" = "$version" ]; echo $?)" "debian/changelog's upstream version is $version" "debian/changelog: $dv"

# The uninstalled .pc: the public include directory, and meson's own entry
# for each library's directory (it always adds that), nothing else.
bad=""
for f in "$build"/meson-uninstalled/libbroker*-uninstalled.pc; do
	for flag in $(sed -n 's/^Cflags: //p' "$f"); do
		case $flag in
		'-I${prefix}/include' | '-I${srcdir}/include' | '-I${prefix}/libbroker' | '-I${srcdir}/libbroker' | \
			'-I${prefix}/libbroker/tls' | '-I${srcdir}/libbroker/tls' | \
			'-I${prefix}/libbroker/ws' | '-I${srcdir}/libbroker/ws') ;;
		*) bad="$bad $(basename "$f"): $flag" ;;
		esac
	done
done
ok "$([ -z "$bad" ]; echo $?)" "the uninstalled .pc files add no other include directory" "$bad"

# Units and sysusers.d follow the prefix.
if [ "$prefix" != /usr ]; then
	out=$(cd "$dest" && find . ! -type d | grep -v "^.$prefix/")
	ok "$([ -z "$out" ]; echo $?)" "with prefix $prefix nothing is installed outside it" "$out"
fi
out=$(cd "$dest" && find . -path '*/systemd/system/brokerd.*' -o -path '*/systemd/user/brokerd.*' -o -path '*/sysusers.d/socket-broker.conf' | sort)
ok "$([ "$(echo "$out" | wc -l)" = 5 ]; echo $?)" "system and user units and sysusers.d are installed" "$out"
out=$(find "$dest" -name brokerd.service -exec grep -h '^ExecStart=' {} + | sort -u)
ok "$([ "$(echo "$out" | grep -c "^ExecStart=$prefix/sbin/brokerd --")" = 2 ]; echo $?)" \
	"the units start $prefix/sbin/brokerd" "$out"

# Configuration
etc=$(meson introspect --buildoptions "$build" |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "sysconfdir"))')
case $etc in /*) ;; *) etc=$prefix/$etc ;; esac
conf=$dest$etc/socket-broker/brokerd.conf
apps=$dest$etc/socket-broker/apps.d
out=$(ls -A "$apps" 2>&1)
ok "$([ -d "$apps" ] && [ -z "$out" ]; echo $?)" "an empty apps.d is installed" "$out"
out=$(grep -v '^#' "$conf" | grep -v '^\[[a-z]*\]$' | grep -v '^$')
ok "$([ -f "$conf" ] && [ -z "$out" ]; echo $?)" "brokerd.conf is installed with every key commented out" "$out"
check "brokerd --check accepts it" "$root/sbin/brokerd" --check --config "$conf" --apps-dir "$apps"
sed -e 's/^#\([a-z-]* = \)/\1/' -e 's/^admin-group = .*/admin-group = root/' "$conf" >"$work/uncommented.conf"
keys=$(grep -c '^[a-z-]* = ' "$work/uncommented.conf")
check "and every one of its $keys keys, uncommented" "$root/sbin/brokerd" --check --config "$work/uncommented.conf" --apps-dir "$apps"

# Man pages and what they cite
man=$root/share/man
for page in "$src"/docs/man/*.[0-9]; do
	p=$(basename "$page")
	test -f "$man/man${p##*.}/$p" || out="$out $p"
done
ok "$([ -z "${out:-}" ]; echo $?)" "every man page is installed" "missing:${out:-}"
missing=""
for doc in $(cat "$man"/man*/*.[0-9] | grep -o '/usr/share/doc/socket\\-broker/[a-z.]*' | sed 's/\\//g' | sort -u); do
	test -f "$root/share/doc/socket-broker/$(basename "$doc")" || missing="$missing $doc"
done
ok "$([ -z "$missing" ]; echo $?)" "every document the man pages cite is installed" "missing:$missing"
bad=""
exported=""
for lib in libbroker libbroker-tls libbroker-ws; do
	for f in $(nm -D --defined-only "$libdir/$lib.so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }'); do
		exported="$exported $f.3"
		link=$man/man3/$f.3
		if [ ! -L "$link" ] || [ "$(readlink "$link")" != "$lib.3" ]; then
			bad="$bad $f(no link to $lib.3)"
		elif ! sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$man/man3/$lib.3" | grep -q "[ *]$f("; then
			bad="$bad $f(not in the SYNOPSIS of $lib.3)"
		fi
	done
done
for link in "$man"/man3/*.3; do
	[ -L "$link" ] || continue
	case "$exported " in *" $(basename "$link") "*) ;; *) bad="$bad $(basename "$link")(no such function)" ;; esac
done
ok "$([ -z "$bad" ] && [ -n "$exported" ]; echo $?)" \
	"a man page link for each of the $(echo $exported | wc -w) exported functions, and for nothing else" "$bad"
if command -v man >/dev/null; then
	out=$(MANPATH="$man" MANWIDTH=80 man broker_transfer 2>&1 | head -5)
	ok "$(echo "$out" | grep -q '^ *libbroker  *- '; echo $?)" "man broker_transfer opens libbroker(3)" "$out"
fi

# What other parts of the tree may add
for f in tools/completion/brokerctl.bash:bash-completion/completions/brokerctl \
	tools/completion/_brokerctl:zsh/*/_brokerctl docs/catalog/socket-broker.catalog:../lib/systemd/catalog/socket-broker.catalog; do
	[ -f "$src/${f%%:*}" ] || continue
	# shellcheck disable=SC2086
	check "$(basename "${f%%:*}") is installed" test -f $root/share/${f#*:}
done

tap_done
