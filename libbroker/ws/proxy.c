/* SPDX-License-Identifier: MIT */
/* An HTTP proxy: CONNECT host:port (RFC 9110 section 9.3.6) with Basic
 * Proxy-Authorization, on the handle's fd, reading the answer's head and
 * not a byte more (what follows is the tunnel). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int ws_proxy_connect(broker_ws *w, int fd, const char *host, const char *port, uint64_t deadline)
{
	w->fd = fd;
	const char *v6 = strchr(host, ':') ? "[" : "", *v6end = *v6 ? "]" : "";
	char *auth = w->proxy_user ? ws_basic_auth(w->proxy_user, w->proxy_password) : NULL;
	if (w->proxy_user && !auth)
		return ws_fail(w, BROKER_TLS_UNKNOWN, -ENOMEM, "out of memory");
	char req[1024 + 2 * 256];
	int n = snprintf(req, sizeof(req),
			 "CONNECT %s%s%s:%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n%s%s%s\r\n",
			 v6, host, v6end, port, v6, host, v6end, port,
			 auth ? "Proxy-Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (n < 0 || (size_t)n >= sizeof(req)) {
		explicit_bzero(req, sizeof(req));
		return ws_fail(w, BROKER_TLS_UNKNOWN, -ENAMETOOLONG, "the CONNECT request is too long");
	}
	int r = ws_io_write_all(w, req, (size_t)n, deadline);
	explicit_bzero(req, sizeof(req));
	if (r < 0) {
		enum broker_tls_status s = ws_status_from_errno(r);
		return ws_fail(w, s, r, "sending CONNECT to the proxy: %s", strerror(-r));
	}
	char head[WS_MAX_HEAD];
	ssize_t len = ws_io_read_head(w, head, deadline);
	if (len < 0) {
		enum broker_tls_status s = len == -EMSGSIZE ? BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED
							    : ws_status_from_errno((int)len);
		return ws_fail(w, s, len == -EMSGSIZE ? -EPROTO : (int)len,
			       "the proxy's answer to CONNECT: %s",
			       len == -EMSGSIZE ? "longer than 8 KiB" : strerror((int)-len));
	}
	struct ws_response resp;
	const char *why;
	if (ws_parse_response(head, (size_t)len, &resp, &why) < 0)
		return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO,
			       "the proxy's answer to CONNECT: %s", why);
	w->info.proxy_status = resp.status;
	if (resp.status >= 200 && resp.status < 300)
		return 0;
	if (resp.status == 407 || resp.status == 401)
		/* tinyproxy answers wrong credentials with 401. */
		return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EACCES,
			       w->proxy_user ? "the proxy refused the credentials (%d)"
					     : "the proxy wants credentials (%d)", resp.status);
	if (resp.status >= 500)
		/* 502, 503, 504: the proxy could not reach the server. */
		return ws_fail(w, BROKER_TLS_CONNECTION_REFUSED, -ECONNREFUSED,
			       "the proxy could not connect to %s port %s (%d)", host, port, resp.status);
	return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO,
		       "the proxy refused CONNECT (%d)", resp.status);
}
