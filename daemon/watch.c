/* SPDX-License-Identifier: MIT */
/* Watching held sockets: one io watcher and an optional keep-alive timer
 * each, one-shot; telling why a socket woke without reading its data. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "brokerd.h"
#include "log.h"
#include "store.h"
#include "util.h"

int socket_describe(int fd, int *ret_kind, int *ret_family, int *ret_sotype)
{
	int family = 0, type = 0, listening = 0;
	socklen_t len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return -EAFNOSUPPORT;
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET && type != SOCK_DGRAM)
		return -EPROTOTYPE;

	int kind;
	if (type == SOCK_DGRAM) {
		kind = BROKER_KIND_DATAGRAM;
	} else if (listening) {
		kind = BROKER_KIND_LISTENER;
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
			return errno == ENOTCONN ? -ENOTCONN : -errno;
		kind = BROKER_KIND_STREAM;
	}
	*ret_kind = kind;
	*ret_family = family;
	*ret_sotype = type;
	return 0;
}

int socket_classify(int fd, int kind)
{
	if (kind == BROKER_KIND_LISTENER)
		return BROKER_REASON_CONNECTION_ACCEPTED;

	/* Peek one byte: never consume application data. */
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return BROKER_REASON_SOCKET_ACTIVITY;
	if (n == 0) {
		/* A datagram may be empty, and so may a SOCK_SEQPACKET record:
		 * only a hang-up says that a stream's peer is gone. */
		if (kind == BROKER_KIND_DATAGRAM)
			return BROKER_REASON_SOCKET_ACTIVITY;
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
		if (poll(&p, 1, 0) == 1 && !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return BROKER_REASON_SOCKET_ACTIVITY;
		return BROKER_REASON_SOCKET_CLOSED;
	}
	if (errno == EAGAIN || errno == EINTR)
		return BROKER_REASON_NONE;
	/* ECONNRESET, ETIMEDOUT, ECONNREFUSED (ICMP on UDP), ...: the socket errored. */
	return BROKER_REASON_SOCKET_CLOSED;
}

/* Readiness that peeking cannot explain this many times in a row is taken
 * as a broken socket rather than spun on. */
#define SPURIOUS_MAX 3

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct held *h = container_of(w, struct held, io);
	struct daemon *d = ev_userdata(loop);
	int reason = socket_classify(w->fd, h->kind);
	if (reason == BROKER_REASON_NONE) {
		if (++h->spurious < SPURIOUS_MAX)
			return;
		reason = BROKER_REASON_SOCKET_CLOSED;
	}
	held_trigger(d, h, reason);
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct held *h = container_of(w, struct held, keepalive);
	held_trigger(ev_userdata(loop), h, BROKER_REASON_KEEPALIVE_EXPIRED);
}

void held_watch(struct daemon *d, struct held *h)
{
	h->state = BROKER_STATE_WATCHING;
	h->spurious = 0;
	ev_set_cb(&h->io, on_io);
	ev_io_start(d->loop, &h->io);
	if (h->keepalive_sec && h->kind != BROKER_KIND_LISTENER) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (!h->deadline)
			h->deadline = now + (uint64_t)h->keepalive_sec * 1000000u;
		double after = h->deadline > now ? (double)(h->deadline - now) / 1e6 : 0.;
		ev_timer_init(&h->keepalive, on_keepalive, after, 0.);
		ev_timer_start(d->loop, &h->keepalive);
	}
}

void held_unwatch(struct daemon *d, struct held *h)
{
	ev_io_stop(d->loop, &h->io);
	ev_timer_stop(d->loop, &h->keepalive);
}

void held_trigger(struct daemon *d, struct held *h, int reason)
{
	struct app *a = h->app;
	if (h->state != BROKER_STATE_WATCHING)
		return;
	held_unwatch(d, h);
	h->state = BROKER_STATE_TRIGGERED;
	h->reason = (uint8_t)reason;
	h->deadline = 0;
	h->last_trigger = now_usec(CLOCK_REALTIME);
	store_update(d, h);
	TAILQ_INSERT_TAIL(&a->pending, h, queue);
	a->npending++;
	d->triggers_total++;
	log_full(LOG_INFO, a->id, held_id(h), reason, "triggered");
	monitor_emit(d, BROKER_EVENT_TRIGGER, a, h, reason, 0, 0, NULL);
	app_kick(d, a);
}

int sockaddr_text(int fd, bool peer, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	buf[0] = 0;
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	char ip[INET6_ADDRSTRLEN];
	switch (ss.ss_family) {
	case AF_INET: {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (plen == 0)
			break;   /* unnamed */
		if (un->sun_path[0] == 0)
			snprintf(buf, size, "@%.*s", (int)plen - 1, un->sun_path + 1);
		else
			snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
		break;
	}
	}
	return 0;
}
