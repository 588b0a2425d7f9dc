#!/bin/sh
# Put the client certificate and key that make-pki.sh made in DIR into a
# SoftHSM token (a software PKCS#11 module, found through p11-kit), token
# label "broker-test", user PIN 1234.  Callers set SOFTHSM2_CONF to
# DIR/softhsm2.conf, so the token lives in DIR only.
#   make-token.sh DIR
set -eu
dir=$1
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" \
	>"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf" GNUTLS_PIN=1234 GNUTLS_SO_PIN=5678
softhsm2-util --init-token --free --label broker-test --pin 1234 --so-pin 5678 >/dev/null
p11tool --login --write --label client --load-privkey "$dir/client.key" "pkcs11:token=broker-test" >/dev/null
p11tool --login --write --label client --load-certificate "$dir/client.pem" "pkcs11:token=broker-test" >/dev/null
