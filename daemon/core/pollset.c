/* SPDX-License-Identifier: MIT */
/* The poll set of held sockets (see pollset.h for why not libev's). */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pollset.h"

/* Events taken from the set per wakeup. */
#define EVENTS_MAX 128

static void on_held_events(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct epoll_event ev[EVENTS_MAX];
	int n = epoll_wait(w->fd, ev, EVENTS_MAX, 0);
	/* Disarmed first: handling one event never frees another's socket,
	 * but it may arm a spurious one again. */
	for (int i = 0; i < n; i++)
		((struct held *)ev[i].data.ptr)->poll = POLL_FIRED;
	if (d->held_ready)
		for (int i = 0; i < n; i++)
			d->held_ready(d, ev[i].data.ptr);
}

int pollset_init(struct daemon *d, pollset_ready_fn *ready)
{
	if (ready)
		d->held_ready = ready;
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

void pollset_done(struct daemon *d)
{
	if (!ev_is_active(&d->held_io))
		return;
	ev_io_stop(d->loop, &d->held_io);
	close(d->held_ep);
}

int pollset_arm(struct daemon *d, struct held *h)
{
	if (h->poll == POLL_ARMED)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = h };
	int r = pollset_init(d, NULL);
	if (r < 0)
		return r;
	r = epoll_ctl(d->held_ep, h->poll == POLL_FIRED ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, h->fd, &ev);
	/* This very socket, under this fd number, was held before and is
	 * still in the set, disarmed. */
	if (r < 0 && errno == EEXIST)
		r = epoll_ctl(d->held_ep, EPOLL_CTL_MOD, h->fd, &ev);
	if (r < 0)
		return -errno;
	h->poll = POLL_ARMED;
	return 0;
}

void pollset_forget(struct daemon *d, struct held *h)
{
	if (h->poll == POLL_ARMED && !d->stopping)
		epoll_ctl(d->held_ep, EPOLL_CTL_DEL, h->fd, NULL);
	h->poll = POLL_NONE;
}
