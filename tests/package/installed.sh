#!/bin/sh
# Inside the systemd suite's namespaces (ns-run.sh, as root, a user manager
# running): install the packages that test-package.sh built for real, over
# a tmpfs overlay of /usr, /etc and /var/lib, and check what the maintainer
# scripts did; then hand the installed user units to the manager and run
# cycle.py.  Prints TAP (twice numbered: test-package.sh numbers it again).
#   installed.sh WORK_DIR
set -u
work=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# Writes go to tmpfs layers that vanish with the mount namespace.
layers=$SDTEST_DIR/overlay
for d in /usr /etc /var/lib /var/cache; do
	l=$layers$d
	mkdir -p "$l/upper" "$l/work"
	mount -t overlay overlay -o "lowerdir=$d,upperdir=$l/upper,workdir=$l/work" "$d" ||
		{ ok 1 "overlay on $d"; exit 1; }
done
# As in any chroot: the maintainer scripts must not start system units (no
# system manager runs here).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

debs=""
for p in socket-broker libbroker1 libbroker-dev libbroker-tls1 libbroker-tls-dev libbroker-ws1 libbroker-ws-dev python3-socketbroker; do
	debs="$debs $(ls "$work"/${p}_*.deb)"
done
# SYSTEMD_UNIT_PATH is the test manager's; systemctl preset (which
# deb-systemd-helper runs where /run/systemd/system exists) must see the
# machine's unit directories.
# shellcheck disable=SC2086
out=$(env -u SYSTEMD_UNIT_PATH DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -i $debs 2>&1)
rc=$?
ok $rc "dpkg -i installs the eight packages" "$out"
[ $rc = 0 ] || tap_done
rm -f /usr/sbin/policy-rc.d

# What the maintainer scripts did
out=$(getent passwd socket-broker)
ok $? "the socket-broker user exists" "$out"
post=/var/lib/dpkg/info/socket-broker.postinst
first_user=$(grep -n 'systemd-sysusers' "$post" | head -1 | cut -d: -f1)
first_start=$(grep -n 'deb-systemd-invoke' "$post" | head -1 | cut -d: -f1)
ok "$([ -n "$first_user" ] && [ -n "$first_start" ] && [ "$first_user" -lt "$first_start" ]; echo $?)" \
	"postinst creates the user (line $first_user) before it starts anything (line $first_start)"
ok "$([ "$(readlink /etc/systemd/system/sockets.target.wants/brokerd.socket)" = /lib/systemd/system/brokerd.socket ]; echo $?)" \
	"the system brokerd.socket is enabled"
out=$(find /etc/systemd/system -name 'brokerd.service' 2>&1)
ok "$([ -z "$out" ]; echo $?)" "brokerd.service is not (it starts on the first connection)" "$out"
out=$(find /etc/systemd/user -name 'brokerd.*' 2>&1)
ok "$([ -z "$out" ]; echo $?)" "the user units are not enabled for every user" "$out"

# One version everywhere
v=$(dpkg-query -W -f='${Version}' socket-broker)
v=${v%-*}
out="brokerd: $(/usr/sbin/brokerd --version); brokerctl: $(brokerctl --version);"
out="$out pc: $(pkg-config --modversion libbroker) $(pkg-config --modversion libbroker-tls)"
ok "$([ "$out" = "brokerd: brokerd $v; brokerctl: brokerctl $v; pc: $v $v" ]; echo $?)" \
	"brokerd, brokerctl and the .pc files all say $v, as the package does" "$out"

# The packages' own autopkgtests (debian/tests): an app built against the
# -dev packages, and brokerd started by hand.
for t in build brokerd; do
	mkdir -p "$SDTEST_DIR/autopkgtest-$t"
	out=$(AUTOPKGTEST_TMP="$SDTEST_DIR/autopkgtest-$t" timeout 60 "$here/../../debian/tests/$t" 2>&1)
	ok $? "autopkgtest $t" "$out"
done
if command -v man >/dev/null; then
	out=$(MANWIDTH=80 man broker_transfer 2>&1 | head -5)
	ok "$(echo "$out" | grep -q '^ *libbroker  *- '; echo $?)" "man broker_transfer opens libbroker(3)" "$out"
	out=$(MANWIDTH=80 man broker_tls_connect 2>&1 | head -5)
	ok "$(echo "$out" | grep -q '^ *libbroker-tls  *- '; echo $?)" "man broker_tls_connect opens libbroker-tls(3)" "$out"
	out=$(MANWIDTH=80 man 5 brokerd.conf 2>&1 | head -5)
	ok "$(echo "$out" | grep -q '^ *brokerd.conf  *- '; echo $?)" "man brokerd.conf opens brokerd.conf(5)" "$out"
fi
if dpkg -L python3-socketbroker | grep -q 'dist-packages/socketbroker'; then
	out=$(cd / && python3 -c 'import socketbroker; print(socketbroker.__file__)' 2>&1)
	ok "$(echo "$out" | grep -q '^/usr/lib/python3/dist-packages/socketbroker'; echo $?)" \
		"python3 -c 'import socketbroker' finds the packaged module" "$out"
else
	ok 0 "python3 -c 'import socketbroker' # SKIP python3-socketbroker is empty: no Python module in this tree yet"
fi

# What the cli branch adds, once it is in the tree: completions, catalog.
comp=/usr/share/bash-completion/completions/brokerctl
if dpkg -L socket-broker | grep -qx "$comp"; then
	out=$(bash -c ". $comp && complete -p brokerctl" 2>&1)
	ok "$(echo "$out" | grep -q 'brokerctl$'; echo $?)" "the packaged bash completion completes brokerctl" "$out"
fi
cat=/usr/lib/systemd/catalog/socket-broker.catalog
if dpkg -L socket-broker | grep -qx "$cat"; then
	id=$(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$cat" | head -1)
	out=$(journalctl --update-catalog 2>&1 && journalctl --list-catalog 2>&1 | grep -i "^$id")
	ok $? "the packaged journal catalog explains MESSAGE_ID=$id" "$out"
fi

# The installed user units and the installed example's units, linked into
# the manager's unit directory as they are, plus what a test needs: no
# default dependencies (no basic.target here) and no start limits.
units=$SDTEST_UNITS
for u in /usr/lib/systemd/user/brokerd.socket /usr/lib/systemd/user/brokerd.service \
	/usr/share/doc/socket-broker/examples/user/push-client-wake.socket \
	/usr/share/doc/socket-broker/examples/user/push-client.service; do
	ln -s "$u" "$units/"
	mkdir -p "$units/$(basename "$u").d"
	printf '[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n' >"$units/$(basename "$u").d/test.conf"
done
mkdir -p "$XDG_CONFIG_HOME/socket-broker/apps.d"
cat >"$XDG_CONFIG_HOME/socket-broker/apps.d/org.example.push.conf" <<-CONF
	[app]
	id = org.example.push
	user = root
	capabilities = privateNetworkClientServer
	[activation]
	method = wake-socket
	socket = $XDG_RUNTIME_DIR/socket-broker/wake/org.example.push
	CONF
out=$(systemctl --user daemon-reload 2>&1 && systemctl --user start brokerd.socket push-client-wake.socket 2>&1)
ok $? "the user manager starts the installed brokerd.socket and the example's wake socket" "$out"

echo "1..$tap_n"
timeout 90 python3 "$here/cycle.py" && [ $tap_failed = 0 ]
