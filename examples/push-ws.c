/* SPDX-License-Identifier: MIT */
/*
 * push-client --ws URL: the same app on a WebSocket.
 *
 * It loads libbroker-ws with dlopen() only for --ws, as push-tls.c does
 * libbroker-tls, so a plain push-client stays a libbroker-only program.
 * libbroker-ws itself never links GnuTLS: for wss:// it loads
 * libbroker-tls and asks for a holdable connection, whose TLS session the
 * keeper keeps; the instance brokerd wakes adopts the held stream with
 * broker_ws_adopt() and reads and writes frames without GnuTLS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <socket-broker/broker-ws.h>
#include "push-tls.h"   /* push_load() */
#include "push-ws.h"

static struct {
	__typeof__(broker_ws_new) *new_;
	__typeof__(broker_ws_free) *free_;
	__typeof__(broker_ws_set_protocols) *set_protocols;
	__typeof__(broker_ws_set_ca_file) *set_ca_file;
	__typeof__(broker_ws_set_holdable) *set_holdable;
	__typeof__(broker_ws_set_timeouts) *set_timeouts;
	__typeof__(broker_ws_connect) *connect_;
	__typeof__(broker_ws_adopt) *adopt;
	__typeof__(broker_ws_get_info) *get_info;
	__typeof__(broker_ws_get_status) *get_status;
	__typeof__(broker_ws_get_detail) *get_detail;
	__typeof__(broker_ws_status_name) *status_name;
	__typeof__(broker_ws_status_retry_may_help) *retry_may_help;
	__typeof__(broker_ws_recv) *recv_;
	__typeof__(broker_ws_send) *send_;
	__typeof__(broker_ws_ping) *ping;
	__typeof__(broker_ws_set_nonblocking) *set_nonblocking;
	__typeof__(broker_ws_take_fd) *take_fd;
} ws;

static int load(void)
{
	const struct push_sym syms[] = {
#define SYM(field, name) { (void **)&ws.field, #name }
		SYM(new_, broker_ws_new), SYM(free_, broker_ws_free),
		SYM(set_protocols, broker_ws_set_protocols), SYM(set_ca_file, broker_ws_set_ca_file),
		SYM(set_holdable, broker_ws_set_holdable), SYM(set_timeouts, broker_ws_set_timeouts),
		SYM(connect_, broker_ws_connect), SYM(adopt, broker_ws_adopt),
		SYM(get_info, broker_ws_get_info), SYM(get_status, broker_ws_get_status),
		SYM(get_detail, broker_ws_get_detail), SYM(status_name, broker_ws_status_name),
		SYM(retry_may_help, broker_ws_status_retry_may_help), SYM(recv_, broker_ws_recv),
		SYM(send_, broker_ws_send), SYM(ping, broker_ws_ping),
		SYM(set_nonblocking, broker_ws_set_nonblocking), SYM(take_fd, broker_ws_take_fd),
#undef SYM
	};
	return push_load("libbroker-ws.so.1", "--ws", syms, sizeof(syms) / sizeof(syms[0]));
}

static int report(broker_ws *w, const char *what)
{
	int s = ws.get_status(w);
	fprintf(stderr, "push-client: %s: %s (%s)%s\n", what, ws.status_name(s), ws.get_detail(w),
		ws.retry_may_help(s) ? "; a later retry may succeed" : "");
	return 1;
}

int push_ws_run(const struct push_ws_opts *o, int *ret_fd, char *context, size_t size)
{
	*ret_fd = -1;
	if (load() < 0)
		return 1;
	broker_ws *w = NULL;
	if (ws.new_(BROKER_WS_MESSAGE, &w) < 0)
		return 1;
	int r = ws.set_timeouts(w, 10000, 10000);
	if (r == 0 && o->protocol && (r = ws.set_protocols(w, &o->protocol, 1)) < 0)
		fprintf(stderr, "push-client: --protocol %s: %s\n", o->protocol, strerror(-r));
	if (r == 0 && o->ca && (r = ws.set_ca_file(w, o->ca)) < 0)
		fprintf(stderr, "push-client: --ca %s: %s\n", o->ca, strerror(-r));
	if (r == 0)
		r = ws.set_holdable(w, true);
	if (r < 0) {
		ws.free_(w);
		return 2;
	}
	if (ws.connect_(w, o->url) < 0) {
		broker_ws_info i;
		ws.get_info(w, &i);
		r = report(w, o->url);
		if (*i.server_protocol)
			fprintf(stderr, "push-client: the server expects --protocol %s\n", i.server_protocol);
		ws.free_(w);
		return r;
	}
	broker_ws_info i;
	ws.get_info(w, &i);
	printf("push-client: connected to %s%s%s%s\n", o->url, *i.protocol ? " with protocol " : "", i.protocol,
	       i.relayed ? "; the TLS keeper holds the session" : "");
	static const char hello[] = "hello from push-client";
	if (ws.send_(w, BROKER_WS_TEXT, hello, sizeof(hello) - 1) < 0) {
		r = report(w, "send");
		ws.free_(w);
		return r;
	}
	snprintf(context, size, "ws=%s protocol=%s", o->url, *i.protocol ? i.protocol : "-");
	*ret_fd = ws.take_fd(w);
	if (*ret_fd < 0)
		fprintf(stderr, "push-client: cannot hand the stream out: %s (%s)\n", strerror(-*ret_fd),
			ws.get_detail(w));
	ws.free_(w);
	return *ret_fd >= 0 ? 0 : 1;
}

/* Answer every whole message that is there; wait (up to 10 s) only for the
 * rest of a frame that has begun to arrive. */
static int answer(broker_ws *w)
{
	char buf[4096];
	int type;
	for (;;) {
		ssize_t n = ws.recv_(w, buf, sizeof(buf), &type);
		if (n == -EAGAIN) {
			int fd = ws.take_fd(w);
			if (fd != -EBUSY)
				return fd;
			ws.set_nonblocking(w, false);   /* a frame is partly here: wait for the rest */
			continue;
		}
		if (n == 0 && type == 0) {
			printf("push-client: the server closed the WebSocket\n");
			return -1;
		}
		if (n < 0) {
			report(w, "receive");
			return -1;
		}
		if (type == BROKER_WS_PONG)
			continue;
		printf("push-client: received message: %.*s\n", (int)n, buf);
		char reply[64];
		int len = snprintf(reply, sizeof(reply), "ack %zd", n);
		if (ws.send_(w, BROKER_WS_TEXT, reply, (size_t)len) < 0) {
			report(w, "send");
			return -1;
		}
		ws.set_nonblocking(w, true);
	}
}

int push_ws_serve(enum broker_reason reason, int fd, const char *context)
{
	if (load() < 0) {
		close(fd);
		return -1;
	}
	broker_ws *w = NULL;
	if (ws.new_(BROKER_WS_MESSAGE, &w) < 0 || ws.adopt(w, fd) < 0) {
		ws.free_(w);
		close(fd);
		return -1;
	}
	ws.set_timeouts(w, -1, 10000);
	ws.set_nonblocking(w, true);
	int r = fd;
	if (reason == BROKER_REASON_KEEPALIVE_EXPIRED)
		r = ws.ping(w, "keep-alive", 10) < 0 ? -1 : ws.take_fd(w);
	else if (reason == BROKER_REASON_SOCKET_ACTIVITY || reason == BROKER_REASON_SOCKET_CLOSED)
		r = answer(w);
	else
		r = ws.take_fd(w);
	if (r < 0)
		printf("push-client: start push-client --ws again to reconnect (%s)\n", context);
	ws.free_(w);   /* closes the stream unless it was taken */
	return r;
}
