/* SPDX-License-Identifier: MIT */
/* wss://: TLS through libbroker-tls, loaded with dlopen() at the first
 * wss:// connect, so that ws:// apps and woken apps that adopt a held
 * stream never load GnuTLS.  Holdable connections end up as the keeper's
 * local stream, read and written as a plain socket; the others keep the
 * broker_tls handle for their I/O. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

static struct {
	__typeof__(broker_tls_new) *new_;
	__typeof__(broker_tls_free) *free_;
	__typeof__(broker_tls_set_ca_file) *set_ca_file;
	__typeof__(broker_tls_set_holdable) *set_holdable;
	__typeof__(broker_tls_set_timeouts) *set_timeouts;
	__typeof__(broker_tls_set_nonblocking) *set_nonblocking;
	__typeof__(broker_tls_connect) *connect_;
	__typeof__(broker_tls_upgrade) *upgrade;
	__typeof__(broker_tls_get_info) *get_info;
	__typeof__(broker_tls_get_status) *get_status;
	__typeof__(broker_tls_get_detail) *get_detail;
	__typeof__(broker_tls_get_fd) *get_fd;
	__typeof__(broker_tls_get_events) *get_events;
	__typeof__(broker_tls_read) *read_;
	__typeof__(broker_tls_write) *write_;
	__typeof__(broker_tls_take_fd) *take_fd;
} tls;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_loaded;
static char tls_error[256];

static void load(void)
{
	void *h = dlopen("libbroker-tls.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(tls_error, sizeof(tls_error), "%s", dlerror());
		return;
	}
	struct { void **slot; const char *name; } syms[] = {
#define SYM(field, name) { (void **)&tls.field, #name }
		SYM(new_, broker_tls_new), SYM(free_, broker_tls_free),
		SYM(set_ca_file, broker_tls_set_ca_file), SYM(set_holdable, broker_tls_set_holdable),
		SYM(set_timeouts, broker_tls_set_timeouts), SYM(set_nonblocking, broker_tls_set_nonblocking),
		SYM(connect_, broker_tls_connect), SYM(upgrade, broker_tls_upgrade),
		SYM(get_info, broker_tls_get_info), SYM(get_status, broker_tls_get_status),
		SYM(get_detail, broker_tls_get_detail), SYM(get_fd, broker_tls_get_fd),
		SYM(get_events, broker_tls_get_events), SYM(read_, broker_tls_read),
		SYM(write_, broker_tls_write), SYM(take_fd, broker_tls_take_fd),
#undef SYM
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
			snprintf(tls_error, sizeof(tls_error), "libbroker-tls lacks %s", syms[i].name);
			return;
		}
	tls_loaded = true;   /* h stays open for the life of the process */
}

struct ws_tls {
	broker_tls *t;
};

/* After a failed connect or upgrade: the handle took the proxied fd (and
 * closed it) unless it refused its arguments. */
static int tls_failed(broker_ws *w, broker_tls *t, int r, bool proxied)
{
	enum broker_tls_status s = tls.get_status(t);
	snprintf(w->detail, sizeof(w->detail), "%s", tls.get_detail(t));
	tls.free_(t);
	w->status = s == BROKER_TLS_OK ? BROKER_TLS_UNKNOWN : s;
	bool kept = proxied && (r == -EINVAL || r == -EBUSY || r == -ENOMEM || r == -ENOTSOCK ||
				r == -ENOTCONN);
	if (!kept)
		w->fd = -1;
	ws_close_transport(w);
	return r;
}

int ws_tls_start(broker_ws *w, const char *host, const char *port, int proxied_fd)
{
	pthread_once(&tls_once, load);
	if (!tls_loaded) {
		if (proxied_fd >= 0)
			w->fd = proxied_fd;
		return ws_fail(w, BROKER_TLS_UNKNOWN, -ELIBACC, "wss:// needs libbroker-tls: %s", tls_error);
	}
	broker_tls *t;
	int r = tls.new_(BROKER_TLS_LEVEL_TLS, &t);
	if (r < 0)
		return ws_fail(w, BROKER_TLS_UNKNOWN, r, "broker_tls_new: %s", strerror(-r));
	int left = ws_ms_left(w, w->deadline_usec);
	if ((r = tls.set_timeouts(t, left, w->io_ms)) < 0 ||
	    (w->ca_file && (r = tls.set_ca_file(t, w->ca_file)) < 0) ||
	    (w->holdable && (r = tls.set_holdable(t, true)) < 0)) {
		if (proxied_fd >= 0)
			w->fd = proxied_fd;
		snprintf(w->detail, sizeof(w->detail), "%s: %s", w->ca_file ? w->ca_file : "TLS", strerror(-r));
		tls.free_(t);
		return ws_fail(w, BROKER_TLS_UNKNOWN, r, "%s", w->detail);
	}
	r = proxied_fd >= 0 ? tls.upgrade(t, proxied_fd, host) : tls.connect_(t, host, port);
	if (r < 0)
		return tls_failed(w, t, r, proxied_fd >= 0);
	broker_tls_info i;
	tls.get_info(t, &i);
	w->info.encrypted = true;
	w->info.peer_verified = i.peer_verified;
	w->info.tls_version = i.version;
	if (w->holdable) {
		/* The keeper's stream: no TLS left in this process. */
		w->info.relayed = true;
		w->fd = tls.take_fd(t);
		tls.free_(t);
		return w->fd < 0 ? ws_fail(w, BROKER_TLS_UNKNOWN, w->fd, "the keeper's stream: %s",
					   strerror(-w->fd)) : 0;
	}
	if (!(w->tls = malloc(sizeof(*w->tls))))
		return tls_failed(w, t, -ENOMEM, false);
	w->tls->t = t;
	tls.set_nonblocking(t, true);
	w->fd = tls.get_fd(t);
	return 0;
}

ssize_t ws_tls_read(struct ws_tls *t, void *buf, size_t len)
{
	ssize_t n = tls.read_(t->t, buf, len);
	/* A cut without close_notify ends the stream as a FIN does. */
	return n == -ECONNRESET ? 0 : n;
}

ssize_t ws_tls_write(struct ws_tls *t, const void *buf, size_t len)
{
	return tls.write_(t->t, buf, len);
}

int ws_tls_fd(const struct ws_tls *t)
{
	return tls.get_fd(t->t);
}

short ws_tls_events(const struct ws_tls *t)
{
	int e = tls.get_events(t->t);
	return e > 0 ? (short)e : POLLIN;
}

void ws_tls_free(struct ws_tls *t)
{
	if (!t)
		return;
	tls.free_(t->t);
	free(t);
}
