/* SPDX-License-Identifier: MIT */
/* broker_ws_connect(): the URL, the way to the server (TCP, a proxy's
 * tunnel, TLS in this process or in the keeper), and the opening handshake
 * over it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nettle/base64.h>

#include "ws.h"
#include "../util.h"

#define WS_MAX_URL 2048

struct ws_url {
	bool secure;
	char host[256];
	char port[8];
	const char *path;   /* into the URL; "" means "/" */
};

static bool url_char(unsigned char c)
{
	/* RFC 3986 unreserved, sub-delims, ':', '@', '/', '?', '%'; no '#'. */
	return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}#", c);
}

static int parse_url(const char *url, struct ws_url *u)
{
	size_t len = strnlen(url, WS_MAX_URL + 1);
	if (len > WS_MAX_URL)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!url_char((unsigned char)url[i]))
			return -EINVAL;
	const char *p;
	if (strncmp(url, "ws://", 5) == 0)
		p = url + 5, u->secure = false;
	else if (strncmp(url, "wss://", 6) == 0)
		p = url + 6, u->secure = true;
	else
		return -EINVAL;
	const char *end = p + strcspn(p, "/?");
	u->path = end;
	const char *hend;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			return -EINVAL;
		hend = rb + 1;
		p++;
		if ((size_t)(rb - p) >= sizeof(u->host) || rb == p)
			return -EINVAL;
		memcpy(u->host, p, (size_t)(rb - p));
		u->host[rb - p] = 0;
	} else {
		hend = memchr(p, ':', (size_t)(end - p));
		if (!hend)
			hend = end;
		if ((size_t)(hend - p) >= sizeof(u->host) || hend == p)
			return -EINVAL;
		memcpy(u->host, p, (size_t)(hend - p));
		u->host[hend - p] = 0;
	}
	if (strpbrk(u->host, "@[]"))
		return -EINVAL;   /* no userinfo: credentials are a setting */
	if (hend == end) {
		strcpy(u->port, u->secure ? "443" : "80");
	} else {
		if (*hend != ':' || end - hend < 2 || end - hend > 6)
			return -EINVAL;
		unsigned long n = 0;
		for (const char *q = hend + 1; q < end; q++) {
			if (*q < '0' || *q > '9')
				return -EINVAL;
			n = n * 10 + (unsigned long)(*q - '0');
		}
		if (n == 0 || n > 65535)
			return -EINVAL;
		snprintf(u->port, sizeof(u->port), "%lu", n);
	}
	return 0;
}

/* The upgrade request into req[size]; its length, or -ENAMETOOLONG. */
static int build_request(broker_ws *w, const struct ws_url *u, const char *key, char *req, size_t size)
{
	bool v6 = strchr(u->host, ':');
	bool default_port = strcmp(u->port, u->secure ? "443" : "80") == 0;
	size_t n = 0;
#define ADD(...) do { \
		int k = snprintf(req + n, n < size ? size - n : 0, __VA_ARGS__); \
		if (k < 0 || (n += (size_t)k) >= size) \
			return -ENAMETOOLONG; \
	} while (0)
	ADD("GET %s%s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n", *u->path == '/' ? "" : "/", u->path,
	    v6 ? "[" : "", u->host, v6 ? "]" : "", default_port ? "" : ":", default_port ? "" : u->port);
	ADD("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n", key);
	for (size_t i = 0; i < w->n_protocols; i++)
		ADD("%s%s%s", i ? ", " : "Sec-WebSocket-Protocol: ", w->protocols[i],
		    i + 1 == w->n_protocols ? "\r\n" : "");
	if (w->user) {
		char *auth = ws_basic_auth(w->user, w->password);
		if (!auth)
			return -ENOMEM;
		int k = snprintf(req + n, size - n, "Authorization: %s\r\n", auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (k < 0 || (n += (size_t)k) >= size)
			return -ENAMETOOLONG;
	}
	ADD("\r\n");
#undef ADD
	return (int)n;
}

static int handshake(broker_ws *w, const struct ws_url *u)
{
	uint8_t raw[16];
	char key[WS_KEY_LEN + 1];
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return ws_fail(w, BROKER_TLS_UNKNOWN, -EIO, "getrandom: %m");
	base64_encode_raw(key, sizeof(raw), raw);
	key[WS_KEY_LEN] = 0;
	char req[WS_MAX_URL + 2048];
	int n = build_request(w, u, key, req, sizeof(req));
	if (n < 0)
		return ws_fail(w, BROKER_TLS_UNKNOWN, n, "the upgrade request is too long");
	int r = ws_io_write_all(w, req, (size_t)n, w->deadline_usec);
	explicit_bzero(req, sizeof(req));
	if (r < 0) {
		enum broker_tls_status s = ws_status_from_errno(r);
		return ws_fail(w, s, s == BROKER_TLS_UNKNOWN ? r : broker_tls_status_errno(s),
			       "sending the upgrade request: %s", strerror(-r));
	}
	char head[WS_MAX_HEAD];
	ssize_t len = ws_io_read_head(w, head, w->deadline_usec);
	if (len == -EMSGSIZE)
		return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO,
			       "the server's answer is longer than 8 KiB");
	if (len < 0) {
		enum broker_tls_status s = ws_status_from_errno((int)len);
		return ws_fail(w, s, s == BROKER_TLS_UNKNOWN ? (int)len : broker_tls_status_errno(s),
			       "reading the server's answer: %s", strerror((int)-len));
	}
	struct ws_response resp;
	const char *why;
	if (ws_parse_response(head, (size_t)len, &resp, &why) < 0)
		return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO,
			       "the server's answer: %s", why);
	struct ws_verdict v;
	ws_check_upgrade(&resp, key, w->protocols, w->n_protocols, &v);
	w->info.http_status = v.http_status;
	snprintf(w->protocol, sizeof(w->protocol), "%s", v.protocol);
	snprintf(w->server_protocol, sizeof(w->server_protocol), "%s", v.server_protocol);
	if (v.err < 0)
		return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, v.err, "%s%s%s%s", v.why,
			       *v.server_protocol ? " (the server names \"" : "", v.server_protocol,
			       *v.server_protocol ? "\")" : "");
	return 0;
}

int broker_ws_connect(broker_ws *w, const char *url)
{
	if (!w || !url)
		return -EINVAL;
	if (w->used)
		return -EBUSY;
	struct ws_url u;
	if (parse_url(url, &u) < 0)
		return -EINVAL;
	if (w->user && !u.secure && !(w->cred_flags & BROKER_WS_CREDENTIALS_ALLOW_PLAIN)) {
		snprintf(w->detail, sizeof(w->detail),
			 "credentials go over wss:// only (BROKER_WS_CREDENTIALS_ALLOW_PLAIN to force)");
		return -EPERM;
	}
	w->used = true;
	w->deadline_usec = ws_deadline(w->connect_ms);
	int r = 0, fd = -1;
	if (w->proxy_host) {
		if ((fd = ws_tcp_connect(w, w->proxy_host, w->proxy_service, w->deadline_usec)) < 0)
			return fd;
		if ((r = ws_proxy_connect(w, fd, u.host, u.port, w->deadline_usec)) < 0)
			return r;
	}
	if (u.secure)
		r = ws_tls_start(w, u.host, u.port, fd);
	else if (fd < 0 && (r = ws_tcp_connect(w, u.host, u.port, w->deadline_usec)) >= 0)
		w->fd = r;
	if (r < 0)
		return r;
	if ((r = handshake(w, &u)) < 0)
		return r;
	if ((r = ws_frames_start(w)) < 0)
		return ws_fail(w, BROKER_TLS_UNKNOWN, r, "wslay: %s", strerror(-r));
	w->status = BROKER_TLS_OK;
	w->detail[0] = 0;
	w->deadline_usec = 0;
	return 0;
}
