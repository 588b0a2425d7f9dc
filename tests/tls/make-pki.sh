#!/bin/sh
# Create a throw-away test PKI in DIR with certtool: a CA, server
# certificates (good, for another host name, expired, self-signed) and a
# client certificate.  ECDSA keys, so it takes milliseconds.  Nothing here is
# secret or committed: every test run makes its own.
#   make-pki.sh DIR
set -eu
dir=$1
cd "$dir"

key() { certtool --generate-privkey --key-type=ecdsa --outfile "$1.key" 2>/dev/null; }

# name, template lines...
template() {
	out=$1
	shift
	printf '%s\n' "$@" >"$out.tmpl"
}

key ca
template ca 'cn = "socket-broker test CA"' 'organization = "socket-broker tests"' \
	'ca' 'cert_signing_key' 'expiration_days = 30'
certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.pem 2>/dev/null

server_lines='tls_www_server
signing_key
encryption_key'

# signed NAME by CA, with template lines
signed() {
	name=$1
	shift
	key "$name"
	template "$name" "$@"
	certtool --generate-certificate --load-privkey "$name.key" --load-ca-certificate ca.pem \
		--load-ca-privkey ca.key --template "$name.tmpl" --outfile "$name.pem" 2>/dev/null
}

signed server 'cn = "localhost"' 'organization = "socket-broker tests"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'ip_address = "::1"' 'expiration_days = 30' "$server_lines"
signed wrong 'cn = "wrong.example"' 'organization = "socket-broker tests"' 'dns_name = "wrong.example"' \
	'expiration_days = 30' "$server_lines"
signed expired 'cn = "localhost"' 'organization = "socket-broker tests"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'activation_date = "2020-01-01 00:00:00"' \
	'expiration_date = "2020-02-01 00:00:00"' "$server_lines"
signed client 'cn = "push-client test"' 'organization = "socket-broker tests"' 'tls_www_client' \
	'signing_key' 'expiration_days = 30'

key selfsigned
template selfsigned 'cn = "localhost"' 'organization = "nobody trusts me"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' 'expiration_days = 30' "$server_lines"
certtool --generate-self-signed --load-privkey selfsigned.key --template selfsigned.tmpl \
	--outfile selfsigned.pem 2>/dev/null

# A second, unrelated CA and a client certificate from it, which servers
# that trust only ca.pem must refuse.
key otherca
template otherca 'cn = "unrelated CA"' 'ca' 'cert_signing_key' 'expiration_days = 30'
certtool --generate-self-signed --load-privkey otherca.key --template otherca.tmpl --outfile otherca.pem 2>/dev/null
key stranger
template stranger 'cn = "stranger"' 'tls_www_client' 'signing_key' 'expiration_days = 30'
certtool --generate-certificate --load-privkey stranger.key --load-ca-certificate otherca.pem \
	--load-ca-privkey otherca.key --template stranger.tmpl --outfile stranger.pem 2>/dev/null
