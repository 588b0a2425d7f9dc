#!/bin/sh
# tinyproxy for the ws suites: tinyproxy.sh PORT USER PASSWORD CONF
# Writes its configuration to CONF (the caller removes it) and becomes
# tinyproxy on 127.0.0.1:PORT, in the foreground, asking for Basic
# credentials (BasicAuth) and allowing CONNECT to any port.
set -eu
{
	echo "Port $1"
	echo "Listen 127.0.0.1"
	echo "Timeout 60"
	echo "MaxClients 20"
	echo "Allow 127.0.0.1"
	echo "BasicAuth $2 $3"
	echo "LogLevel Info"
	if [ "$(id -u)" = 0 ]; then
		echo "User nobody"
		echo "Group nogroup"
	fi
} >"$4"
exec tinyproxy -d -c "$4"
