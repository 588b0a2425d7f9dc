/* SPDX-License-Identifier: MIT */
/* The app side of a wake-up: the "socket-broker" fd, its connections from
 * brokerd and what they bring (the handbacks themselves: handback.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "activation.h"
#include "util.h"
#include "wire.h"

/* Parse a decimal environment value into [0, max]; -EBADMSG if malformed. */
static int env_uint(const char *name, unsigned long max, unsigned long *ret)
{
	const char *s = getenv(name);
	if (!s)
		return -ENOENT;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* The index of "socket-broker" in LISTEN_FDNAMES, or -ENOENT. */
static int find_name(const char *names, unsigned long n)
{
	const char *want = "socket-broker";
	size_t wl = strlen(want);
	unsigned long i = 0;
	for (const char *p = names; p && i < n; i++) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		if (len == wl && memcmp(p, want, wl) == 0)
			return (int)i;
		p = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

int broker_activation_open(broker_activation **ret)
{
	unsigned long pid, n;
	int r = env_uint("LISTEN_PID", INT_MAX, &pid);
	if (r < 0)
		return r;
	if ((pid_t)pid != getpid())
		return -ENOENT;   /* meant for another process */
	r = env_uint("LISTEN_FDS", INT_MAX - 3, &n);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : r;
	int idx = find_name(getenv("LISTEN_FDNAMES"), n);
	if (idx < 0)
		return idx;
	int fd = 3 + idx;
	/* sd_listen_fds() sets CLOEXEC on the passed fds; do the same for ours. */
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return -errno;
	return broker_activation_open_fd(fd, ret);
}

static int add_conn(broker_activation *a, int fd)
{
	for (int i = 0; i < CONNS_MAX; i++) {
		if (a->conns[i] >= 0)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		struct bp_act_hello h = { .version = BP_VERSION, .pid = (uint32_t)getpid() };
		int r = bp_send_msg(fd, a->buf, sizeof(a->buf), BP_ACT_HELLO, 0, &h, sizeof(h),
				    NULL, 0, NULL, 0, MSG_DONTWAIT);
		if (r < 0) {
			epoll_ctl(a->epfd, EPOLL_CTL_DEL, fd, NULL);
			return r;
		}
		a->conns[i] = fd;
		return 0;
	}
	return -EUSERS;
}

static void drop_conn(broker_activation *a, int slot)
{
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->conns[slot], NULL);
	close(a->conns[slot]);
	a->conns[slot] = -1;
	a->gen[slot]++;
}

int broker_activation_open_fd(int fd, broker_activation **ret)
{
	struct stat st;
	if (!ret)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;

	broker_activation *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (int i = 0; i < CONNS_MAX; i++)
		a->conns[i] = -1;
	a->listen_fd = -1;
	a->tail = &a->head;
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->queued_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event qev = { .events = EPOLLIN, .data.fd = a->queued_fd };
	int r = a->epfd < 0 || a->queued_fd < 0 || epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->queued_fd, &qev) < 0
		? -errno : 0;
	if (r == 0 && listening) {
		/* systemd passes the wake socket blocking; poll_once() must not
		 * wait in accept() when nothing is queued. */
		int flags = fcntl(fd, F_GETFL);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		r = flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
		if (r == 0 && epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			r = -errno;
		if (r == 0)
			a->listen_fd = fd;
	} else if (r == 0) {
		r = add_conn(a, fd);
	}
	if (r < 0) {
		if (a->epfd >= 0)
			close(a->epfd);
		if (a->queued_fd >= 0)
			close(a->queued_fd);
		free(a);
		return r;
	}
	*ret = a;
	return 0;
}

broker_activation *broker_activation_close(broker_activation *a)
{
	if (!a)
		return NULL;
	for (struct handback_priv *p; (p = a->head);) {
		a->head = p->next;
		broker_handback_free(&p->pub);   /* not accepted: brokerd keeps it */
	}
	for (int i = 0; i < CONNS_MAX; i++)
		if (a->conns[i] >= 0)
			close(a->conns[i]);
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	close(a->queued_fd);
	close(a->epfd);
	free(a);
	return NULL;
}

int broker_activation_take_fd(broker_activation *a)
{
	if (!a)
		return -EINVAL;
	int slot = -1;
	for (int i = 0; i < CONNS_MAX; i++)
		if (a->conns[i] >= 0) {
			if (slot >= 0)
				return -EBUSY;
			slot = i;
		}
	if (slot < 0 || a->listen_fd >= 0)
		return -EBADFD;
	int fd = a->conns[slot];
	a->conns[slot] = -1;
	broker_activation_close(a);
	return fd;
}

int broker_activation_get_fd(const broker_activation *a)
{
	return a ? a->epfd : -EINVAL;
}

/* Read one message from any ready connection without blocking.
 * Returns 1 with *ret (a handback), 2 for a batch end, 0 if nothing is
 * ready, -EPIPE if no connection is left and there is no listener. */
static int poll_once(broker_activation *a, broker_handback **ret)
{
	struct handback_priv *p = handback_queue_take(a);
	if (p) {
		*ret = &p->pub;
		return 1;
	}
	if (a->listen_fd >= 0) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0 && add_conn(a, fd) < 0)
			close(fd);
	}
	bool any = false;
	for (int i = 0; i < CONNS_MAX; i++) {
		if (a->conns[i] < 0)
			continue;
		struct bp_msg m;
		int r = bp_recv(a->conns[i], a->buf, sizeof(a->buf), MSG_DONTWAIT, &m, NULL, NULL);
		if (r == -EAGAIN) {
			any = true;
			continue;
		}
		if (r <= 0) {
			/* closed by brokerd, or it broke the protocol: drop this one */
			drop_conn(a, i);
			continue;
		}
		any = true;
		if (m.type == BP_BATCH_END)
			return 2;
		if (m.type == BP_HANDBACK_MANY) {
			r = handback_queue_many(a, &m, i);
			if (r == -EPROTO)
				drop_conn(a, i);   /* brokerd broke the protocol */
			if (r == -ENOMEM)
				return r;
			if ((p = handback_queue_take(a))) {
				*ret = &p->pub;
				return 1;
			}
			continue;
		}
		if (m.type != BP_HANDBACK) {
			bp_msg_close_fds(&m);
			continue;
		}
		p = handback_new(a, &m.field[0], &m.u.handback, &m.field[1], bp_msg_take_fd(&m), i);
		if (!p) {
			bp_msg_close_fds(&m);  /* not acknowledged: brokerd hands it back again */
			return -ENOMEM;
		}
		*ret = &p->pub;
		return 1;
	}
	return any || a->listen_fd >= 0 ? 0 : -EPIPE;
}

int broker_activation_receive(broker_activation *a, int timeout_ms, broker_handback **ret)
{
	if (!a || !ret)
		return -EINVAL;
	uint64_t deadline = timeout_ms >= 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000 : 0;
	for (;;) {
		broker_handback *h = NULL;
		int r = poll_once(a, &h);
		if (r == 1) {
			*ret = h;
			return 1;
		}
		if (r == 2)
			return 0;
		if (r < 0)
			return r;
		int wait = -1;
		if (timeout_ms >= 0) {
			uint64_t now = now_usec(CLOCK_MONOTONIC);
			if (now >= deadline)
				return 0;
			wait = (int)((deadline - now + 999) / 1000);
		}
		struct epoll_event ev;
		int n = epoll_wait(a->epfd, &ev, 1, wait);
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int broker_activation_receive_many(broker_activation *a, int timeout_ms, broker_handback **ret, size_t max)
{
	if (!a || !ret || max == 0)
		return -EINVAL;
	int r = broker_activation_receive(a, timeout_ms, &ret[0]);
	if (r != 1)
		return r;
	size_t n = 1;
	for (struct handback_priv *p; n < max && n < INT_MAX && (p = handback_queue_take(a));)
		ret[n++] = &p->pub;
	return (int)n;
}

int broker_activation_dispatch(broker_activation *a, broker_handback_cb cb, void *userdata)
{
	if (!a || !cb)
		return -EINVAL;
	int delivered = 0;
	for (;;) {
		broker_handback *h = NULL;
		int r = poll_once(a, &h);
		if (r == 2)
			continue;
		if (r == 0)
			return delivered;
		if (r < 0)
			return delivered ? delivered : r;
		cb(a, h, userdata);
		delivered++;
	}
}

enum broker_reason broker_activation_env_reason(void)
{
	int r = broker_reason_from_name(getenv("BROKER_REASON"));
	return r < 0 ? BROKER_REASON_NONE : (enum broker_reason)r;
}
