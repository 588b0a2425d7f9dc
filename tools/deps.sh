#!/bin/sh
# Install the Debian 12 packages socket-broker needs to build, test and
# benchmark, if any are missing.  Runs apt-get update once, only when needed.
set -eu

PACKAGES="
meson ninja-build pkg-config gcc libc6-dev libsmartcols-dev python3 python3-dev mypy
libev-dev libsystemd-dev libinih-dev libjson-c-dev libgnutls28-dev nettle-dev libwslay-dev check
systemd dbus dbus-daemon util-linux procps iproute2 zsh
gnutls-bin openssl socat softhsm2 groff-base
clang-14 libclang-rt-14-dev valgrind
s6 libs6-dev skalibs-dev hyperfine gnuplot-nox strace
lighttpd python3-gunicorn python3-websockets tinyproxy
build-essential dpkg-dev debhelper dh-python lintian python3 python3-dev libsmartcols-dev man-db
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
echo "socket-broker: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
