/* SPDX-License-Identifier: MIT */
/* The handle: creation, settings, statuses and what it reports. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "../util.h"

/* status.c of libbroker-tls, compiled in here too (it needs no GnuTLS
 * code), so both libraries give the same names and sentences. */
enum broker_tls_status bt_status_from_errno(int err);

int broker_ws_new(enum broker_ws_mode mode, broker_ws **ret)
{
	if (!ret || (mode != BROKER_WS_MESSAGE && mode != BROKER_WS_STREAM))
		return -EINVAL;
	broker_ws *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->mode = mode;
	w->fd = -1;
	w->connect_ms = 30000;
	w->io_ms = -1;
	w->in_tail = &w->in_head;
	w->info.protocol = w->protocol;
	w->info.server_protocol = w->server_protocol;
	*ret = w;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

broker_ws *broker_ws_free(broker_ws *w)
{
	if (!w)
		return NULL;
	ws_close_transport(w);
	free_strv(w->protocols, w->n_protocols);
	free(w->user);
	free_secret(w->password);
	free(w->proxy_host);
	free(w->proxy_service);
	free(w->proxy_user);
	free_secret(w->proxy_password);
	free(w->ca_file);
	free(w);
	return NULL;
}

void ws_close_transport(broker_ws *w)
{
	ws_frames_free(w);
	if (w->tls) {
		ws_tls_free(w->tls);   /* closes its socket */
		w->tls = NULL;
		w->fd = -1;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

int ws_fail(broker_ws *w, enum broker_tls_status status, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->detail, sizeof(w->detail), fmt, ap);
	va_end(ap);
	w->status = status;
	ws_close_transport(w);
	return err;
}

enum broker_tls_status ws_status_from_errno(int err)
{
	return bt_status_from_errno(err);
}

uint64_t ws_deadline(int ms)
{
	return ms >= 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)ms * 1000 : 0;
}

int ws_ms_left(const broker_ws *w, uint64_t deadline)
{
	if (!deadline)
		return -1;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

static int settable(const broker_ws *w)
{
	return !w ? -EINVAL : w->used ? -EBUSY : 0;
}

/* Replace *slot with a copy of s (NULL: none). */
static int set_string(char **slot, const char *s)
{
	char *copy = s ? strdup(s) : NULL;
	if (s && !copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

int broker_ws_set_protocols(broker_ws *w, const char *const *protocols, size_t n)
{
	int r = settable(w);
	if (r < 0)
		return r;
	if (n > BROKER_WS_MAX_PROTOCOLS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!ws_is_token(protocols[i]) || strlen(protocols[i]) >= sizeof(w->protocol))
			return -EINVAL;
	char **v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(protocols[i]))) {
			free_strv(v, i);
			return -ENOMEM;
		}
	free_strv(w->protocols, w->n_protocols);
	w->protocols = v;
	w->n_protocols = n;
	return 0;
}

/* user: no ':' (Basic cannot carry it), no control characters. */
static bool valid_user(const char *s)
{
	for (; *s; s++)
		if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int broker_ws_set_credentials(broker_ws *w, const char *user, const char *password, unsigned flags)
{
	int r = settable(w);
	if (r < 0)
		return r;
	if ((user && !valid_user(user)) || (flags & ~(unsigned)BROKER_WS_CREDENTIALS_ALLOW_PLAIN))
		return -EINVAL;
	if ((r = set_string(&w->user, user)) < 0)
		return r;
	free_secret(w->password);
	w->password = NULL;
	if (user && password && !(w->password = strdup(password)))
		return -ENOMEM;
	w->cred_flags = flags;
	return 0;
}

int broker_ws_set_proxy(broker_ws *w, const char *host, const char *service,
			const char *user, const char *password)
{
	int r = settable(w);
	if (r < 0)
		return r;
	if ((host && (!*host || !service || !*service)) || (user && !valid_user(user)))
		return -EINVAL;
	if ((r = set_string(&w->proxy_host, host)) < 0 ||
	    (r = set_string(&w->proxy_service, host ? service : NULL)) < 0 ||
	    (r = set_string(&w->proxy_user, host ? user : NULL)) < 0)
		return r;
	free_secret(w->proxy_password);
	w->proxy_password = NULL;
	if (host && user && password && !(w->proxy_password = strdup(password)))
		return -ENOMEM;
	return 0;
}

int broker_ws_set_ca_file(broker_ws *w, const char *path)
{
	int r = settable(w);
	return r < 0 ? r : set_string(&w->ca_file, path);
}

int broker_ws_set_holdable(broker_ws *w, bool holdable)
{
	int r = settable(w);
	if (r < 0)
		return r;
	w->holdable = holdable;
	return 0;
}

int broker_ws_set_timeouts(broker_ws *w, int connect_ms, int io_ms)
{
	int r = settable(w);
	if (r < 0)
		return r;
	w->connect_ms = connect_ms < 0 ? -1 : connect_ms;
	w->io_ms = io_ms < 0 ? -1 : io_ms;
	return 0;
}

int broker_ws_set_nonblocking(broker_ws *w, bool nonblocking)
{
	if (!w)
		return -EINVAL;
	w->nonblocking = nonblocking;
	return 0;
}

enum broker_tls_status broker_ws_get_status(const broker_ws *w)
{
	return w ? w->status : BROKER_TLS_UNKNOWN;
}

const char *broker_ws_get_detail(const broker_ws *w)
{
	return w ? w->detail : "";
}

const char *broker_ws_status_name(int status)
{
	return broker_tls_status_name(status);
}

const char *broker_ws_status_message(int status)
{
	return broker_tls_status_message(status);
}

bool broker_ws_status_retry_may_help(int status)
{
	return broker_tls_status_retry_may_help(status);
}

int broker_ws_get_info(const broker_ws *w, broker_ws_info *ret)
{
	if (!w || !ret)
		return -EINVAL;
	*ret = w->info;
	return 0;
}

int broker_ws_get_fd(const broker_ws *w)
{
	if (!w || w->fd < 0)
		return -ENOTCONN;
	return w->tls ? ws_tls_fd(w->tls) : w->fd;
}

int broker_ws_get_events(const broker_ws *w)
{
	if (!w || w->fd < 0)
		return -ENOTCONN;
	if (w->tls && w->events == 0)
		return ws_tls_events(w->tls);
	bool unsent = w->olen || (w->ctx && wslay_event_want_write(w->ctx));
	return POLLIN | (unsent ? POLLOUT : 0);
}
