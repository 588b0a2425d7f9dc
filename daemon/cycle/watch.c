/* SPDX-License-Identifier: MIT */
/* Watching held sockets: one io watcher and an optional keep-alive timer
 * each, one-shot; telling why a socket woke without reading its data. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "brokerd.h"
#include "caps.h"
#include "log.h"
#include "store.h"
#include "util.h"

static bool family_ok(int family)
{
	return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

int socket_describe(int fd, int *ret_kind, int *ret_family, int *ret_sotype)
{
	int type = 0, family = 0, listening = 0;
	socklen_t len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	/* A connected stream, what transfers mostly bring, in one more call:
	 * the peer's address tells the family too. */
	bool stream = type == SOCK_STREAM || type == SOCK_SEQPACKET;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int peer = stream ? getpeername(fd, (struct sockaddr *)&ss, &sl) : -1;
	int peer_errno = peer < 0 ? errno : 0;
	if (peer == 0 && sl >= sizeof(ss.ss_family)) {
		family = ss.ss_family;
	} else {
		len = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
			return -errno;
	}
	if (!family_ok(family))
		return -EAFNOSUPPORT;
	if (!stream && type != SOCK_DGRAM)
		return -EPROTOTYPE;

	int kind;
	if (type == SOCK_DGRAM) {
		kind = BROKER_KIND_DATAGRAM;
	} else if (peer == 0) {
		kind = BROKER_KIND_STREAM;
	} else {
		len = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
			return -errno;
		if (!listening)
			return peer_errno == ENOTCONN ? -ENOTCONN : -peer_errno;
		kind = BROKER_KIND_LISTENER;
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
/* Events taken from the held set per wakeup. */
#define EVENTS_MAX 128

/*
 * Held sockets live in an epoll set of brokerd's own, one-shot: an event
 * disarms its socket, as a trigger must.  libev's io watchers would not
 * do: libev never removes an fd from its epoll set, and a socket that
 * brokerd closed while the app still has it stays there, so the app's
 * traffic on it woke brokerd, which then rebuilt its whole epoll set (one
 * epoll_ctl per held socket).  Here a socket that is still armed leaves the
 * set before brokerd lets go of it; a disarmed one never reports again.
 */
static void held_arm(struct daemon *d, struct held *h)
{
	if (h->poll == POLL_ARMED)
		return;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = h };
	int r = held_watch_init(d);
	if (r == 0) {
		r = epoll_ctl(d->held_ep, h->poll == POLL_FIRED ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, h->fd, &ev);
		/* This very socket, under this fd number, was held before
		 * and is still in the set, disarmed. */
		if (r < 0 && errno == EEXIST)
			r = epoll_ctl(d->held_ep, EPOLL_CTL_MOD, h->fd, &ev);
		r = r < 0 ? -errno : 0;
	}
	if (r < 0)
		log_full(LOG_ERR, h->app->id, held_id(h), 0, "cannot watch the socket: %s", strerror(-r));
	else
		h->poll = POLL_ARMED;
}

static void held_ready(struct daemon *d, struct held *h)
{
	if (h->state != BROKER_STATE_WATCHING)
		return;   /* triggered, lent or handed back meanwhile: now disarmed */
	int reason = socket_classify(h->fd, h->kind);
	if (reason == BROKER_REASON_NONE) {
		if (++h->spurious < SPURIOUS_MAX) {
			held_arm(d, h);   /* again */
			return;
		}
		reason = BROKER_REASON_SOCKET_CLOSED;
	}
	held_trigger(d, h, reason);
}

static void on_held_events(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct epoll_event ev[EVENTS_MAX];
	int n = epoll_wait(w->fd, ev, EVENTS_MAX, 0);
	/* Disarmed first: handling one event never frees another's socket,
	 * but it may watch a spurious one again. */
	for (int i = 0; i < n; i++)
		((struct held *)ev[i].data.ptr)->poll = POLL_FIRED;
	for (int i = 0; i < n; i++)
		held_ready(d, ev[i].data.ptr);
}

int held_watch_init(struct daemon *d)
{
	if (ev_is_active(&d->held_io))
		return 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	d->held_ep = ep;
	ev_io_init(&d->held_io, on_held_events, ep, EV_READ);
	ev_io_start(d->loop, &d->held_io);
	return 0;
}

void held_watch_done(struct daemon *d)
{
	if (!ev_is_active(&d->held_io))
		return;
	ev_io_stop(d->loop, &d->held_io);
	close(d->held_ep);
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct held *h = container_of((void *)w, struct held, data);
	held_trigger(ev_userdata(loop), h, BROKER_REASON_KEEPALIVE_EXPIRED);
}

/* Keep-alives that fall due close together fire together: a timer goes
 * off at its deadline rounded up to a grid of 1/16 of its interval, at
 * most 1 s, so that 15k sockets handed over within a few seconds cost a
 * handful of wakeups rather than thousands, at the price of firing up to
 * one grid step late. */
static void keepalive_start(struct daemon *d, struct held *h, ev_timer *t)
{
	uint64_t interval = (uint64_t)h->keepalive_sec * 1000000u;
	uint64_t grid = interval / 16 < 1000000u ? interval / 16 : 1000000u;
	ev_now_update(d->loop);   /* libev's clock and ours read together */
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!h->deadline)
		h->deadline = now + interval;
	uint64_t at = (h->deadline + grid - 1) / grid * grid;
	ev_timer_init(t, on_keepalive, at > now ? (double)(at - now) / 1e6 : 0., 0.);
	ev_timer_start(d->loop, t);
}

void held_watch(struct daemon *d, struct held *h)
{
	h->state = BROKER_STATE_WATCHING;
	h->spurious = 0;
	held_arm(d, h);
	ev_timer *t = held_timer(h);
	if (t && h->kind != BROKER_KIND_LISTENER)
		keepalive_start(d, h, t);
}

/* Stop watching h.  An armed socket stays armed: an event that comes
 * meanwhile finds it no longer WATCHING and only disarms it, which costs
 * less than a syscall per trigger. */
void held_unwatch(struct daemon *d, struct held *h)
{
	ev_timer *t = held_timer(h);
	if (t)
		ev_timer_stop(d->loop, t);
}

/* Out of the set, before brokerd closes its copy of a socket that may
 * live on elsewhere (when brokerd stops, the set goes with it). */
void held_forget(struct daemon *d, struct held *h)
{
	held_unwatch(d, h);
	if (h->poll == POLL_ARMED && !d->stopping)
		epoll_ctl(d->held_ep, EPOLL_CTL_DEL, h->fd, NULL);
	h->poll = POLL_NONE;
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
	sockaddr_format(&ss, len, buf, size);
	return 0;
}
