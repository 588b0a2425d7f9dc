/* SPDX-License-Identifier: MIT */
/* The app side of a wake-up: the "socket-broker" fd and its handbacks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "util.h"
#include "wire.h"

#define CONNS_MAX 8   /* brokerd keeps one at a time; a few for overlap */
#define ACKS_HELD 253 /* acknowledgements kept back to go together, a connection */

struct handback_priv {
	broker_handback pub;      /* first: the public part */
	struct handback_priv *next;   /* in the queue of those received, not yet delivered */
	int slot;                 /* the connection it came on, for the ack, */
	uint32_t gen;             /* as long as that connection is still open */
	bool many;                /* it came in a HANDBACK_MANY: its ack may wait for others */
};

/* A HANDBACK_MANY's sockets are delivered one at a time from a queue; the
 * acknowledgement of one accepted while others are still queued is kept
 * back and goes in one ACK_MANY with theirs: when the queue is empty, and
 * before the library waits, returns from dispatch, closes or gives the
 * connection away. */
struct broker_activation {
	int epfd;
	int listen_fd;            /* wake-socket activation: accept brokerd here; else -1 */
	int conns[CONNS_MAX];     /* connections from brokerd, -1 = free slot */
	uint32_t gen[CONNS_MAX];  /* bumped when a slot's connection goes */
	struct handback_priv *head, **tail;   /* received, not yet delivered */
	unsigned nacks[CONNS_MAX];
	uint64_t acks[CONNS_MAX][ACKS_HELD];  /* accepted, not yet acknowledged */
	uint8_t buf[BP_MSG_MAX];
};

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
	a->nacks[slot] = 0;   /* brokerd has those sockets again: it sends them again */
}

/* Send the acknowledgements kept back for slot: 0, or the send's error
 * (they are lost with the connection then; brokerd sends those sockets
 * again). */
static int flush_acks(broker_activation *a, int slot)
{
	unsigned n = a->nacks[slot];
	if (n == 0)
		return 0;
	a->nacks[slot] = 0;
	if (n == 1) {
		struct bp_handback_ack ack = { .serial = a->acks[slot][0] };
		return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_HANDBACK_ACK, 0, &ack, sizeof(ack),
				   NULL, 0, NULL, 0, 0);
	}
	struct bp_many many = { .count = n };
	struct bp_field f = { a->acks[slot], n * (uint32_t)sizeof(uint64_t) };
	return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_ACK_MANY, 0, &many, sizeof(many),
			   &f, 1, NULL, 0, 0);
}

static void flush_all(broker_activation *a)
{
	for (int i = 0; i < CONNS_MAX; i++)
		if (a->conns[i] >= 0)
			flush_acks(a, i);
}

static void queue_put(broker_activation *a, struct handback_priv *p)
{
	p->next = NULL;
	*a->tail = p;
	a->tail = &p->next;
}

/* The next queued handback whose connection is still open, or NULL;
 * those whose connection went are freed (brokerd has them again). */
static struct handback_priv *queue_take(broker_activation *a)
{
	struct handback_priv *p;
	while ((p = a->head)) {
		a->head = p->next;
		if (!a->head)
			a->tail = &a->head;
		if (a->conns[p->slot] >= 0 && a->gen[p->slot] == p->gen)
			return p;
		broker_handback_free(&p->pub);
	}
	return NULL;
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
	if (a->epfd < 0) {
		int r = -errno;
		free(a);
		return r;
	}
	int r;
	if (listening) {
		/* systemd passes the wake socket blocking; poll_once() must not
		 * wait in accept() when nothing is queued. */
		int flags = fcntl(fd, F_GETFL);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		r = flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
		if (r == 0 && epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			r = -errno;
		if (r == 0)
			a->listen_fd = fd;
	} else {
		r = add_conn(a, fd);
	}
	if (r < 0) {
		close(a->epfd);
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
	flush_all(a);
	for (struct handback_priv *p; (p = a->head);) {
		a->head = p->next;
		broker_handback_free(&p->pub);   /* not accepted: brokerd keeps it */
	}
	for (int i = 0; i < CONNS_MAX; i++)
		if (a->conns[i] >= 0)
			close(a->conns[i]);
	if (a->listen_fd >= 0)
		close(a->listen_fd);
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
	flush_all(a);
	int fd = a->conns[slot];
	a->conns[slot] = -1;
	broker_activation_close(a);
	return fd;
}

int broker_activation_get_fd(const broker_activation *a)
{
	return a ? a->epfd : -EINVAL;
}

/* A handback of app app, with the fixed part w, id and context f[0..1]
 * and fd (now the handback's), from slot; NULL if out of memory. */
static struct handback_priv *handback_new(broker_activation *a, const struct bp_field *app,
					  const struct bp_handback *w, const struct bp_field f[2], int fd, int slot)
{
	const struct bp_field *s[3] = { app, &f[0], &f[1] };
	size_t total = sizeof(struct handback_priv);
	for (unsigned i = 0; i < 3; i++)
		total += s[i]->len + 1;
	struct handback_priv *p = calloc(1, total);
	if (!p)
		return NULL;
	char *q = (char *)(p + 1);
	const char *str[3];
	for (unsigned i = 0; i < 3; i++) {
		if (s[i]->len)
			memcpy(q, s[i]->ptr, s[i]->len);
		q[s[i]->len] = 0;
		str[i] = q;
		q += s[i]->len + 1;
	}
	p->pub = (broker_handback){
		.app_id = str[0], .id = str[1], .context = str[2], .context_len = f[1].len,
		.kind = w->kind, .reason = w->reason, .keepalive_sec = w->keepalive_sec,
		.held_since_usec = w->held_since_usec, .serial = w->serial, .fd = fd,
	};
	p->slot = slot;
	p->gen = a->gen[slot];
	return p;
}

static const uint8_t item_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };

/* Queue the sockets of a HANDBACK_MANY from slot: 0, -EPROTO (malformed:
 * nothing queued) or -ENOMEM (what was not queued is closed, not
 * acknowledged: brokerd sends it again).  m's fds are taken either way. */
static int queue_many(broker_activation *a, struct bp_msg *m, int slot)
{
	struct bp_handback w;
	struct bp_field f[2];
	size_t off = 0;
	unsigned n = 0;
	int r;
	while ((r = bp_item_get(&m->field[1], &off, &w, sizeof(w), f, item_kind, 2)) == 0)
		n++;
	if (r < 0 || n != m->u.many.count || n != m->nfds) {
		bp_msg_close_fds(m);
		return -EPROTO;
	}
	off = 0;
	for (unsigned i = 0; i < n; i++) {
		bp_item_get(&m->field[1], &off, &w, sizeof(w), f, item_kind, 2);
		struct handback_priv *p = handback_new(a, &m->field[0], &w, f, m->fds[i], slot);
		if (!p) {
			bp_msg_close_fds(m);
			return -ENOMEM;
		}
		m->fds[i] = -1;
		p->many = true;
		queue_put(a, p);
	}
	return 0;
}

/* Read one message from any ready connection without blocking.
 * Returns 1 with *ret (a handback), 2 for a batch end, 0 if nothing is
 * ready, -EPIPE if no connection is left and there is no listener. */
static int poll_once(broker_activation *a, broker_handback **ret)
{
	struct handback_priv *p = queue_take(a);
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
			r = queue_many(a, &m, i);
			if (r == -EPROTO)
				drop_conn(a, i);   /* brokerd broke the protocol */
			if (r == -ENOMEM)
				return r;
			if ((p = queue_take(a))) {
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
		flush_all(a);   /* brokerd must not wait for them while we do */
		struct epoll_event ev;
		int n = epoll_wait(a->epfd, &ev, 1, wait);
		if (n < 0 && errno != EINTR)
			return -errno;
	}
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
		if (r <= 0)
			flush_all(a);
		if (r == 0)
			return delivered;
		if (r < 0)
			return delivered ? delivered : r;
		cb(a, h, userdata);
		delivered++;
	}
}

int broker_handback_accept(broker_activation *a, broker_handback *h)
{
	if (!a || !h || h->fd < 0)
		return -EINVAL;
	struct handback_priv *p = (struct handback_priv *)h;
	int slot = p->slot;
	if (a->conns[slot] < 0 || a->gen[slot] != p->gen)
		return -EPIPE;
	if (a->nacks[slot] == ACKS_HELD) {
		int r = flush_acks(a, slot);
		if (r < 0)
			return r;
	}
	a->acks[slot][a->nacks[slot]++] = h->serial;
	/* Kept back while more of its kind wait in the queue; else now. */
	if (!p->many || !a->head) {
		int r = flush_acks(a, slot);
		if (r < 0)
			return r;
	}
	int fd = h->fd;
	h->fd = -1;
	return fd;
}

broker_handback *broker_handback_free(broker_handback *h)
{
	if (!h)
		return NULL;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return NULL;
}

enum broker_reason broker_activation_env_reason(void)
{
	int r = broker_reason_from_name(getenv("BROKER_REASON"));
	return r < 0 ? BROKER_REASON_NONE : (enum broker_reason)r;
}
