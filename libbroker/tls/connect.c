/* SPDX-License-Identifier: MIT */
/* Connecting: name resolution off the caller's thread, every address in
 * turn with a non-blocking connect(), then the handshake; one state machine
 * that the blocking calls drive with poll() and event loops drive by hand. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "tls.h"
#include "../util.h"

/* getaddrinfo() cannot be made non-blocking, so it runs on a thread that
 * signals an eventfd when done.  The handle and the thread each hold a
 * reference.  A finished thread is joined (so its fd is gone when the
 * handle moves on); one still resolving when the handle lets go is
 * detached and cleans up after itself, so nobody waits for DNS. */
struct bt_resolver {
	atomic_int refs;
	atomic_bool done;
	bool threaded;
	pthread_t tid;
	int efd;
	int gai_err, sys_err;
	struct addrinfo *result;
	char *host, *service;
};

static void resolver_unref(struct bt_resolver *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	if (r->result)
		freeaddrinfo(r->result);
	close(r->efd);
	free(r->host);
	free(r->service);
	free(r);
}

static void resolve(struct bt_resolver *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	r->gai_err = getaddrinfo(r->host, r->service, &hints, &r->result);
	r->sys_err = r->gai_err == EAI_SYSTEM ? errno : 0;
	atomic_store(&r->done, true);
	eventfd_write(r->efd, 1);
}

static void *resolver_thread(void *arg)
{
	resolve(arg);
	resolver_unref(arg);
	return NULL;
}

static int resolver_start(broker_tls *t, const char *host, const char *service)
{
	struct bt_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->host = strdup(host);
	r->service = strdup(service);
	atomic_init(&r->refs, 1);
	if (r->efd < 0 || !r->host || !r->service) {
		int err = r->efd < 0 ? -errno : -ENOMEM;
		resolver_unref(r);
		return err;
	}
	t->resolver = r;

	/* Numeric addresses need no thread. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *res;
	if (getaddrinfo(host, service, &hints, &res) == 0) {
		freeaddrinfo(res);
		resolve(r);
		return 0;
	}

	/* The thread takes no signals meant for the application. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_fetch_add(&r->refs, 1);
	int err = pthread_create(&r->tid, NULL, resolver_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	r->threaded = err == 0;
	if (err) {
		/* No thread to be had: resolve here rather than fail. */
		atomic_fetch_sub(&r->refs, 1);
		resolve(r);
	}
	return 0;
}

int bt_resolver_fd(const struct bt_resolver *r)
{
	return r->efd;
}

void bt_resolver_cancel(broker_tls *t)
{
	struct bt_resolver *r = TAKE_PTR(t->resolver);
	if (!r)
		return;
	if (r->threaded) {
		if (atomic_load(&r->done))
			pthread_join(r->tid, NULL);   /* it is on its way out */
		else
			pthread_detach(r->tid);
	}
	resolver_unref(r);
}

static void format_address(broker_tls *t, const struct addrinfo *ai)
{
	char host[INET6_ADDRSTRLEN] = "", port[8] = "";
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		t->peer_address[0] = 0;
		return;
	}
	snprintf(t->peer_address, sizeof(t->peer_address),
		 ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Start connect() on the next address that gets that far.  0: connected at
 * once; -EAGAIN: in flight; otherwise every address failed, and the last
 * error (last_err if there was no address left to try) is the status. */
static int try_next_address(broker_tls *t, int last_err)
{
	while (t->next_addr) {
		const struct addrinfo *ai = t->next_addr;
		t->next_addr = ai->ai_next;
		t->addresses_tried++;
		format_address(t, ai);
		t->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (t->fd < 0) {
			last_err = errno;
			continue;
		}
		if (connect(t->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			return 0;
		if (errno == EINPROGRESS) {
			t->phase = BT_CONNECTING;
			return -EAGAIN;
		}
		last_err = errno;
		bt_close_socket(t);
	}
	return bt_fail(t, bt_status_from_errno(last_err), "connect to %s: %s",
		       t->peer_address, strerror(last_err));
}

static int connected(broker_tls *t)
{
	if (t->level == BROKER_TLS_LEVEL_PLAIN)
		return bt_opened(t);
	int r = bt_session_start(t);
	return r < 0 ? r : bt_handshake_step(t);
}

static int step_resolving(broker_tls *t)
{
	struct bt_resolver *res = t->resolver;
	if (!atomic_load(&res->done))
		return -EAGAIN;
	if (res->gai_err) {
		const char *why = res->gai_err == EAI_SYSTEM ? strerror(res->sys_err) : gai_strerror(res->gai_err);
		return bt_fail(t, bt_status_from_gai(res->gai_err), "resolve %s: %s", res->host, why);
	}
	t->addrs = TAKE_PTR(res->result);
	t->next_addr = t->addrs;
	bt_resolver_cancel(t);
	int r = try_next_address(t, EHOSTUNREACH);
	return r == 0 ? connected(t) : r;
}

static int step_connecting(broker_tls *t)
{
	struct pollfd p = { .fd = t->fd, .events = POLLOUT };
	if (poll(&p, 1, 0) == 0)
		return -EAGAIN;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0)
		return connected(t);
	bt_close_socket(t);
	int r = try_next_address(t, err);
	return r == 0 ? connected(t) : r;
}

int bt_connect_step(broker_tls *t)
{
	if (t->deadline_usec && now_usec(CLOCK_MONOTONIC) >= t->deadline_usec)
		return bt_fail(t, BROKER_TLS_TIMED_OUT, "no connection within %d ms (%s)", t->connect_ms,
			       t->phase == BT_RESOLVING ? "resolving the name" :
			       t->phase == BT_CONNECTING ? "connecting" : "TLS handshake");
	switch (t->phase) {
	case BT_RESOLVING:
		return step_resolving(t);
	case BT_CONNECTING:
		return step_connecting(t);
	case BT_HANDSHAKE:
		return bt_handshake_step(t);
	case BT_KEEPER:
		return bt_keeper_step(t);
	case BT_OPEN:
		return 0;
	case BT_FAILED:
		return broker_tls_status_errno(t->status);
	default:
		return -ENOTCONN;
	}
}

int bt_wait(broker_tls *t, uint64_t deadline_usec)
{
	for (;;) {
		int timeout = -1;
		if (deadline_usec) {
			uint64_t now = now_usec(CLOCK_MONOTONIC);
			if (now >= deadline_usec)
				return -ETIMEDOUT;
			timeout = (int)((deadline_usec - now + 999) / 1000);
		}
		struct pollfd p = { .fd = broker_tls_get_fd(t), .events = (short)broker_tls_get_events(t) };
		if (p.fd < 0)
			return p.fd;
		int n = poll(&p, 1, timeout);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int broker_tls_connect(broker_tls *t, const char *host, const char *service)
{
	if (!t || !host || !*host || !service || !*service)
		return -EINVAL;
	if (t->phase != BT_IDLE)
		return -EBUSY;
	free(t->verify_name);
	t->verify_name = strdup(host);
	if (!t->verify_name)
		return -ENOMEM;
	if (t->holdable) {
		t->deadline_usec = 0;
		int r = bt_keeper_start(t, host, service, -1);
		return r == -EAGAIN ? broker_tls_step(t) : r;
	}
	int r = resolver_start(t, host, service);
	if (r < 0)
		return r;
	t->phase = BT_RESOLVING;
	t->deadline_usec = t->connect_ms >= 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)t->connect_ms * 1000 : 0;
	return broker_tls_step(t);
}

int broker_tls_upgrade(broker_tls *t, int fd, const char *verify_name)
{
	if (!t || fd < 0 || !verify_name || !*verify_name || t->level == BROKER_TLS_LEVEL_PLAIN)
		return -EINVAL;
	if (t->phase != BT_IDLE)
		return -EBUSY;
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -ENOTSOCK;
	struct sockaddr_storage ss;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	char *name = strdup(verify_name);
	if (!name)
		return -ENOMEM;
	free(t->verify_name);
	t->verify_name = name;
	if (t->holdable) {
		int r = bt_keeper_start(t, "", "", fd);   /* consumes fd */
		return r == -EAGAIN ? broker_tls_step(t) : r;
	}
	t->fd = fd;   /* ours from here on */
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot make the socket non-blocking: %m");
	struct addrinfo ai = { .ai_family = ss.ss_family, .ai_addr = (struct sockaddr *)&ss, .ai_addrlen = len };
	format_address(t, &ai);
	t->deadline_usec = t->connect_ms >= 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)t->connect_ms * 1000 : 0;
	int r = bt_session_start(t);
	if (r < 0)
		return r;
	return broker_tls_step(t);
}

int broker_tls_step(broker_tls *t)
{
	if (!t)
		return -EINVAL;
	for (;;) {
		int r = bt_connect_step(t);
		if (r != -EAGAIN || t->nonblocking)
			return r;
		r = bt_wait(t, t->deadline_usec);
		if (r < 0 && r != -ETIMEDOUT)
			return bt_fail(t, BROKER_TLS_UNKNOWN, "poll: %s", strerror(-r));
		/* On -ETIMEDOUT the next step reports it. */
	}
}
