/* SPDX-License-Identifier: MIT */
/* The network error statuses: names, sentences, retry flags, errnos, and
 * how errno and getaddrinfo errors map onto them.  Nothing here calls
 * GnuTLS: libbroker-ws compiles this file in too. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tls.h"
#include "../util.h"

static const struct {
	const char *name;
	int err;
	bool retry;
	const char *message;
} statuses[] = {
	[BROKER_TLS_OK] = { "ok", 0, false, "The connection is established." },
	[BROKER_TLS_HOST_NOT_FOUND] = { "host-not-found", -ENXIO, true,
		"The host name could not be resolved: it does not exist, or name service is unavailable." },
	[BROKER_TLS_CONNECTION_REFUSED] = { "connection-refused", -ECONNREFUSED, true,
		"The host refused the connection: nothing listens on that port." },
	[BROKER_TLS_TIMED_OUT] = { "timed-out", -ETIMEDOUT, true,
		"The peer did not answer within the timeout." },
	[BROKER_TLS_NETWORK_UNREACHABLE] = { "network-unreachable", -ENETUNREACH, true,
		"There is no route to the host or its network." },
	[BROKER_TLS_CONNECTION_RESET] = { "connection-reset", -ECONNRESET, true,
		"The peer reset or closed the connection unexpectedly." },
	[BROKER_TLS_CERTIFICATE_UNTRUSTED] = { "certificate-untrusted", -EKEYREJECTED, false,
		"The server's certificate is not signed by a trusted authority." },
	[BROKER_TLS_CERTIFICATE_EXPIRED] = { "certificate-expired", -EKEYEXPIRED, false,
		"The server's certificate has expired or is not yet valid." },
	[BROKER_TLS_HOSTNAME_MISMATCH] = { "hostname-mismatch", -EKEYREJECTED, false,
		"The server's certificate was issued for another host name." },
	[BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED] = { "protocol-negotiation-failed", -EPROTO, false,
		"Client and server found no TLS version and cipher they both accept." },
	[BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED] = { "client-certificate-required", -ENOKEY, false,
		"The server requires a client certificate that it accepts; none was sent, or it refused ours." },
	[BROKER_TLS_UNKNOWN] = { "unknown", -EIO, false,
		"An unexpected error ended the connection." },
};

static int valid(int status)
{
	return status >= 0 && (size_t)status < ARRAY_SIZE(statuses) ? status : BROKER_TLS_UNKNOWN;
}

const char *broker_tls_status_name(int status)
{
	return statuses[valid(status)].name;
}

const char *broker_tls_status_message(int status)
{
	return statuses[valid(status)].message;
}

bool broker_tls_status_retry_may_help(int status)
{
	return statuses[valid(status)].retry;
}

int broker_tls_status_errno(int status)
{
	return statuses[valid(status)].err;
}

static const char *const levels[] = {
	[BROKER_TLS_LEVEL_PLAIN] = "plain",
	[BROKER_TLS_LEVEL_TLS] = "tls",
	[BROKER_TLS_LEVEL_TLS13] = "tls13",
};

const char *broker_tls_level_name(int level)
{
	return level >= 0 && (size_t)level < ARRAY_SIZE(levels) ? levels[level] : "unknown";
}

int broker_tls_level_from_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(levels); i++)
		if (strcmp(name, levels[i]) == 0)
			return (int)i;
	return -EINVAL;
}

enum broker_tls_status bt_status_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case ECONNREFUSED:
		return BROKER_TLS_CONNECTION_REFUSED;
	case ETIMEDOUT:
		return BROKER_TLS_TIMED_OUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
		return BROKER_TLS_NETWORK_UNREACHABLE;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case ENETRESET:
		return BROKER_TLS_CONNECTION_RESET;
	default:
		return BROKER_TLS_UNKNOWN;
	}
}

enum broker_tls_status bt_status_from_gai(int gai_err)
{
	switch (gai_err) {
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
	case EAI_AGAIN:       /* the name service did not answer: a retry may */
	case EAI_FAIL:
		return BROKER_TLS_HOST_NOT_FOUND;
	default:
		return BROKER_TLS_UNKNOWN;
	}
}
